"""Business keys and trace context across processes, queues and threads.

W3C ``traceparent`` and ``baggage`` go into any dict-like carrier (HTTP headers, RabbitMQ or
SQS message attributes, EDI envelope dicts) and Kafka-style header lists of
``(str, bytes)``; a consumer that extracts them continues the trace and, through
:class:`tracing.BusinessSpanProcessor`, carries the order's keys.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, MutableMapping
from concurrent.futures import Executor, Future
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace import SpanContext, TraceFlags, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


def _with_span_keys() -> otel_context.Context:
    """The current context, plus the current span's business keys in baggage."""
    from biztrace.tracing.context import BAGGAGE_KEYS, with_keys

    attributes = getattr(get_current_span(), "attributes", None) or {}
    present = baggage.get_all()
    keys = {k: list(v) if isinstance(v, tuple) else v for k, v in attributes.items()
            if k in BAGGAGE_KEYS and k not in present}  # fmt: skip
    return with_keys(keys) if keys else otel_context.get_current()


def inject(carrier: MutableMapping[str, str] | list[tuple[str, bytes]]) -> None:
    """Write the trace context and the business keys (as W3C baggage) into outgoing headers.

    Example:
        headers = {}
        inject(headers)  # then send headers with the HTTP request or message
    """
    ctx = _with_span_keys()
    if isinstance(carrier, list):
        fields: dict[str, str] = {}
        _PROPAGATOR.inject(fields, context=ctx)
        carrier[:] = [(k, v) for k, v in carrier if k not in fields]
        carrier.extend((key, value.encode()) for key, value in fields.items())
        return
    _PROPAGATOR.inject(carrier, context=ctx)


def extract(carrier: MutableMapping[str, Any] | list[tuple[str, bytes]]) -> otel_context.Context:
    """The context carried by incoming headers (dict-like or a Kafka header list).

    Example:
        with attached(extract(message.headers)):
            with hop("inventory.allocated", system="wms"):
                ...
    """
    if isinstance(carrier, list):
        carrier = {key: value.decode() if isinstance(value, bytes) else str(value) for key, value in carrier}
    normalized = {str(k).lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in carrier.items()}
    return _PROPAGATOR.extract(normalized)


class attached:  # noqa: N801 (a context manager used like a function)
    """Make a context current for a block: ``with attached(extract(headers)): ...``."""

    def __init__(self, ctx: otel_context.Context) -> None:
        self._ctx = ctx
        self._token: object | None = None

    def __enter__(self) -> otel_context.Context:
        self._token = otel_context.attach(self._ctx)
        return self._ctx

    def __exit__(self, *exc: object) -> None:
        otel_context.detach(self._token)


def propagate(function: Callable) -> Callable:
    """Wrap a callable so it runs in the caller's context on another thread.

    Example:
        threading.Thread(target=propagate(worker)).start()
    """
    ctx = contextvars.copy_context()

    def run(*args, **kwargs):
        return ctx.run(function, *args, **kwargs)

    return run


def submit(executor: Executor, function: Callable, *args, **kwargs) -> Future:
    """``executor.submit`` that keeps the trace and business keys (thread pools lose them)."""
    return executor.submit(propagate(function), *args, **kwargs)


def span_context_from_traceparent(traceparent: str) -> SpanContext | None:
    """Parse ``00-<trace id>-<span id>-<flags>``; None when it is not one."""
    parts = traceparent.strip().split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags))
