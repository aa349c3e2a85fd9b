"""A sampler that never drops a span carrying a business key."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import baggage
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.util.types import Attributes

from biztrace.tracing import conventions as c


class BusinessKeySampler(Sampler):
    """Samples every span whose attributes or baggage carry a business key; others by ratio.

    Example:
        TracerProvider(sampler=BusinessKeySampler(ratio=0.1))
    """

    def __init__(self, ratio: float = 1.0) -> None:
        self.ratio = ratio
        self._delegate = ParentBased(TraceIdRatioBased(ratio))

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state=None,
    ) -> SamplingResult:
        if (attributes and any(key in attributes for key in c.KEY_ATTRIBUTES)) or _keys_in_baggage(parent_context):
            state = get_current_span(parent_context).get_span_context().trace_state
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)
        return self._delegate.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"BusinessKeySampler{{ratio={self.ratio}}}"


def _keys_in_baggage(ctx: Context | None) -> bool:
    found = baggage.get_all(ctx)
    return bool(found) and any(key in found for key in c.KEY_ATTRIBUTES)
