"""A request the store refuses fails alone: the requests batched with it are committed and
acknowledged once (real HTTP, real store, a group commit that fails)."""

from __future__ import annotations

import http.client
import threading

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PROTO = {"Content-Type": "application/x-protobuf"}


def _request(seed: int, start_s: int) -> bytes:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for i in range(20):
        span = scope.spans.add(name="erp.accept", start_time_unix_nano=start_s * 10**9 + i)
        span.trace_id, span.span_id = bytes([seed] * 15 + [i + 1]), bytes([seed] * 7 + [i + 1])
        span.end_time_unix_nano = span.start_time_unix_nano + 1_000
        span.attributes.add(key="order.id").value.string_value = f"O-{seed}"
    return request.SerializeToString()


def _post(port: int, body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/v1/traces", body=body, headers=PROTO)
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_poison_request_beside_good_ones_fails_alone(start_collector):
    # The intake window is opened wide so that a span dated 2150 (past the ledger's Date range)
    # reaches the store: the split is what protects the group when a check misses something.
    collector = start_collector(
        writers=1, flush_interval_ms=1500, min_batch_spans=100_000, write_timeout_s=1.0, max_span_future_s=4e9
    )
    bodies = {seed: _request(seed, 1_790_000_000) for seed in (1, 2, 3, 4, 5, 6)}
    bodies[9] = _request(9, 5_700_000_000)  # 2150-08
    answers: dict[int, int] = {}
    threads = [threading.Thread(target=lambda s=s: answers.update({s: _post(collector.ports.http, bodies[s])}))
               for s in bodies]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == {1: 200, 2: 200, 3: 200, 4: 200, 5: 200, 6: 200, 9: 503}
    assert collector.batcher.metrics.batch_failures._value.get() == 1
    for seed in (1, 2):  # a client's retry of an acknowledged request is not stored again
        assert _post(collector.ports.http, bodies[seed]) == 200
    store = collector.store
    [[spans, unique, hops, keys]] = store.client.query(
        f"SELECT (SELECT count() FROM {store.table('otel_traces')}), "
        f"(SELECT uniqExact(TraceId, SpanId) FROM {store.table('otel_traces')}), "
        f"(SELECT count() FROM {store.table('biz_hops')}), (SELECT count() FROM {store.table('biz_keys')})"
    ).result_rows
    assert (spans, unique, hops, keys) == (120, 120, 120, 120)
