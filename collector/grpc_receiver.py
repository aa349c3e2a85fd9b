"""OTLP/gRPC: ``opentelemetry.proto.collector.trace.v1.TraceService/Export``.

The handler takes the raw request bytes (no deserializer), so the request is parsed
once, by the same code as OTLP/HTTP, and its fingerprint is of the bytes the client sent.
Errors follow the OTLP specification: INVALID_ARGUMENT for a malformed request,
UNAUTHENTICATED without the bearer token, RESOURCE_EXHAUSTED for an oversized message
(gRPC's own limit), and UNAVAILABLE with ``RetryInfo`` when the queue is full or the store
does not commit, which OTLP clients retry.
"""

from __future__ import annotations

import logging
from concurrent import futures

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from biztrace.collector.errors import DecodeError, Overloaded, StoreUnavailable
from biztrace.collector.receiver import Receiver

logger = logging.getLogger(__name__)

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str, retry_after_s: int | None = None):
    if retry_after_s is not None:
        detail = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=retry_after_s))
        status = status_pb2.Status(code=code.value[0], message=message)
        status.details.add().Pack(detail)
        context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
    context.abort(code, message)


class _TraceService:
    def __init__(self, receiver: Receiver, commit_timeout_s: float) -> None:
        self.receiver = receiver
        self.commit_timeout_s = commit_timeout_s

    def export(self, body: bytes, context: grpc.ServicerContext) -> bytes:
        receiver = self.receiver
        metrics = receiver.metrics
        metadata = dict(context.invocation_metadata())
        if not receiver.authorized(metadata.get("authorization")):
            metrics.requests.labels("grpc", "unauthenticated").inc()
            _abort(context, grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            accepted = receiver.receive(body, "protobuf", "grpc")
            accepted.committed.result(timeout=self.commit_timeout_s)
        except DecodeError as exc:
            metrics.requests.labels("grpc", "bad_request").inc()
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Overloaded as exc:
            metrics.requests.labels("grpc", "overloaded").inc()
            _abort(context, grpc.StatusCode.UNAVAILABLE, str(exc), exc.retry_after_s)
        except StoreUnavailable as exc:
            metrics.requests.labels("grpc", "unavailable").inc()
            _abort(context, grpc.StatusCode.UNAVAILABLE, str(exc), exc.retry_after_s)
        except futures.TimeoutError:
            metrics.requests.labels("grpc", "unavailable").inc()
            _abort(context, grpc.StatusCode.UNAVAILABLE, "the store did not commit in time", 5)
        response = ExportTraceServiceResponse()
        if accepted.intake.rejected:
            response.partial_success.rejected_spans = accepted.intake.rejected
            response.partial_success.error_message = accepted.intake.error_message()
        metrics.requests.labels("grpc", "partial" if accepted.intake.rejected else "ok").inc()
        return response.SerializeToString()


def build_server(
    receiver: Receiver, address: str, *, max_workers: int = 64, commit_timeout_s: float = 60.0
) -> tuple[grpc.Server, int]:
    """A started-later gRPC server bound to ``address``; returns it and the bound port."""
    service = _TraceService(receiver, commit_timeout_s)
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                service.export, request_deserializer=None, response_serializer=None
            )
        },
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="biztrace-grpc"),
        handlers=(handler,),
        options=[
            ("grpc.max_receive_message_length", receiver.max_body_bytes),
            ("grpc.max_send_message_length", 4 << 20),
        ],
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind OTLP/gRPC to {address}")
    return server, port
