"""A collector killed between the commits of the derived tables leaves rows missing; the next
start re-derives every derived table of the affected window, once, without a manual rebuild."""

from __future__ import annotations

import http.client
import json
import subprocess

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from biztrace.store.connection import PID_FILE
from support import query_store

PROTO = {"Content-Type": "application/x-protobuf"}
SPANS = 60  # 6 orders of 10 hops, one customer, one trace per order
ORDERS = 6


def _orders() -> bytes:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for n in range(SPANS):
        order, hop = divmod(n, 10)
        span = scope.spans.add(name=f"hop.{hop}", start_time_unix_nano=1_790_000_000 * 10**9 + n * 10**9)
        span.trace_id, span.span_id = (order + 1).to_bytes(16, "big"), (n + 1).to_bytes(8, "big")
        span.end_time_unix_nano = span.start_time_unix_nano + 10**6
        for key, value in (("order.id", f"O-{order}"), ("customer.id", "C-RECOVER"), ("biz.stage", "order.accepted")):
            span.attributes.add(key=key).value.string_value = value
    return request.SerializeToString()


def _lookup(port: int, key: str) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", f"/api/v1/keys/{key}")
        response = connection.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        connection.close()


def _counts(data_dir) -> list[int]:
    [row] = query_store(
        data_dir,
        # biz_keys: a row per (key, order), copies collapsing (FINAL: one however many hops brought it)
        "SELECT (SELECT count() FROM otel_traces), (SELECT count() FROM biz_hops), "
        "(SELECT count() FROM biz_keys FINAL), (SELECT count() FROM biz_keys FINAL WHERE Key = 'C-RECOVER'), "
        "(SELECT count() FROM otel_traces_trace_id_ts), "
        "(SELECT uniqExact(Key, OrderId) FROM biz_keys)",
    )
    return [int(value) for value in row]


def test_restart_after_a_partial_commit_rederives_every_derived_table_once(collector_process):
    collector = collector_process().start()
    connection = http.client.HTTPConnection("127.0.0.1", collector.http_port, timeout=60)
    connection.request("POST", "/v1/traces", _orders(), PROTO)
    assert connection.getresponse().status == 200
    connection.close()
    assert collector.terminate() == 0
    complete = _counts(collector.data_dir)
    assert complete == [SPANS, SPANS, 2 * ORDERS, ORDERS, 6, 2 * ORDERS]  # each order's id and the customer's

    # What a kill between the commits leaves: spans 1-5 without hops, orders 1 and 2 (spans 11-30)
    # with hops but no keys (the biz_hops commit done, the biz_keys one not), traces 4-6 not
    # in the trace-id table. Then the dead process's pid file, as a killed holder leaves it.
    span_ids = lambda numbers: ", ".join(f"'{n:016x}'" for n in numbers)  # noqa: E731
    trace_ids = ", ".join(f"'{t:032x}'" for t in (4, 5, 6))
    for statement in (
        f"DELETE FROM biz_hops WHERE SpanId IN ({span_ids(range(1, 6))})",
        "DELETE FROM biz_keys WHERE OrderId IN ('O-1', 'O-2')",
        f"DELETE FROM otel_traces_trace_id_ts WHERE TraceId IN ({trace_ids})",
        "OPTIMIZE TABLE biz_keys FINAL",
    ):
        query_store(collector.data_dir, statement + " SETTINGS mutations_sync = 2" if "DELETE" in statement
                    else statement)  # fmt: skip
    assert _counts(collector.data_dir)[1:5] == [SPANS - 5, 2 * ORDERS - 4, ORDERS - 2, 3]
    dead = subprocess.Popen(["true"])
    dead.wait(10)
    (collector.data_dir / PID_FILE).write_text(f"{dead.pid}\n")
    assert query_store(collector.data_dir, "SELECT 1") == [[1]]  # a reader in between must not hide the death

    collector.start()
    history = _lookup(collector.http_port, "C-RECOVER")
    assert len(history["hops"]) == SPANS
    assert {hop["span_id"] for hop in history["hops"]} == {f"{n:016x}" for n in range(1, SPANS + 1)}
    assert len(_lookup(collector.http_port, "O-1")["hops"]) == 10
    assert "re-derived the rows it left missing" in collector.log.read_text()
    collector.terminate()
    assert _counts(collector.data_dir) == complete, "every row back, none twice"
