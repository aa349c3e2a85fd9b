"""A distributor's business as hops: orders, shipments, invoices, payments, returns, master data.

Pure and deterministic: the same :class:`Scenario` always yields the same hops, ids and
faults. Each system's work is its own trace at its own time (the CRM capture, the ERP
acceptance batch, each WMS shipment, each invoice run), stitched only by business keys,
as in real life.

Normal delays stay inside the default SLAs (``DELAYS_MIN`` below), so an order that looks
overdue is one the scenario made stuck, failed or dead-lettered, and the ground truth says
exactly which.

Every hop is yielded, past and future: backfill sends those up to ``scenario.now``, and live
mode sends the rest when their time comes. A fault's ``at_ns`` says from when its evidence
exists, so the ground truth at any moment is the faults with ``at_ns`` up to it.

``Scenario.varied`` sends the same world the way real producers differ (:func:`vary`): only
CONVENTIONS v2's minimum, other systems for some stages, keys linked on separate hops. The
random draws are the same, so ids, times and faults are too (a fault names the varied system).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from biztrace.simulator.scenario import FAULT_KINDS, Scenario

NS_PER_MIN = 60 * 1_000_000_000

CAPTURE_SYSTEM = {
    "web": "ecommerce",
    "edi": "edi",
    "marketplace": "ecommerce",
    "field_sales": "crm",
    "portal": "portal",
}
CHANNELS = ("web", "edi", "marketplace", "field_sales", "portal")
CHANNEL_WEIGHTS = (0.35, 0.25, 0.15, 0.15, 0.10)
PRIORITIES = ("high", "normal", "low")
PRIORITY_WEIGHTS = (0.1, 0.8, 0.1)

DELAYS_MIN = {
    "route": (0.5, 3),  # middleware picks the order up
    "accept": (5, 30),  # ERP acceptance batch (SLA 60 min after capture)
    "allocate": (10, 120),  # WMS allocation (SLA 4 h after acceptance)
    "ship": (120, 1440),  # first shipment (SLA 48 h after allocation)
    "backorder": (1440, 2400),  # second shipment of a backordered line, after allocation
    "invoice": (30, 360),  # invoice per shipment (SLA 24 h after the shipment)
    "payment": (1440, 20 * 1440),  # payment (SLA 45 days after the invoice)
    "return_authorized": (1440, 10 * 1440),
    "return_received": (1440, 5 * 1440),
    "return_inspected": (720, 2880),
    "return_dispositioned": (60, 1440),
    "credit_memo": (60, 2880),
    "customer_validated": (1, 10),
    "customer_synced": (5, 60),
    "duplicate": (0.05, 2),
}
"""Minutes from the previous hop, as (low, high) of a uniform draw."""

VARIED_SYSTEMS = {"invoice.posted": "billing", "return.received": "erp"}
"""With ``Scenario.varied``: who reports these stages instead of the system the defaults name."""


@dataclass(slots=True)
class Hop:
    """One span to emit: a system's work on one step of one business transaction."""

    system: str
    name: str
    trace_id: bytes
    span_id: bytes
    parent_id: bytes
    start_ns: int
    end_ns: int
    attributes: dict[str, object]
    kind: int = 1  # OTLP SPAN_KIND_INTERNAL
    error: str = ""  # status message of a failed hop; empty when it succeeded


class Fault(BaseModel):
    """One injected problem, as detection should report it."""

    process: str
    key: str = Field(description="the business key's value (order or return id)")
    kind: str = Field(description="exception kind of CONVENTIONS: stuck, failed, duplicate, dead_letter, mismatch")
    fault: str = Field(description="what the simulator did, e.g. amount_mismatch")
    stage: str = Field(description="the stage concerned (for stuck: the last stage reached)")
    system: str
    at_ns: int = Field(description="when the evidence happened (for stuck: the last hop)")
    detail: dict[str, object] = Field(default_factory=dict)


@dataclass
class World:
    """Counts of what was generated, and the faults whose evidence exists by ``now``."""

    orders: int = 0
    returns: int = 0
    customer_updates: int = 0
    hops: int = 0
    faults: list[Fault] = field(default_factory=list)


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def trace(self) -> bytes:
        return self.rng.randbytes(16)

    def span(self) -> bytes:
        return self.rng.randbytes(8)


def generate(scenario: Scenario, world: World | None = None) -> Iterator[Hop]:
    """Yield every hop of the orders captured in the scenario's window, past and future.

    Orders are captured between ``now - days`` and ``now``; their later hops may lie after
    ``now``. Hops come order by order, not in time order.

    ``world`` (if given) receives the counts and the ground-truth faults as generation goes.
    """
    world = world if world is not None else World()
    rng = random.Random(scenario.seed)
    ids = _Ids(rng)
    now_ns = int(scenario.now.timestamp() * 1e9)
    start_ns = now_ns - int(scenario.days * 1440 * NS_PER_MIN)
    span_ns = now_ns - start_ns
    n_orders = max(1, round(scenario.orders_per_day * scenario.days))
    prices = [round(rng.uniform(2, 400), 2) for _ in range(scenario.skus)]
    fault_names = [name for name in FAULT_KINDS if getattr(scenario.faults, name) > 0]
    fault_weights = [getattr(scenario.faults, name) for name in fault_names]
    no_fault = 1 - sum(fault_weights)

    for number in range(n_orders):
        t0 = start_ns + (span_ns * number) // n_orders + rng.randrange(0, max(1, span_ns // n_orders))
        fault = rng.choices([*fault_names, ""], [*fault_weights, no_fault])[0] if fault_names else ""
        world.orders += 1
        for hop in _order(scenario, rng, ids, prices, f"O-{scenario.seed}-{number:07d}", t0, fault, world):
            world.hops += 1
            yield hop
    n_updates = round(scenario.customer_updates_per_day * scenario.days)
    for number in range(n_updates):
        t0 = start_ns + (span_ns * number) // max(1, n_updates)
        for hop in _customer_update(scenario, rng, ids, number, t0):
            world.hops += 1
            yield hop
        world.customer_updates += 1


def _minutes(rng: random.Random, step: str) -> int:
    low, high = DELAYS_MIN[step]
    return int(rng.uniform(low, high) * NS_PER_MIN)


def _work(rng: random.Random, low_ms: int = 20, high_ms: int = 900) -> int:
    return rng.randrange(low_ms, high_ms) * 1_000_000


def _order(scenario, rng, ids, prices, order_id, t0, fault, world) -> Iterator[Hop]:  # noqa: C901
    channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
    priority = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
    customer = f"C-{int(rng.paretovariate(1.2) * 7) % scenario.customers:05d}"
    lines = []
    for _ in range(rng.randint(1, 5)):
        sku = rng.randrange(scenario.skus)
        lines.append((f"SKU-{sku:05d}", rng.randint(1, 20), prices[sku]))
    skus = [sku for sku, _, _ in lines]
    quantity = float(sum(q for _, q, _ in lines))
    amount = round(sum(q * p for _, q, p in lines), 2)
    base = {
        "order.id": order_id,
        "customer.id": customer,
        "biz.process": "order_to_cash",
        "biz.channel": channel,
        "biz.priority": priority,
        "biz.currency": "EUR",
    }
    process = "order_to_cash"
    stuck_at = ""
    if fault == "stuck":
        stuck_at = rng.choice(
            ["order.captured", "order.accepted", "inventory.allocated", "shipment.confirmed", "invoice.posted"]
        )
    failed = rng.choice(["order.accepted", "inventory.allocated", "invoice.posted"]) if fault == "failed" else ""
    duplicate_of = rng.choice(["order.captured", "order.accepted", "invoice.posted"]) if fault == "duplicate" else ""
    last: list[Hop] = []

    def hop(system, name, stage, start, *, trace=None, parent=b"", extra=None, error="", status="", event=True):
        attributes = dict(base)
        attributes["biz.system"] = system
        if stage:
            attributes["biz.stage"] = stage
        if status:
            attributes["biz.status"] = status
        if extra:
            attributes.update(extra)
        if event and stage:
            instance = attributes.get("shipment.id") or attributes.get("invoice.id") or ""
            attributes["biz.event_id"] = f"{order_id}:{stage}:{instance}"
        made = Hop(
            system, name, trace or ids.trace(), ids.span(), parent, start, start + _work(rng), attributes,
            error=error,
        )  # fmt: skip
        if error:
            made.attributes["error.type"] = error
        return made

    def record(kind, stage, system, at_ns, **detail):
        system = VARIED_SYSTEMS.get(stage, system) if scenario.varied else system
        world.faults.append(Fault(process=process, key=order_id, kind=kind, fault=fault or kind, stage=stage,
                                      system=system, at_ns=at_ns, detail=detail))  # fmt: skip

    def emit(*hops: Hop, keep_order: bool = False) -> Iterator[Hop]:
        for item in hops:
            if scenario.varied:
                vary(item, keep_order=keep_order)
            if item.attributes.get("biz.stage"):
                last[:] = [item]
            yield item

    def stop_if_stuck(stage: str) -> bool:
        """Stop here when the scenario made this order stuck at ``stage``."""
        if stuck_at != stage:
            return False
        if last and last[0].attributes.get("biz.stage") == stage:
            record("stuck", stage, last[0].system, last[0].start_ns)
        return True

    def duplicate(original: Hop) -> Iterator[Hop]:
        copy = Hop(original.system, original.name, ids.trace(), ids.span(), b"",
                   original.start_ns + _minutes(rng, "duplicate"), 0, dict(original.attributes))  # fmt: skip
        copy.end_ns = copy.start_ns + _work(rng)
        record("duplicate", str(original.attributes.get("biz.stage", "")), original.system, copy.start_ns,
                   event_id=original.attributes["biz.event_id"])  # fmt: skip
        yield from emit(copy)

    # capture in the channel's system, routed by middleware in the same trace
    capture_system = CAPTURE_SYSTEM[channel]
    capture = hop(capture_system, f"{capture_system}.order.capture", "order.captured", t0,
                  extra={"sku.ids": skus, "biz.amount": amount, "biz.quantity": quantity},
                  status="closed_won" if capture_system == "crm" else "open")  # fmt: skip
    capture.kind = 2  # SERVER: the channel received the order
    yield from emit(capture)
    if duplicate_of == "order.captured":
        yield from duplicate(capture)
    t = t0 + _minutes(rng, "route")
    route = hop("middleware", "middleware.route_order", "", t, trace=capture.trace_id, parent=capture.span_id,
                status="routed")  # fmt: skip
    route.kind = 5  # CONSUMER
    if fault == "dead_letter":
        route.attributes["biz.dead_letter"] = True
        route.attributes["biz.status"] = "parked"
        record("dead_letter", "order.captured", "middleware", route.start_ns)
        yield from emit(route)
        return
    yield from emit(route)
    if stop_if_stuck("order.captured"):
        return

    # ERP acceptance: its own batch trace, with credit, pricing and tax steps
    t += _minutes(rng, "accept")
    error = "credit_hold" if failed == "order.accepted" else ""
    accept = hop("erp", "erp.order.accept", "order.accepted", t, error=error,
                 extra={"sku.ids": skus, "biz.amount": amount, "biz.quantity": quantity},
                 status="on_hold" if error else "accepted")  # fmt: skip
    steps = []
    for step in ("credit_check", "pricing", "tax"):
        child = hop("erp", f"erp.{step}", "", accept.start_ns + _work(rng, 1, 50), trace=accept.trace_id,
                    parent=accept.span_id, event=False)  # fmt: skip
        steps.append(child)
    yield from emit(accept, *steps)
    if error:
        record("failed", "order.accepted", "erp", accept.start_ns, error_type=error)
        return
    if duplicate_of == "order.accepted":
        yield from duplicate(accept)
    if stop_if_stuck("order.accepted"):
        return

    # WMS allocation; a backordered line ships later as a second shipment
    t += _minutes(rng, "allocate")
    backordered = len(lines) > 1 and rng.random() < scenario.backorder_rate
    first_lines = lines[:-1] if backordered else lines
    allocated = float(sum(q for _, q, _ in first_lines))
    error = "timeout" if failed == "inventory.allocated" else ""
    allocate = hop("wms", "wms.allocate", "inventory.allocated", t, error=error,
                   extra={"sku.ids": skus, "biz.quantity": allocated},
                   status="partially_allocated" if backordered else "allocated")  # fmt: skip
    yield from emit(allocate)
    if error:
        record("failed", "inventory.allocated", "wms", allocate.start_ns, error_type=error)
        return
    if stop_if_stuck("inventory.allocated"):
        return

    if rng.random() < scenario.substitution_rate:  # the WMS ships an equivalent SKU for the first line
        sku, quantity_, price = first_lines[0]
        first_lines = [(f"{sku}-SUB", quantity_, price), *first_lines[1:]]
    shipments = [(first_lines, t + _minutes(rng, "ship"))]
    if backordered:
        shipments.append((lines[-1:], t + _minutes(rng, "backorder")))
    broken = rng.randrange(len(shipments))  # which shipment a mismatch or missing hop concerns
    invoices = []
    for index, (ship_lines, ship_t) in enumerate(shipments):
        shipment_id = f"SH-{order_id[2:]}-{index + 1}"
        ship_qty = float(sum(q for _, q, _ in ship_lines))
        ship_amount = round(sum(q * p for _, q, p in ship_lines), 2)
        keys = {"shipment.id": shipment_id, "sku.ids": [s for s, _, _ in ship_lines]}
        substituted = any(sku.endswith("-SUB") for sku, _, _ in ship_lines)
        shipped = "shipped_substitute" if substituted else "shipped"
        ship = hop("wms", "wms.ship", "shipment.confirmed", ship_t, status=shipped,
                   extra={**keys, "biz.quantity": ship_qty, "biz.amount": ship_amount})  # fmt: skip
        carrier = hop("tms", "tms.book_carrier", "", ship_t + _work(rng, 5, 200), trace=ship.trace_id,
                      parent=ship.span_id, extra=keys, status="booked", event=False)  # fmt: skip
        carrier.kind = 3  # CLIENT: a call to the carrier
        missing = fault == "missing_hop" and index == broken  # the WMS never reports this shipment
        if not missing:
            yield from emit(ship, carrier)
        if stop_if_stuck("shipment.confirmed"):
            return
        inv_amount, inv_qty = ship_amount, ship_qty
        inv_t = ship_t + _minutes(rng, "invoice")
        if fault == "amount_mismatch" and index == broken:
            inv_amount = round(ship_amount * (1 + rng.choice([-1, 1]) * rng.uniform(0.03, 0.15)), 2)
            record("mismatch", "invoice.posted", "erp", inv_t, field="amount", shipment_id=shipment_id,
                   wms=ship_amount, erp=inv_amount)  # fmt: skip
        if fault == "quantity_mismatch" and index == broken:
            inv_qty = ship_qty + rng.randint(1, 5)
            record("mismatch", "invoice.posted", "erp", inv_t, field="quantity", shipment_id=shipment_id,
                   wms=ship_qty, erp=inv_qty)  # fmt: skip
        invoice_id = f"INV-{order_id[2:]}-{index + 1}"
        error = "mapping_failed" if failed == "invoice.posted" else ""
        invoice = hop("erp", "erp.invoice.post", "invoice.posted", inv_t, error=error,
                      extra={"shipment.id": shipment_id, "invoice.id": invoice_id, "biz.amount": inv_amount,
                             "biz.quantity": inv_qty, "sku.ids": [s for s, _, _ in ship_lines]},
                      status="rejected" if error else "posted")  # fmt: skip
        yield from emit(invoice, keep_order=missing)  # with no shipment hop, only the order id links it
        if missing:
            record("mismatch", "shipment.confirmed", "wms", invoice.start_ns, field="presence",
                   shipment_id=shipment_id, expected="wms shipment.confirmed before erp invoice.posted")  # fmt: skip
        if error:
            record("failed", "invoice.posted", "erp", invoice.start_ns, error_type=error)
            return
        if duplicate_of == "invoice.posted" and index == 0:
            yield from duplicate(invoice)
        if stop_if_stuck("invoice.posted"):
            return
        invoices.append((invoice_id, inv_amount, inv_t, ship_lines, ship_t))

    for invoice_id, inv_amount, inv_t, _, _ in invoices:
        pay = hop("billing", "billing.payment.apply", "payment.received", inv_t + _minutes(rng, "payment"),
                  extra={"invoice.id": invoice_id, "biz.amount": inv_amount}, status="paid")  # fmt: skip
        yield from emit(pay)

    if not fault and invoices and rng.random() < scenario.return_rate:
        for item in _return(rng, ids, base, order_id, invoices[0], world):
            yield vary(item) if scenario.varied else item


def vary(hop: Hop, *, keep_order: bool = False) -> Hop:
    """The hop as a varied producer sends it (``Scenario.varied``); changes it in place, idempotent.

    No ``biz.process`` or ``biz.system`` (the resource's ``service.name`` is ``hop.system``); the
    stages of ``VARIED_SYSTEMS`` reported by other systems; keys linked on separate hops: an
    invoice carries ``invoice.id`` + ``shipment.id`` (``keep_order``: also ``order.id``), a payment
    ``invoice.id``, a carrier booking ``shipment.id``, a return after its authorization ``return.id``.
    """
    attributes = hop.attributes
    attributes.pop("biz.process", None)
    attributes.pop("biz.system", None)
    stage = str(attributes.get("biz.stage", ""))
    hop.system = VARIED_SYSTEMS.get(stage, hop.system)
    if "return.id" in attributes:
        linked = stage == "return.authorized"  # the one return hop that names the order
    elif "invoice.id" in attributes:
        linked = keep_order
    else:
        linked = "shipment.id" not in attributes or bool(stage)  # the shipment hop links shipment and order
    if not linked:
        attributes.pop("order.id", None)
        attributes.pop("customer.id", None)
    return hop


def _return(rng, ids, base, order_id, invoice, world) -> Iterator[Hop]:
    _, _, _, ship_lines, ship_t = invoice
    sku, qty, price = ship_lines[0]
    returned = float(rng.randint(1, qty))
    return_id = f"R-{order_id[2:]}"
    attributes = {**base, "biz.process": "returns", "return.id": return_id, "sku.ids": [sku],
                  "biz.quantity": returned}  # fmt: skip
    steps = (
        ("portal", "return.authorized", "return_authorized", "authorized"),
        ("wms", "return.received", "return_received", "received"),
        ("wms", "return.inspected", "return_inspected", "inspected"),
        ("erp", "return.dispositioned", "return_dispositioned", "restocked"),
        ("erp", "credit_memo.posted", "credit_memo", "credited"),
    )
    t = ship_t
    for system, stage, delay, status in steps:
        t += _minutes(rng, delay)
        extra = {"biz.system": system, "biz.stage": stage, "biz.status": status, "biz.event_id": f"{return_id}:{stage}"}
        if stage == "credit_memo.posted":
            extra["biz.amount"] = round(returned * price, 2)
        yield Hop(system, f"{system}.{stage}", ids.trace(), ids.span(), b"", t, t + _work(rng),
                  {**attributes, **extra})  # fmt: skip
    world.returns += 1


def _customer_update(scenario, rng, ids, number, t0) -> Iterator[Hop]:
    customer = f"C-{rng.randrange(scenario.customers):05d}"
    t = t0
    for system, stage, delay in (
        ("crm", "customer.updated", None),
        ("middleware", "customer.validated", "customer_validated"),
        ("erp", "customer.synced", "customer_synced"),
    ):
        if delay:
            t += _minutes(rng, delay)
        attributes = {"customer.id": customer, "biz.process": "customer_master", "biz.stage": stage,
                      "biz.system": system, "biz.event_id": f"CU-{scenario.seed}-{number}:{stage}"}  # fmt: skip
        made = Hop(system, f"{system}.{stage}", ids.trace(), ids.span(), b"", t, t + _work(rng), attributes)
        yield vary(made) if scenario.varied else made
