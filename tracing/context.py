"""Business keys in OpenTelemetry baggage, so they travel with the work.

Baggage crosses threads (with :func:`tracing.propagate`), asyncio tasks, HTTP calls and
message headers (W3C ``baggage``); :class:`tracing.BusinessSpanProcessor` copies the keys
onto every span started under them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import baggage, context

from biztrace.tracing import conventions as c

BAGGAGE_KEYS = (c.ORDER_ID, c.CUSTOMER_ID, c.SKU_IDS, c.INVOICE_ID, c.SHIPMENT_ID, c.RETURN_ID, c.PROCESS)
"""Keys carried in baggage: the business keys and the process."""


def with_keys(keys: Mapping[str, object], ctx: context.Context | None = None) -> context.Context:
    """A context carrying these keys in baggage (sku.ids as a comma-separated list)."""
    for name, value in keys.items():
        if value is None or value == "" or value == []:
            continue
        text = ",".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
        ctx = baggage.set_baggage(name, text, context=ctx)
    return ctx if ctx is not None else context.get_current()


@contextmanager
def business_context(
    *,
    order_id: str | None = None,
    customer_id: str | None = None,
    sku_ids: list[str] | None = None,
    invoice_id: str | None = None,
    shipment_id: str | None = None,
    return_id: str | None = None,
) -> Iterator[context.Context]:
    """Put business keys in baggage for the block; every span started inside carries them.

    Example:
        with business_context(order_id="O-1182", customer_id="C-77"):
            call_wms()  # its spans, and the WMS's if it propagates, carry order.id
    """
    keys = {c.ORDER_ID: order_id, c.CUSTOMER_ID: customer_id, c.SKU_IDS: sku_ids, c.INVOICE_ID: invoice_id,
            c.SHIPMENT_ID: shipment_id, c.RETURN_ID: return_id}  # fmt: skip
    token = context.attach(with_keys(keys))
    try:
        yield context.get_current()
    finally:
        context.detach(token)


def current_keys(ctx: context.Context | None = None) -> dict[str, str]:
    """The business keys in the (current) context's baggage."""
    found = baggage.get_all(ctx)
    return {name: str(found[name]) for name in BAGGAGE_KEYS if name in found}
