"""OTLP/gRPC: ``opentelemetry.proto.collector.trace.v1.TraceService/Export``.

The handler takes the raw request bytes (no deserializer), so the request is parsed
once, by the same code as OTLP/HTTP, and its fingerprint is of the bytes the client sent.
Errors follow the OTLP specification: INVALID_ARGUMENT for a malformed request,
UNAUTHENTICATED without the bearer token (decided on the metadata, before the message is
read), RESOURCE_EXHAUSTED for an oversized message (gRPC's own limit) or more calls at once than
``CALLS_PER_WORKER`` per worker, and UNAVAILABLE with ``RetryInfo`` when the queue or the byte budget is full
or the store does not commit, which OTLP clients retry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent import futures

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from biztrace.collector.errors import DecodeError, Overloaded, StoreUnavailable
from biztrace.collector.receiver import Receiver

logger = logging.getLogger(__name__)

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"

CALLS_PER_WORKER = 4
"""Calls taken at once per worker: the workers serve, the others wait for one (their messages
unread, held by gRPC's flow control). With room only for as many calls as workers, a client that
kept that many in flight was refused now and then (gRPC frees a finished call's place after its
client has the answer), with RESOURCE_EXHAUSTED, which OTLP clients do not retry."""


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
        # what the next call is expected to hold before its message is read: at first 4 MiB, the
        # message size gRPC clients and collectors accept by default; then a running average
        self._typical_bytes = 4 << 20

    def export(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        """One unary Export, served as a stream so that memory is reserved before the message is read.

        The call first takes the typical request size from the byte budget (refused with
        UNAVAILABLE when it does not fit, its message never received), then reads its message
        and takes whatever that holds beyond the reservation.
        """
        receiver = self.receiver
        metrics = receiver.metrics
        metadata = dict(context.invocation_metadata())
        if not receiver.authorized(metadata.get("authorization")):  # the interceptor refused it already
            metrics.requests.labels("grpc", "unauthenticated").inc()
            _abort(context, grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        held = 0
        try:
            try:
                receiver.budget.take(self._typical_bytes)
                held = self._typical_bytes
                body = next(requests, None)
                if body is None:
                    _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "the call carried no request message")
                if len(body) > held:
                    receiver.budget.take(len(body) - held)
                    held = len(body)
            except Overloaded as exc:
                metrics.requests.labels("grpc", "overloaded").inc()
                _abort(context, grpc.StatusCode.UNAVAILABLE, str(exc), exc.retry_after_s)
            self._typical_bytes = max(64 << 10, (3 * self._typical_bytes + len(body)) // 4)
            return self._export(body, context)
        finally:
            receiver.budget.give_back(held)

    def _export(self, body: bytes, context: grpc.ServicerContext) -> bytes:
        receiver = self.receiver
        metrics = receiver.metrics
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


class _Authenticate(grpc.ServerInterceptor):
    """Refuses a call without the bearer token from its metadata alone, before its message is read.

    The refusal is a stream handler that never reads its request, so gRPC neither receives
    nor inflates the body of an unauthenticated call.
    """

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

        def refuse(requests, context: grpc.ServicerContext) -> bytes:
            receiver.metrics.requests.labels("grpc", "unauthenticated").inc()
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
            return b""  # abort raises; never reached

        self._refuse = grpc.stream_unary_rpc_method_handler(refuse)

    def intercept_service(self, continuation, handler_call_details):
        metadata = dict(handler_call_details.invocation_metadata or ())
        if self.receiver.authorized(metadata.get("authorization")):
            return continuation(handler_call_details)
        return self._refuse


def build_server(
    receiver: Receiver, address: str, *, max_workers: int = 64, commit_timeout_s: float = 60.0
) -> tuple[grpc.Server, int]:
    """A started-later gRPC server bound to ``address``; returns it and the bound port.

    ``max_workers`` calls are served at once (each holds its message, counted against the
    receiver's byte budget); up to ``CALLS_PER_WORKER`` times as many are taken, the others
    waiting for a worker with their messages unread; a call beyond that is refused at once with
    RESOURCE_EXHAUSTED.
    """
    service = _TraceService(receiver, commit_timeout_s)
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Export": grpc.stream_unary_rpc_method_handler(
                service.export, request_deserializer=None, response_serializer=None
            )
        },
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="biztrace-grpc"),
        handlers=(handler,),
        interceptors=(_Authenticate(receiver),),
        maximum_concurrent_rpcs=max_workers * CALLS_PER_WORKER,
        options=[
            ("grpc.max_receive_message_length", receiver.max_body_bytes),
            ("grpc.max_send_message_length", 4 << 20),
            # Windows stay at HTTP/2's 64 KiB per call: with bandwidth probing gRPC widened them and
            # received the messages of calls waiting for a worker ahead of the byte budget (peak RSS
            # +616 MiB in tests/collector/test_memory_budget.py, 90-100 without; the ingest benchmark
            # over loopback is no slower). The cost: a large message over a slow, distant link takes
            # more round trips.
            ("grpc.http2.bdp_probe", 0),
            # No per-connection stream limit (grpc.max_concurrent_streams): one equal to the workers
            # refused streams within that bound (HTTP/2 REFUSED_STREAM, UNAVAILABLE to clients).
        ],
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind OTLP/gRPC to {address}")
    return server, port
