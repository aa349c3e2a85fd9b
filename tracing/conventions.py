"""Business span attribute names from ``shared/CONVENTIONS.md`` (v2).

Stdlib only: every other package may import this module, and user applications
import it through ``tracing`` without pulling in anything of the collector.
"""

from __future__ import annotations

ORDER_ID = "order.id"
"""The order's business key (the key of ``order_to_cash``)."""
CUSTOMER_ID = "customer.id"
"""The customer account (bill-to)."""
SKU_IDS = "sku.ids"
"""The SKUs a hop handled: a string array, or a single string."""
INVOICE_ID = "invoice.id"
"""Invoice number, once one exists."""
SHIPMENT_ID = "shipment.id"
"""Shipment / delivery number."""
RETURN_ID = "return.id"
"""Return authorization (RMA) number (the key of ``returns``)."""

PROCESS = "biz.process"
"""Business process, e.g. ``order_to_cash``."""
STAGE = "biz.stage"
"""The milestone a hop reached, e.g. ``order.captured``."""
SYSTEM = "biz.system"
"""System of record of a hop; defaults to the resource's ``service.name``."""
CHANNEL = "biz.channel"
"""Sales channel: ``web``, ``edi``, ``marketplace``, ``field_sales``, ``portal``."""
PRIORITY = "biz.priority"
"""SLA class: ``high``, ``normal`` (default), ``low``."""
AMOUNT = "biz.amount"
"""Monetary amount as this system records it at this stage (double)."""
CURRENCY = "biz.currency"
"""ISO 4217 code of ``biz.amount``."""
QUANTITY = "biz.quantity"
"""Units as this system records them at this stage (double)."""
STATUS = "biz.status"
"""The system's own status word for the entity."""
EVENT_ID = "biz.event_id"
"""Idempotency key of the business event; seen twice means a duplicate delivery."""
DEAD_LETTER = "biz.dead_letter"
"""True when the hop parked the message in a dead-letter queue."""
ERROR_TYPE = "error.type"
"""OpenTelemetry's failure class, e.g. ``mapping_failed``."""

DROPPED = "biztrace.dropped"
"""Set by ``tracing.hop`` in production mode: the names of the attributes it left out as invalid."""

SERVICE_NAME = "service.name"
"""Resource attribute naming the emitting service."""

KEY_ATTRIBUTES: tuple[str, ...] = (ORDER_ID, CUSTOMER_ID, SKU_IDS, INVOICE_ID, SHIPMENT_ID, RETURN_ID)
"""Attributes that identify a business transaction."""

EXCEPTION_KINDS: tuple[str, ...] = ("stuck", "failed", "duplicate", "dead_letter", "mismatch")
"""Every exception about one transaction has one of these kinds."""
