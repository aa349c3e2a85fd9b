"""OTLP/HTTP against a running collector on the real embedded store."""

from __future__ import annotations

import gzip
import http.client
import json
import threading

import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from biztrace.collector.batcher import Batcher
from biztrace.collector.http_receiver import build_app, make_runner
from biztrace.collector.intake import Limits
from biztrace.collector.receiver import Receiver
from biztrace.collector.writer import Batch, InMemoryWriter
from biztrace.readmodel.lookup import key_history
from support import BlockingWriter, wait_for


def _request(n: int = 3, order: str = "O-1", bad_span_ids: int = 0) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "erp"
    ss = rs.scope_spans.add()
    for i in range(n + bad_span_ids):
        span = ss.spans.add()
        span.trace_id = bytes([1] * 15 + [i + 1])
        span.span_id = bytes([2] * 7 + [i + 1]) if i < n else b"\x01\x02"
        span.name = f"erp.accept.{i}"
        span.start_time_unix_nano = 1_790_000_000_000_000_000 + i
        span.end_time_unix_nano = 1_790_000_000_500_000_000 + i
        attr = span.attributes.add()
        attr.key, attr.value.string_value = "order.id", order
    return request


def _post(port: int, body: bytes, headers: dict[str, str], path: str = "/v1/traces"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _count(collector, table: str = "otel_traces") -> int:
    return int(collector.store.client.command(f"SELECT count() FROM {collector.store.table(table)}"))


def test_sdk_http_exporter_spans_are_stored_and_found_by_key(start_collector):
    collector = start_collector()
    provider = TracerProvider(resource=Resource.create({"service.name": "crm"}))
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{collector.ports.http}/v1/traces", timeout=30)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for stage in ("order.captured", "order.accepted"):
        with tracer.start_as_current_span(stage, attributes={"order.id": "O-1182", "biz.stage": stage}):
            pass
    provider.shutdown()
    assert _count(collector) == 2
    history = key_history(collector.store, "O-1182")
    assert [hop.stage for hop in history.hops] == ["order.captured", "order.accepted"]
    assert history.systems == ["crm"]


def test_gzip_compressed_sdk_export(start_collector):
    collector = start_collector()
    exporter = OTLPSpanExporter(
        endpoint=f"http://127.0.0.1:{collector.ports.http}/v1/traces", compression=Compression.Gzip, timeout=30
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("gz", attributes={"order.id": "O-GZ"}):
        pass
    provider.shutdown()
    assert key_history(collector.store, "O-GZ").found


def test_json_body_with_hex_ids(start_collector):
    collector = start_collector()
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "wms"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "spanId": "EEE19B7EC3C1B174",
                                "name": "wms.ship",
                                "kind": 2,
                                "startTimeUnixNano": "1790000000000000000",
                                "endTimeUnixNano": "1790000001000000000",
                                "attributes": [
                                    {"key": "order.id", "value": {"stringValue": "O-JSON"}},
                                    {"key": "biz.quantity", "value": {"intValue": "3"}},
                                ],
                                "status": {"code": 2, "message": "carrier timeout"},
                            }
                        ]
                    }
                ],
            }
        ]
    }
    status, headers, body = _post(
        collector.ports.http, json.dumps(document).encode(), {"Content-Type": "application/json"}
    )
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {}
    row = collector.store.client.query(
        "SELECT TraceId, SpanId, SpanKind, StatusCode, StatusMessage, Duration "
        f"FROM {collector.store.table('otel_traces')}"
    ).result_rows
    assert row == [
        ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "Server", "Error", "carrier timeout", 10**9)
    ]


def test_chunked_body(start_collector):
    collector = start_collector()
    payload = _request(4, "O-CHUNK").SerializeToString()
    connection = http.client.HTTPConnection("127.0.0.1", collector.ports.http, timeout=30)
    pieces = iter([payload[:10], payload[10:50], payload[50:]])
    connection.request(
        "POST", "/v1/traces", body=pieces, headers={"Content-Type": "application/x-protobuf"}, encode_chunked=True
    )
    response = connection.getresponse()
    raw = response.read()
    connection.close()
    assert response.status == 200, raw
    assert ExportTraceServiceResponse.FromString(raw) == ExportTraceServiceResponse()
    assert len(key_history(collector.store, "O-CHUNK").hops) == 4


def test_partial_success_reports_and_drops_invalid_spans(start_collector):
    collector = start_collector()
    body = _request(2, "O-PART", bad_span_ids=1).SerializeToString()
    status, _, raw = _post(collector.ports.http, body, {"Content-Type": "application/x-protobuf"})
    assert status == 200
    response = ExportTraceServiceResponse.FromString(raw)
    assert response.partial_success.rejected_spans == 1
    assert "span_id must be 8 bytes" in response.partial_success.error_message
    assert _count(collector) == 2


def test_malformed_protobuf_is_400_with_status_body(start_collector):
    collector = start_collector()
    status, headers, raw = _post(
        collector.ports.http, b"\xff\xff\xff not protobuf", {"Content-Type": "application/x-protobuf"}
    )
    assert status == 400
    message = status_pb2.Status.FromString(raw).message
    assert "not a valid OTLP" in message
    assert _count(collector) == 0


def test_malformed_json_is_400_with_json_message(start_collector):
    collector = start_collector()
    status, _, raw = _post(collector.ports.http, b"{not json", {"Content-Type": "application/json"})
    assert status == 400
    assert "not valid JSON" in json.loads(raw)["message"]


def test_unknown_content_type_and_encoding_are_415(start_collector):
    collector = start_collector()
    status, _, raw = _post(collector.ports.http, b"hello", {"Content-Type": "text/plain"})
    assert status == 415
    assert "Content-Type" in json.loads(raw)["message"]
    body = _request().SerializeToString()
    status, _, _ = _post(
        collector.ports.http, body, {"Content-Type": "application/x-protobuf", "Content-Encoding": "br"}
    )
    assert status == 415


def test_oversized_body_is_413_even_when_compressed_small(start_collector):
    collector = start_collector(max_body_bytes=64 * 1024)
    status, _, raw = _post(collector.ports.http, b"\0" * 100_000, {"Content-Type": "application/x-protobuf"})
    assert status == 413
    assert "exceeds 65536 bytes" in status_pb2.Status.FromString(raw).message
    bomb = gzip.compress(b"\0" * (8 << 20))  # 8 MiB of zeros in a few KiB
    assert len(bomb) < 64 * 1024
    status, _, _ = _post(
        collector.ports.http, bomb, {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    )
    assert status == 413
    assert _count(collector) == 0


def test_bearer_token_is_required_when_configured(start_collector):
    collector = start_collector(token="s3cret")
    body = _request(1, "O-AUTH").SerializeToString()
    status, headers, _ = _post(collector.ports.http, body, {"Content-Type": "application/x-protobuf"})
    assert status == 401
    assert headers["WWW-Authenticate"] == "Bearer"
    status, _, _ = _post(
        collector.ports.http, body, {"Content-Type": "application/x-protobuf", "Authorization": "Bearer wrong"}
    )
    assert status == 401
    status, _, _ = _post(
        collector.ports.http, body, {"Content-Type": "application/x-protobuf", "Authorization": "Bearer s3cret"}
    )
    assert status == 200
    assert _count(collector) == 1


def test_retried_request_is_stored_once(start_collector):
    collector = start_collector()
    body = _request(5, "O-RETRY").SerializeToString()
    for _ in range(3):
        status, _, _ = _post(collector.ports.http, body, {"Content-Type": "application/x-protobuf"})
        assert status == 200
    assert _count(collector) == 5
    assert _count(collector, "biz_hops") == 5


def test_healthz_and_metrics(start_collector):
    collector = start_collector()
    _post(collector.ports.http, _request(3).SerializeToString(), {"Content-Type": "application/x-protobuf"})
    _post(collector.ports.http, b"junk", {"Content-Type": "application/x-protobuf"})
    connection = http.client.HTTPConnection("127.0.0.1", collector.ports.http, timeout=10)
    connection.request("GET", "/healthz")
    health = json.loads(connection.getresponse().read())
    assert health == {"status": "ok"}  # nothing else: no store path, no internals
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    assert "biztrace_collector_spans_written_total 3.0" in text
    assert 'biztrace_collector_requests_total{outcome="bad_request",protocol="http"} 1.0' in text
    assert "biztrace_collector_queue_spans 0.0" in text
    assert "biztrace_collector_batch_write_seconds_count" in text


class _FailingWriter(InMemoryWriter):
    def write(self, batch: Batch) -> None:
        raise ConnectionError("connection refused")


@pytest.fixture
def serve_app():
    """Serve a Receiver's aiohttp app on a free port in a background thread."""
    import asyncio

    from aiohttp import web

    servers = []

    def serve(receiver: Receiver) -> int:
        loop = asyncio.new_event_loop()
        runner = make_runner(build_app(receiver))
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        servers.append((loop, runner, thread))
        return port

    yield serve
    for loop, runner, thread in servers:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_full_queue_answers_429_with_retry_after(serve_app):
    writer = BlockingWriter()
    batcher = Batcher([writer], max_queue_spans=3, flush_interval_ms=1)
    batcher.start()
    port = serve_app(Receiver(batcher, Limits(), 1 << 20))
    proto = {"Content-Type": "application/x-protobuf"}
    waiting = [
        threading.Thread(target=_post, args=(port, _request(3, order).SerializeToString(), proto))
        for order in ("O-A", "O-B")
    ]
    try:
        waiting[0].start()  # taken by the (blocked) writer
        wait_for(lambda: batcher.queued_spans == 0 and len(batcher._inflight) == 1)
        waiting[1].start()  # fills the queue
        wait_for(lambda: batcher.queued_spans == 3)
        status, headers, raw = _post(port, _request(3, "O-C").SerializeToString(), proto)
        assert status == 429
        assert headers["Retry-After"] == "1"
        assert "queue" in status_pb2.Status.FromString(raw).message
    finally:
        writer.release.set()
        for thread in waiting:
            thread.join(10)
        batcher.shutdown(5)
    assert writer.spans == 6


def test_store_that_does_not_commit_answers_503(serve_app):
    batcher = Batcher([_FailingWriter()], flush_interval_ms=1, write_timeout_s=0.3, retry_initial_s=0.05)
    batcher.start()
    port = serve_app(Receiver(batcher, Limits(), 1 << 20))
    status, headers, raw = _post(port, _request().SerializeToString(), {"Content-Type": "application/x-protobuf"})
    assert status == 503
    assert int(headers["Retry-After"]) > 0
    assert "did not commit" in status_pb2.Status.FromString(raw).message
    batcher.shutdown(5)
