"""What both OTLP receivers do with a request body, whatever the transport.

Only ``http_receiver`` knows HTTP and only ``grpc_receiver`` knows gRPC; both call
:meth:`Receiver.receive` and translate its outcome and errors to their status codes.
"""

from __future__ import annotations

import hmac
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal

from biztrace.collector.batcher import Batcher
from biztrace.collector.errors import Overloaded
from biztrace.collector.intake import Intake, Limits, check, parse_json, parse_protobuf

Encoding = Literal["protobuf", "json"]


@dataclass
class Accepted:
    """A request taken into the queue: wait on ``committed`` before answering."""

    intake: Intake
    committed: Future[None]


class ByteBudget:
    """Bytes of request bodies held at once by every receiver: one bound on their memory.

    Thread-safe and never blocking: a request that does not fit is refused, not queued. One
    request always fits when nothing is held, so a body up to ``max_body_bytes`` can pass.
    """

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.held_bytes = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> None:
        """Hold ``size`` more bytes. Raises :class:`Overloaded` when they do not fit."""
        with self._lock:
            if self.held_bytes and self.held_bytes + size > self.limit_bytes:
                raise Overloaded(
                    f"the collector holds {self.held_bytes} bytes of requests (limit {self.limit_bytes}); retry shortly"
                )
            self.held_bytes += size

    def give_back(self, size: int) -> None:
        with self._lock:
            self.held_bytes -= size


class Receiver:
    """Checks, authenticates and queues OTLP trace requests.

    Args:
        batcher: where accepted requests go.
        limits: per-span limits (partial success for spans over them).
        max_body_bytes: the largest body accepted, after decompression.
        token: when set, requests must carry ``Authorization: Bearer <token>``.
        max_inflight_bytes: the budget both transports share for the bodies they hold, from
            the first byte read until the answer (queued and being written included).
    """

    def __init__(
        self,
        batcher: Batcher,
        limits: Limits,
        max_body_bytes: int,
        token: str | None = None,
        max_inflight_bytes: int = 256 << 20,
    ) -> None:
        self.batcher = batcher
        self.limits = limits
        self.max_body_bytes = max_body_bytes
        self.budget = ByteBudget(max_inflight_bytes)
        self._token = token.encode() if token else None

    @property
    def metrics(self):
        return self.batcher.metrics

    def authorized(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value is acceptable."""
        if self._token is None:
            return True
        if not authorization or not authorization.lower().startswith("bearer "):
            return False
        return hmac.compare_digest(authorization[7:].strip().encode(), self._token)

    def receive(self, body: bytes, encoding: Encoding, protocol: str) -> Accepted:
        """Parse, check and queue one request.

        Raises:
            DecodeError: the body is not an OTLP trace request.
            Overloaded: the queue is full.
        """
        if encoding == "json":
            intake = check(parse_json(body), None, self.limits)
        else:
            intake = check(parse_protobuf(body), body, self.limits)
        metrics = self.metrics
        metrics.spans_received.labels(protocol).inc(intake.spans + intake.rejected)
        if intake.rejected:
            metrics.spans_rejected.labels("invalid").inc(intake.rejected)
        return Accepted(intake, self.batcher.submit(intake))
