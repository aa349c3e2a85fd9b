"""Copies business keys from baggage onto every span as it starts."""

from __future__ import annotations

import logging

from opentelemetry import baggage
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import get_current_span

from biztrace.tracing import conventions as c

logger = logging.getLogger(__name__)


class BusinessSpanProcessor(SpanProcessor):
    """Sets ``order.id``, ``customer.id``, ``sku.ids`` ... on spans that lack them.

    The keys come from the parent span when it runs in this process (a hop's children), or
    from baggage when the work arrived from elsewhere (HTTP, a message) or was put there with
    ``business_context``. A downstream hop that knows nothing about orders still lands in
    the order's view. ``on_start`` never raises and never blocks (it only reads the context).
    """

    def __init__(self) -> None:
        self._warned = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            parent = get_current_span(parent_context)
            inherited = getattr(parent, "attributes", None)
            existing = span.attributes or {}
            if inherited:
                for name in c.KEY_ATTRIBUTES:  # not biz.process: a failed child must not fail the order
                    value = inherited.get(name)
                    if value is not None and name not in existing:
                        span.set_attribute(name, value)
            found = baggage.get_all(parent_context)
            if not found:
                return
            existing = span.attributes or {}
            for name in c.KEY_ATTRIBUTES:  # not biz.process: a failed child must not fail the order
                value = found.get(name)
                if value is None or name in existing:
                    continue
                if name == c.SKU_IDS:
                    span.set_attribute(name, [item for item in str(value).split(",") if item])
                else:
                    span.set_attribute(name, str(value))
        except Exception:  # telemetry never breaks the host
            if not self._warned:
                logger.exception("biztrace: could not copy business keys onto a span")
                self._warned = True

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
