"""OTLP/gRPC against a running collector on the real embedded store."""

from __future__ import annotations

import threading

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from biztrace.collector.batcher import Batcher
from biztrace.collector.grpc_receiver import CALLS_PER_WORKER, build_server
from biztrace.collector.intake import Limits
from biztrace.collector.receiver import Receiver
from biztrace.readmodel.lookup import key_history
from support import BlockingWriter, wait_for

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _request(n: int, order: str, bad: int = 0) -> bytes:
    request = ExportTraceServiceRequest()
    ss = request.resource_spans.add().scope_spans.add()
    for i in range(n + bad):
        span = ss.spans.add()
        span.trace_id = bytes([7] * 15 + [i + 1])
        span.span_id = bytes([8] * 7 + [i + 1]) if i < n else b""
        span.name = "wms.pick"
        span.start_time_unix_nano = 1_790_000_000_000_000_000
        span.end_time_unix_nano = 1_790_000_000_000_001_000
        kv = span.attributes.add()
        kv.key, kv.value.string_value = "order.id", order
    return request.SerializeToString()


def _call(port: int, body: bytes, metadata=()):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        return export(body, metadata=metadata, timeout=30)


def test_sdk_grpc_exporter_spans_are_stored(start_collector):
    collector = start_collector()
    provider = TracerProvider(resource=Resource.create({"service.name": "wms"}))
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{collector.ports.grpc}", insecure=True, timeout=30)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span(
        "wms.ship", attributes={"order.id": "O-G1", "shipment.id": "SH-9", "biz.stage": "shipment.confirmed"}
    ):
        pass
    provider.shutdown()
    history = key_history(collector.store, "SH-9")
    assert [(hop.order_id, hop.stage, hop.system) for hop in history.hops] == [("O-G1", "shipment.confirmed", "wms")]


def test_partial_success_over_grpc(start_collector):
    collector = start_collector()
    response = ExportTraceServiceResponse.FromString(_call(collector.ports.grpc, _request(2, "O-GP", bad=1)))
    assert response.partial_success.rejected_spans == 1
    assert "span_id" in response.partial_success.error_message
    assert len(key_history(collector.store, "O-GP").hops) == 2


def test_malformed_request_is_invalid_argument(start_collector):
    collector = start_collector()
    with pytest.raises(grpc.RpcError) as error:
        _call(collector.ports.grpc, b"\xff\xfe garbage")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid OTLP" in error.value.details()


def test_oversized_message_is_resource_exhausted(start_collector):
    collector = start_collector(max_body_bytes=4096)
    with pytest.raises(grpc.RpcError) as error:
        _call(collector.ports.grpc, _request(200, "O-BIG"))
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_token_is_required(start_collector):
    collector = start_collector(token="s3cret")
    with pytest.raises(grpc.RpcError) as error:
        _call(collector.ports.grpc, _request(1, "O-T"))
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    _call(collector.ports.grpc, _request(1, "O-T"), metadata=(("authorization", "Bearer s3cret"),))
    assert key_history(collector.store, "O-T").found


def test_full_queue_is_unavailable_with_retry_info():
    writer = BlockingWriter()
    batcher = Batcher([writer], max_queue_spans=2, flush_interval_ms=1)
    batcher.start()
    server, port = build_server(Receiver(batcher, Limits(), 1 << 20), "127.0.0.1:0")
    server.start()
    waiting = [threading.Thread(target=_call, args=(port, _request(2, order))) for order in ("O-1", "O-2")]
    try:
        waiting[0].start()  # taken by the (blocked) writer
        wait_for(lambda: batcher.queued_spans == 0 and len(batcher._inflight) == 1)
        waiting[1].start()  # fills the queue
        wait_for(lambda: batcher.queued_spans == 2)
        error = _try(port, "O-3")
        assert error is not None and error.code() == grpc.StatusCode.UNAVAILABLE
        details = dict(error.trailing_metadata())["grpc-status-details-bin"]
        retry = error_details_pb2.RetryInfo()
        assert status_pb2.Status.FromString(details).details[0].Unpack(retry)
        assert retry.retry_delay.seconds == 1
    finally:
        writer.release.set()
        for thread in waiting:
            thread.join(10)
        batcher.shutdown(5)
        server.stop(0)
    assert writer.spans == 4


def _try(port: int, order: str):
    try:
        _call(port, _request(2, order))
    except grpc.RpcError as error:
        return error
    return None


def test_calls_beyond_the_workers_wait_for_one():
    """With every worker busy (its call waiting for a commit), further calls wait their turn, up to
    ``CALLS_PER_WORKER`` calls per worker in all, and are all served once the store commits; one
    more is refused at once. (Room for only as many calls as workers refused, now and then, a client
    that kept that many in flight: gRPC frees a finished call's place after its client has the
    answer.)"""
    workers = 2
    taken = workers * CALLS_PER_WORKER
    writer = BlockingWriter()
    batcher = Batcher([writer], flush_interval_ms=1)
    batcher.start()
    server, port = build_server(Receiver(batcher, Limits(), 64 << 20), "127.0.0.1:0", max_workers=workers)
    server.start()
    errors: list[grpc.RpcError] = []

    def call(order: str) -> None:
        try:
            _call(port, _request(2, order))
        except grpc.RpcError as error:
            errors.append(error)

    calls = [threading.Thread(target=call, args=(f"O-Q{i}",)) for i in range(taken)]
    try:
        for thread in calls:
            thread.start()
        wait_for(lambda: len(batcher._inflight) == workers)  # the workers' calls, waiting for the writer
        # every call has reached the server: taken (waiting for a worker), or refused with too little room
        wait_for(lambda: server._state.active_rpc_count + len(errors) == taken)
        refused = _try(port, "O-Q-extra")
        assert refused is not None and refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert [error.code() for error in errors] == []
    finally:
        writer.release.set()
        for thread in calls:
            thread.join(30)
        batcher.shutdown(5)
        server.stop(0)
    assert [error.code() for error in errors] == []
    assert writer.spans == 2 * taken
