"""The spans of an order's traces as trees: what the order page's waterfall draws.

Every stored span of the traces (business hops and the technical spans around them), with its depth
under its trace's root, its start offset within its trace, its duration and outcome, children after
their parent (``sql/trace_spans.sql``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from biztrace.readmodel.transactions import sql
from biztrace.store import Store

LIMIT = 500
"""The most spans one waterfall shows."""


class TraceSpan(BaseModel):
    """One span placed in its trace's tree."""

    trace_id: str
    span_id: str
    parent_span_id: str = Field(description="'' for a root, or the parent's id (a parent not stored makes a root)")
    depth: int = Field(description="0 for a root, 1 for its children, ...")
    name: str
    service: str
    kind: str
    start: datetime = Field(description="span start, UTC")
    trace_start: datetime = Field(description="the start of the trace's first stored span, UTC")
    offset_ms: float = Field(description="start after the trace's first span, in ms")
    duration_ms: float
    status: str = Field(description="Unset, Ok or Error")
    status_message: str
    attributes: dict[str, str]


class TraceSpans(BaseModel):
    """The spans of some traces, trace after trace (by start), each tree depth first."""

    traces: list[str] = Field(description="the trace ids asked for")
    spans: list[TraceSpan] = Field(description=f"at most the limit (default {LIMIT})")
    total: int = Field(description="every span of the traces, shown or not")
    limit: int


def trace_spans(store: Store, trace_ids: list[str], limit: int = LIMIT) -> TraceSpans:
    """The spans of ``trace_ids`` as trees, at most ``limit`` of them."""
    traces = sorted({t for t in trace_ids if t})
    if not traces:
        return TraceSpans(traces=[], spans=[], total=0, limit=limit)
    rows = list(
        store.client.query(
            sql("trace_spans"), parameters={"db": store.database, "traces": traces, "limit": limit}
        ).named_results()
    )
    total = int(rows[0].pop("total")) if rows else 0
    for row in rows[1:]:
        row.pop("total")
    return TraceSpans(traces=traces, spans=[TraceSpan(**row) for row in rows], total=total, limit=limit)
