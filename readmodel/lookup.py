"""Find every hop of one business key: what ``biztrace order KEY`` and support's search show."""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from string import Template

from pydantic import BaseModel, Field

from biztrace.store import Store

_TEMPLATE = Template((resources.files("biztrace.readmodel") / "sql" / "key_hops.sql").read_text())
_ORDER_HOPS = _TEMPLATE.substitute(match="h.OrderId = {key:String}")
_KEY_HOPS = _TEMPLATE.substitute(
    match="(h.OrderId, h.Timestamp, h.SpanId) IN "
    "(SELECT OrderId, Timestamp, SpanId FROM {db:Identifier}.biz_keys WHERE Key = {key:String})"
)


class Hop(BaseModel):
    """One span of the key's life, as every system reported it."""

    start: datetime = Field(description="span start, UTC")
    trace_id: str
    span_id: str
    parent_span_id: str
    service: str
    system: str
    process: str
    stage: str
    span_name: str
    duration_ms: float
    status: str = Field(description="Unset, Ok or Error")
    status_message: str
    error_type: str
    order_id: str
    customer_id: str
    amount: float | None
    currency: str
    quantity: float | None
    biz_status: str


class KeyHistory(BaseModel):
    """Everything stored about one business key."""

    key: str
    found: bool
    traces: int = Field(description="distinct traces the key appears in")
    systems: list[str] = Field(description="systems in order of first appearance")
    hops: list[Hop]


def key_history(store: Store, key: str, limit: int = 10_000) -> KeyHistory:
    """Every hop carrying ``key``, oldest first (at most ``limit``).

    An order id is read straight from ``biz_hops``'s primary key; any other id (or an order
    id never stored) goes through ``biz_keys``.
    """
    parameters = {"db": store.database, "key": key, "limit": limit}
    rows = list(store.client.query(_ORDER_HOPS, parameters=parameters).named_results())
    if not rows:
        rows = list(store.client.query(_KEY_HOPS, parameters=parameters).named_results())
    hops = []
    for row in rows:
        row["duration_ms"] = row.pop("duration_ns") / 1e6
        hops.append(Hop(**row))
    systems: list[str] = []
    for hop in hops:
        if hop.system not in systems:
            systems.append(hop.system)
    return KeyHistory(key=key, found=bool(hops), traces=len({hop.trace_id for hop in hops}), systems=systems, hops=hops)
