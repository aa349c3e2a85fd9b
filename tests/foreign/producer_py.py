"""A webshop distributor's systems, instrumented with the plain OpenTelemetry Python SDK.

Nothing of biztrace is imported: this is what a customer's own code sends. Each system is its
own ``TracerProvider`` (``service.name`` = the system) with the stock OTLP/HTTP (protobuf)
exporter. The producer follows CONVENTIONS v2 only where it must and varies everything else:

* no ``biz.process``, no ``biz.system``, no channel, priority or currency on any hop;
* invoices and payments are posted by ``billing`` (not ``erp``), returns received by ``erp``;
* keys are linked on separate hops: the shipment hop carries ``shipment.id`` + ``order.id``, the
  invoice hop ``invoice.id`` + ``shipment.id`` only, the payment hop ``invoice.id`` only; a
  return's authorization carries ``return.id`` + ``order.id``, its later hops ``return.id`` only;
* ``biz.event_id`` only where the system has a message id (ERP and billing);
* one invoice span is exported twice (an exporter retry after a lost acknowledgement): a
  redelivery, not a business duplicate.

Usage: python producer_py.py --endpoint http://127.0.0.1:4318 --now 2026-11-20T12:00:00+00:00 --truth t.json
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

MIN = 60 * 1_000_000_000
HOUR = 60 * MIN
DAY = 24 * HOUR
O2C, RET, CUST = "order_to_cash", "returns", "customer_master"


class Producer:
    """The systems of one company, and what they sent (ground truth)."""

    def __init__(self, endpoint: str, now: datetime) -> None:
        self.endpoint = endpoint.rstrip("/") + "/v1/traces"
        self.now_ns = int(now.timestamp() * 1e9)
        self.now = now
        self.providers: dict[str, TracerProvider] = {}
        self.exporters: dict[str, OTLPSpanExporter] = {}
        self.faults: list[dict] = []
        self.clean: list[dict] = []
        self.trees: dict[str, dict] = {}
        self.spans = 0

    def tracer(self, service: str) -> trace.Tracer:
        if service not in self.providers:
            provider = TracerProvider(
                resource=Resource.create({"service.name": service, "deployment.environment": "foreign-test"})
            )
            exporter = OTLPSpanExporter(endpoint=self.endpoint)
            provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=200))
            self.providers[service], self.exporters[service] = provider, exporter
        return self.providers[service].get_tracer("acme.integration", "4.2.0")

    def hop(self, tree: str, service: str, name: str, at_ns: int, attributes: dict, *, parent=None,
            error: str = "", kind: SpanKind = SpanKind.INTERNAL, duration_ms: int = 140):  # fmt: skip
        """One span at ``now + at_ns`` (``at_ns`` is negative: the past), recorded in ``tree``."""
        start = self.now_ns + at_ns
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer(service).start_span(name, context=context, kind=kind, attributes=attributes,
                                               start_time=start)  # fmt: skip
        if error:
            span.set_attribute("error.type", error)
            span.set_status(Status(StatusCode.ERROR, f"{name}: {error}"))
        span.end(end_time=start + duration_ms * 1_000_000)
        self.spans += 1
        entry = self.trees.setdefault(tree, {"keys": [], "span_ids": []})
        entry["span_ids"].append(format(span.get_span_context().span_id, "016x"))
        for attribute in ("order.id", "shipment.id", "invoice.id", "return.id"):
            value = attributes.get(attribute)
            if value and value not in entry["keys"]:
                entry["keys"].append(value)
        return span

    def fault(self, process: str, key: str, kind: str, stage: str, why: str, value: float | None = None) -> None:
        self.faults.append({"process": process, "key": key, "kind": kind, "stage": stage, "value": value, "why": why})

    def ok(self, process: str, key: str, why: str) -> None:
        self.clean.append({"process": process, "key": key, "why": why})

    # ---- the business ------------------------------------------------------------------------

    def capture(self, order: str, customer: str, at: int):
        return self.hop(order, "webshop", "checkout.place_order", at,
                        {"order.id": order, "customer.id": customer, "biz.stage": "order.captured"},
                        kind=SpanKind.SERVER)  # fmt: skip

    def accept(self, order: str, at: int, amount: float, quantity: float, *, error: str = "", event: str = ""):
        released = {"order.id": order, "biz.stage": "order.accepted", "biz.amount": amount, "biz.quantity": quantity,
                    "biz.event_id": event or f"ERP-{order}-REL"}  # fmt: skip
        span = self.hop(order, "erp", "SalesOrder.Release", at, released, error=error)
        for offset, step in ((2, "credit_check"), (5, "pricing")):  # children: only the order id, no stage
            self.hop(order, "erp", step, at + offset * 1_000_000, {"order.id": order}, parent=span, duration_ms=3)
        return span

    def allocate(self, order: str, at: int, quantity: float, *, error: str = ""):
        return self.hop(order, "wms", "wave.allocate", at,
                        {"order.id": order, "biz.stage": "inventory.allocated", "biz.quantity": quantity},
                        error=error)  # fmt: skip

    def ship(self, order: str, shipment: str, at: int, quantity: float, amount: float):
        return self.hop(order, "wms", "shipment.confirm", at,
                        {"order.id": order, "shipment.id": shipment, "biz.stage": "shipment.confirmed",
                         "biz.quantity": quantity, "biz.amount": amount})  # fmt: skip

    def invoice(self, order: str, invoice: str, shipment: str, at: int, amount: float, quantity: float, *,
                error: str = ""):  # fmt: skip
        """Billing posts the invoice of one shipment: invoice id and shipment id, no order id."""
        return self.hop(order, "billing", "invoice.post", at,
                        {"invoice.id": invoice, "shipment.id": shipment, "biz.stage": "invoice.posted",
                         "biz.amount": amount, "biz.quantity": quantity, "biz.event_id": f"BIL-{invoice}"},
                        error=error)  # fmt: skip

    def pay(self, order: str, invoice: str, at: int, amount: float):
        return self.hop(order, "billing", "payment.apply", at,
                        {"invoice.id": invoice, "biz.stage": "payment.received", "biz.amount": amount,
                         "biz.event_id": f"PAY-{invoice}"})  # fmt: skip

    def return_(self, order: str, rma: str, at: int, quantity: float, credit: float, *, until: str = ""):
        """A return: authorized on the portal (RMA + order id), then RMA id only; the ERP books the receipt."""
        steps = (
            ("portal", "rma.authorize", "return.authorized", 0, {"order.id": order}),
            ("erp", "goods_receipt.post", "return.received", 2 * DAY, {"biz.quantity": quantity}),
            ("wms", "inspection.complete", "return.inspected", 3 * DAY, {"biz.quantity": quantity}),
            ("erp", "disposition.set", "return.dispositioned", 3 * DAY + 4 * HOUR, {}),
            ("billing", "credit_memo.post", "credit_memo.posted", 3 * DAY + 9 * HOUR,
             {"biz.amount": credit, "biz.quantity": quantity}),
        )  # fmt: skip
        for service, name, stage, offset, extra in steps:
            self.hop(order, service, name, at + offset, {"return.id": rma, "biz.stage": stage, **extra})
            if stage == until:
                return

    def customer(self, customer: str, at: int, *, until: str = "", fails: str = ""):
        """One update cycle of a customer's master data (a customer is updated again and again: one key, many
        cycles); ``fails``: the stage whose hop ends in ERROR."""
        for service, name, stage, offset in (("crm", "account.update", "customer.updated", 0),
                                             ("mdm", "golden_record.validate", "customer.validated", 10 * MIN),
                                             ("erp", "debtor.sync", "customer.synced", 40 * MIN)):  # fmt: skip
            self.hop(customer, service, name, at + offset, {"customer.id": customer, "biz.stage": stage},
                     error="DebtorLocked" if stage == fails else "")  # fmt: skip
            if stage in (until, fails):
                return

    def full(self, order: str, at: int, amount: float, quantity: float) -> None:
        """A clean order, from capture to payment, one shipment."""
        number = order.split("-")[1]
        self.capture(order, f"CUST-{number}", at)
        self.accept(order, at + 15 * MIN, amount, quantity)
        self.allocate(order, at + 75 * MIN, quantity)
        self.ship(order, f"SHP-{number}", at + 20 * HOUR, quantity, amount)
        self.invoice(order, f"INV-{number}", f"SHP-{number}", at + 22 * HOUR, amount, quantity)
        self.pay(order, f"INV-{number}", at + 4 * DAY, amount)

    def world(self) -> None:  # noqa: PLR0915
        # clean: a whole order to payment, and its return received by the ERP (not the WMS)
        self.full("WEB-1001", -9 * DAY, 412.50, 5)
        self.return_("WEB-1001", "RMA-1001", -5 * DAY, 1, 82.50)
        self.ok(O2C, "WEB-1001", "complete order; invoice hop carries invoice.id + shipment.id only")
        self.ok(RET, "RMA-1001", "clean return: receipt booked by erp, later hops carry only return.id")

        # clean: partial shipments, each invoiced on its own (amounts and quantities add up at order level)
        self.capture("WEB-1002", "CUST-1002", -4 * DAY)
        self.accept("WEB-1002", -4 * DAY + 10 * MIN, 800.0, 10)
        self.allocate("WEB-1002", -4 * DAY + 2 * HOUR, 10)
        self.ship("WEB-1002", "SHP-1002-1", -3 * DAY, 6, 480.0)
        self.invoice("WEB-1002", "INV-1002-1", "SHP-1002-1", -3 * DAY + 3 * HOUR, 480.0, 6)
        self.ship("WEB-1002", "SHP-1002-2", -2 * DAY, 4, 320.0)
        self.invoice("WEB-1002", "INV-1002-2", "SHP-1002-2", -2 * DAY + 5 * HOUR, 320.0, 4)
        self.ok(O2C, "WEB-1002", "two partial shipments, each invoiced; payment not due yet")

        # clean: in progress, nothing overdue yet
        self.capture("WEB-1003", "CUST-1003", -30 * MIN)
        self.accept("WEB-1003", -20 * MIN, 99.90, 1)
        self.ok(O2C, "WEB-1003", "accepted 20 minutes ago; allocation not due for 4 h")

        # clean: the invoice span reaches the collector twice (exporter retry): a redelivery, not a duplicate
        self.capture("WEB-1004", "CUST-1004", -3 * DAY)
        self.accept("WEB-1004", -3 * DAY + 12 * MIN, 150.0, 3)
        self.allocate("WEB-1004", -3 * DAY + HOUR, 3)
        self.ship("WEB-1004", "SHP-1004", -2 * DAY, 3, 150.0)
        redelivered = self.invoice("WEB-1004", "INV-1004", "SHP-1004", -2 * DAY + 2 * HOUR, 150.0, 3)
        self.ok(O2C, "WEB-1004", "its invoice span was exported twice (a retry): must not be a duplicate")

        # stuck: accepted 10 h ago, never allocated (SLA 4 h)
        self.capture("WEB-1101", "CUST-1101", -10 * HOUR - 20 * MIN)
        self.accept("WEB-1101", -10 * HOUR, 250.0, 2)
        self.fault(O2C, "WEB-1101", "stuck", "order.accepted", "accepted 10 h ago, no allocation (SLA 4 h)", 250.0)

        # stuck: shipped 3 days ago, never invoiced (SLA 24 h)
        self.capture("WEB-1102", "CUST-1102", -4 * DAY)
        self.accept("WEB-1102", -4 * DAY + 20 * MIN, 640.0, 8)
        self.allocate("WEB-1102", -4 * DAY + 3 * HOUR, 8)
        self.ship("WEB-1102", "SHP-1102", -3 * DAY, 8, 640.0)
        self.fault(O2C, "WEB-1102", "stuck", "shipment.confirmed", "shipped 3 days ago, no invoice (SLA 24 h)", 640.0)

        # failed: the ERP puts the order on credit hold
        self.capture("WEB-1201", "CUST-1201", -2 * DAY)
        self.accept("WEB-1201", -2 * DAY + 30 * MIN, 5200.0, 40, error="credit_hold")
        self.fault(O2C, "WEB-1201", "failed", "order.accepted", "erp release ended in ERROR (credit_hold)", 5200.0)

        # failed: billing cannot post the invoice (hop carries invoice.id + shipment.id only)
        self.capture("WEB-1202", "CUST-1202", -3 * DAY)
        self.accept("WEB-1202", -3 * DAY + 10 * MIN, 300.0, 3)
        self.allocate("WEB-1202", -3 * DAY + HOUR, 3)
        self.ship("WEB-1202", "SHP-1202", -2 * DAY, 3, 300.0)
        self.invoice("WEB-1202", "INV-1202", "SHP-1202", -2 * DAY + HOUR, 300.0, 3, error="mapping_failed")
        why = "billing invoice.post ERROR (mapping_failed); linked to the order only through SHP-1202"
        self.fault(O2C, "WEB-1202", "failed", "invoice.posted", why, 300.0)

        # duplicate: the ERP's release message is processed twice (two spans, one biz.event_id)
        self.capture("WEB-1301", "CUST-1301", -2 * DAY)
        self.accept("WEB-1301", -2 * DAY + 15 * MIN, 75.0, 1, event="ERP-WEB-1301-REL")
        self.accept("WEB-1301", -2 * DAY + 19 * MIN, 75.0, 1, event="ERP-WEB-1301-REL")
        self.allocate("WEB-1301", -2 * DAY + HOUR, 1)
        self.ship("WEB-1301", "SHP-1301", -1 * DAY, 1, 75.0)
        self.invoice("WEB-1301", "INV-1301", "SHP-1301", -1 * DAY + HOUR, 75.0, 1)
        self.fault(O2C, "WEB-1301", "duplicate", "order.accepted", "ERP-WEB-1301-REL delivered in two spans", 75.0)

        # dead letter: the ESB parks the captured order (a hop with the order id and no stage)
        capture = self.capture("WEB-1401", "CUST-1401", -6 * HOUR)
        self.hop("WEB-1401", "esb", "orders.route", -6 * HOUR + 2 * MIN,
                 {"order.id": "WEB-1401", "biz.dead_letter": True}, parent=capture, kind=SpanKind.CONSUMER)  # fmt: skip
        self.fault(O2C, "WEB-1401", "dead_letter", "order.captured", "esb parked the message after capture", None)

        # mismatch: billing invoices 12 units of a shipment of 10 (paired through shipment.id, posted by billing)
        self.capture("WEB-1501", "CUST-1501", -3 * DAY)
        self.accept("WEB-1501", -3 * DAY + 10 * MIN, 500.0, 10)
        self.allocate("WEB-1501", -3 * DAY + HOUR, 10)
        self.ship("WEB-1501", "SHP-1501", -2 * DAY, 10, 500.0)
        self.invoice("WEB-1501", "INV-1501", "SHP-1501", -2 * DAY + 2 * HOUR, 500.0, 12)
        self.fault(O2C, "WEB-1501", "mismatch", "invoice.posted", "quantity: invoiced 12, shipped 10 (SHP-1501)",
                   500.0)  # fmt: skip

        # stuck return: received by the ERP 18 days ago, never inspected (SLA 3 d); its order is clean
        self.full("WEB-1601", -30 * DAY, 90.0, 3)
        self.return_("WEB-1601", "RMA-1601", -20 * DAY, 1, 30.0, until="return.received")
        self.ok(O2C, "WEB-1601", "complete order (its return is stuck, not the order)")
        self.fault(RET, "RMA-1601", "stuck", "return.received", "received by erp 18 days ago, no inspection (3 d)",
                   None)  # fmt: skip

        # clean customer master update
        self.customer("CUST-9001", -5 * HOUR)
        self.ok(CUST, "CUST-9001", "updated, validated, synced")

        # a customer updated again: the first cycle synced three days ago, the second's sync failed
        self.customer("CUST-9002", -3 * DAY)
        self.customer("CUST-9002", -4 * HOUR, fails="customer.synced")
        self.fault(CUST, "CUST-9002", "failed", "customer.synced",
                   "second update cycle: sync failed (the first cycle synced)", None)  # fmt: skip
        # and the other way round: an earlier cycle's sync failed, the latest update went through
        self.customer("CUST-9003", -2 * DAY, fails="customer.synced")
        self.customer("CUST-9003", -6 * HOUR)
        self.ok(CUST, "CUST-9003", "an earlier update's sync failed; the latest update synced")

        for provider in self.providers.values():
            provider.force_flush()
        self.exporters["billing"].export([redelivered])  # the same span, delivered a second time

    def close(self) -> None:
        for provider in self.providers.values():
            provider.shutdown()

    def truth(self) -> dict:
        return {"producer": "python-sdk", "now": self.now.isoformat(), "spans": self.spans, "faults": self.faults,
                "clean": self.clean, "trees": self.trees}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--now", required=True, type=datetime.fromisoformat)
    parser.add_argument("--truth", required=True, type=Path)
    args = parser.parse_args()
    producer = Producer(args.endpoint, args.now)
    try:
        producer.world()
    finally:
        producer.close()
    args.truth.write_text(json.dumps(producer.truth(), indent=2))


if __name__ == "__main__":
    main()
