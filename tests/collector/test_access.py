"""Who may read what from a running collector: business data only with the token, health without
internals, receivers on loopback unless told otherwise."""

from __future__ import annotations

import http.client
import json
import threading
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from biztrace.collector.settings import CollectorSettings
from support import statements_running

PROTO = {"Content-Type": "application/x-protobuf"}


def _orders(count: int, start_s: int = 1_790_000_000, first_id: int = 1) -> bytes:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for i in range(count):
        span = scope.spans.add()
        span.trace_id, span.span_id = (first_id + i).to_bytes(16, "big"), (first_id + i).to_bytes(8, "big")
        span.name, span.start_time_unix_nano = "erp.accept", start_s * 10**9 + i
        span.end_time_unix_nano = span.start_time_unix_nano + 1000
        for key, value in (("order.id", "O-SECRET"), ("customer.id", "C-9"), ("biz.amount", "1234.5")):
            kv = span.attributes.add()
            kv.key, kv.value.string_value = key, value
    return request.SerializeToString()


def _call(port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_key_lookup_and_metrics_need_the_token_and_health_tells_nothing_else(start_collector):
    collector = start_collector(token="s3cret")
    port, auth = collector.ports.http, {"Authorization": "Bearer s3cret"}
    assert _call(port, "POST", "/v1/traces", _orders(3), {**PROTO, **auth})[0] == 200
    for path in ("/api/v1/keys/O-SECRET", "/api/v1/keys/C-9?limit=100000", "/metrics"):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            status, body = _call(port, "GET", path, headers=headers)
            assert status == 401, (path, headers)
            assert b"O-SECRET" not in body and b"1234.5" not in body
    status, body = _call(port, "GET", "/api/v1/keys/O-SECRET", headers=auth)
    assert status == 200 and json.loads(body)["found"]
    assert _call(port, "GET", "/metrics", headers=auth)[0] == 200
    status, body = _call(port, "GET", "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert str(collector.store.address.path) not in body.decode()


def test_key_lookup_returns_at_most_ten_thousand_hops(start_collector):
    collector = start_collector()
    port = collector.ports.http
    for part in range(3):  # 12,000 hops of one order
        assert (
            _call(port, "POST", "/v1/traces", _orders(4_000, 1_790_000_000 + part, 1 + part * 4_000), PROTO)[0] == 200
        )
    status, body = _call(port, "GET", "/api/v1/keys/O-SECRET?limit=100000")
    assert status == 200
    assert len(json.loads(body)["hops"]) == 10_000


def test_health_is_unavailable_once_the_collector_stops_accepting(start_collector):
    collector = start_collector()
    collector.batcher.shutdown(5)
    status, body = _call(collector.ports.http, "GET", "/healthz")
    assert (status, json.loads(body)) == (503, {"status": "unavailable"})


def test_receivers_listen_on_loopback_by_default():
    assert CollectorSettings().host == "127.0.0.1"


def test_any_key_a_span_can_carry_is_found_over_http(start_collector):
    from urllib.parse import quote

    collector = start_collector()
    keys = ["O-{weird}/1 %x", "K-" + "k" * 12_000]
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for i, key in enumerate(keys):
        span = scope.spans.add(name="erp.accept", start_time_unix_nano=1_790_000_000 * 10**9)
        span.trace_id, span.span_id = (i + 1).to_bytes(16, "big"), (i + 1).to_bytes(8, "big")
        span.end_time_unix_nano = span.start_time_unix_nano + 1
        span.attributes.add(key="order.id").value.string_value = key
    assert _call(collector.ports.http, "POST", "/v1/traces", request.SerializeToString(), PROTO)[0] == 200
    for key in keys:
        status, body = _call(collector.ports.http, "GET", f"/api/v1/keys/{quote(key, safe='')}")
        assert status == 200 and json.loads(body)["key"] == key and len(json.loads(body)["hops"]) == 1


def test_a_key_lookup_does_not_wait_behind_a_statement_on_the_writers_client(start_collector):
    """The store's own client is the first writer's (inserts, under load): a lookup borrows another."""
    collector = start_collector()
    port = collector.ports.http
    assert _call(port, "POST", "/v1/traces", _orders(3), PROTO)[0] == 200
    busy = threading.Thread(target=lambda: collector.store.client.query("SELECT sleep(2) AS biztrace_writer_busy"))
    busy.start()
    try:
        time.sleep(0.3)  # the long statement under way
        status, body = _call(port, "GET", "/api/v1/keys/O-SECRET")
        assert status == 200 and json.loads(body)["found"]
        assert statements_running(collector.store, "biztrace_writer_busy") == 1  # the writer's client still busy
    finally:
        busy.join(30)
