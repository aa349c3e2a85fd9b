"""The collector's exceptions.

CollectorError
├── DecodeError        a request body that is not OTLP (HTTP 400 / INVALID_ARGUMENT)
├── PayloadTooLarge    a body over the size limit, after decompression (413 / RESOURCE_EXHAUSTED)
├── Overloaded         the queue is full; the client should retry later (429 / UNAVAILABLE)
└── StoreUnavailable   ClickHouse did not commit a batch in time (503 / UNAVAILABLE)
"""

from __future__ import annotations


class CollectorError(Exception):
    """Base of every error the collector raises on purpose."""


class DecodeError(CollectorError):
    """The request body cannot be decoded as an OTLP trace export request."""


class PayloadTooLarge(CollectorError):
    """The request body exceeds the configured limit after decompression."""


class Overloaded(CollectorError):
    """The bounded queue has no room; retry after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreUnavailable(CollectorError):
    """The store did not commit the batch; nothing of it was acknowledged."""

    def __init__(self, message: str, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
