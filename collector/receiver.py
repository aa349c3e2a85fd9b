"""What both OTLP receivers do with a request body, whatever the transport.

Only ``http_receiver`` knows HTTP and only ``grpc_receiver`` knows gRPC; both call
:meth:`Receiver.receive` and translate its outcome and errors to their status codes.
"""

from __future__ import annotations

import hmac
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal

from biztrace.collector.batcher import Batcher
from biztrace.collector.intake import Intake, Limits, check, parse_json, parse_protobuf

Encoding = Literal["protobuf", "json"]


@dataclass
class Accepted:
    """A request taken into the queue: wait on ``committed`` before answering."""

    intake: Intake
    committed: Future[None]


class Receiver:
    """Checks, authenticates and queues OTLP trace requests.

    Args:
        batcher: where accepted requests go.
        limits: per-span limits (partial success for spans over them).
        max_body_bytes: the largest body accepted, after decompression.
        token: when set, requests must carry ``Authorization: Bearer <token>``.
    """

    def __init__(self, batcher: Batcher, limits: Limits, max_body_bytes: int, token: str | None = None) -> None:
        self.batcher = batcher
        self.limits = limits
        self.max_body_bytes = max_body_bytes
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
