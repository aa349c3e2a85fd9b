"""Reconciliation on spans of plain-SDK producers that biztrace's simulator did not shape (issue 13, item 4).

The producers leave out biz.process and biz.system (service.name stands in), put order.id and
biz.amount on every hop but often no shipment.id, and post invoices from ``billing``.
"""

from __future__ import annotations

import json
from typing import Any

from biztrace.config import loads
from biztrace.readmodel.exceptions import detect
from biztrace.readmodel.reconcile import mismatches, parity, report

DEFAULTS = loads("{}")  # the built-in defaults: no side pins a system
# the rules these tests are about, without invoiced_vs_accepted (tested on its own below): an over-invoice
# is also above the accepted amount, which that rule names as a second finding of the same order
CONFIG = DEFAULTS.model_copy(
    update={"reconciliation": [r for r in DEFAULTS.reconciliation if r.name != "invoiced_vs_accepted"]}
)


def _hop(p: Any, service: str, stage: str, minute: float, order: str, amount: float | None = None,
         quantity: float | None = None, **extra: Any) -> None:  # fmt: skip
    attributes: dict[str, Any] = {"order.id": order, "biz.stage": stage, "biz.currency": "EUR", **extra}
    if amount is not None:
        attributes["biz.amount"] = amount
    if quantity is not None:
        attributes["biz.quantity"] = quantity
    p.span(service, f"{service} {stage}", minute, **attributes)


def _order(p: Any, order: str, accepted: float, shipments: list[float], invoices: list[float], start: float = 0,
           invoice_ids: bool = False, shipment_ids_on: str = "") -> None:  # fmt: skip
    """An order from a producer with no shipment.id (unless ``shipment_ids_on`` names the stage that has one)."""
    _hop(p, "shop", "order.captured", start, order, accepted)
    _hop(p, "erp", "order.accepted", start + 1, order, accepted)
    for n, amount in enumerate(shipments, start=1):
        extra = {"shipment.id": f"SH-{order}-{n}"} if shipment_ids_on == "shipment.confirmed" else {}
        _hop(p, "warehouse", "shipment.confirmed", start + 10 + n, order, amount, **extra)
    for n, amount in enumerate(invoices, start=1):
        extra = {"invoice.id": f"INV-{order}-{n}"} if invoice_ids else {}
        _hop(p, "billing", "invoice.posted", start + 20 + n, order, amount, **extra)


def _found(p: Any, config=CONFIG) -> set[tuple[str, str, str]]:
    return {(m.rule, m.key, m.field) for m in mismatches(p.store, config, p.now)}


def test_an_invoice_above_the_accepted_amount_is_flagged_when_hops_carry_no_shipment_id(producers: Any) -> None:
    _order(producers, "O-clean", 100.0, [100.0], [100.0])
    _order(producers, "O-over", 100.0, [100.0], [180.0], start=2)
    _order(producers, "O-split", 100.0, [60.0, 40.0], [60.0, 40.0], start=4)  # partial shipments, summed
    _order(producers, "O-split-one-invoice", 100.0, [60.0, 40.0], [100.0], start=6, invoice_ids=True)
    producers.flush()
    assert _found(producers) == {("invoice_vs_shipment", "O-over", "amount")}
    [found] = mismatches(producers.store, CONFIG, producers.now)
    assert (found.kind, found.process, found.key) == ("mismatch", "order_to_cash", "O-over")
    assert found.stage == "invoice.posted"
    assert found.match_key == "O-over"  # compared as a whole order
    assert (found.left, found.right) == (100.0, 180.0)
    assert (found.left_system, found.right_system) == ("warehouse", "billing")
    assert (found.amount, found.currency) == (100.0, "EUR")  # the order's value: what the ERP accepted
    assert len(found.evidence) == 2
    # the order page asks for its keys only: the same finding
    assert mismatches(producers.store, CONFIG, producers.now, keys=["O-over", "O-split"]) == [found]
    assert mismatches(producers.store, CONFIG, producers.now, keys=["O-split"]) == []


def test_the_flagged_invoice_is_a_mismatch_exception(producers: Any) -> None:
    _order(producers, "O-over", 100.0, [100.0], [180.0])
    _order(producers, "O-clean", 50.0, [50.0], [50.0], start=2)
    store = producers.flush()
    found = [(e.process, e.key, e.kind, e.stage) for e in detect(store, CONFIG, producers.now) if e.kind == "mismatch"]
    assert found == [("order_to_cash", "O-over", "mismatch", "invoice.posted")]


def test_shipments_with_ids_and_invoices_without_are_compared_per_order(producers: Any) -> None:
    # the WMS names its shipments, billing does not: neither side is missing, the order is compared whole
    _order(producers, "O-1", 100.0, [70.0, 30.0], [100.0], shipment_ids_on="shipment.confirmed")
    _order(producers, "O-2", 100.0, [70.0, 30.0], [70.0, 45.0], start=2, shipment_ids_on="shipment.confirmed")
    producers.flush()
    assert _found(producers) == {("invoice_vs_shipment", "O-2", "amount")}
    [row] = [r for r in parity(producers.store, CONFIG, producers.now, rule="invoice_vs_shipment", period="month")]
    assert (row.pairs, row.left_total, row.right_total, row.mismatched) == (2, 200.0, 215.0, 1)


def test_an_invoice_event_delivered_twice_is_counted_once(producers: Any) -> None:
    _order(producers, "O-1", 100.0, [100.0], [])
    for minute in (30, 31):  # the same business event, two deliveries (two spans)
        _hop(producers, "billing", "invoice.posted", minute, "O-1", 100.0, **{"biz.event_id": "INV-1:posted"})
    producers.flush()
    assert _found(producers) == set()


def test_an_invoice_without_any_shipment_is_a_presence_mismatch(producers: Any) -> None:
    _hop(producers, "shop", "order.captured", 0, "O-1", 100.0)
    _hop(producers, "billing", "invoice.posted", 5, "O-1", 100.0)
    producers.flush()
    assert _found(producers) == {("invoice_vs_shipment", "O-1", "presence")}


def test_a_side_with_no_amount_is_not_an_amount_mismatch(producers: Any) -> None:
    # a warehouse that records quantities, not money
    _hop(producers, "erp", "order.accepted", 0, "O-1", 100.0, 3)
    _hop(producers, "warehouse", "shipment.confirmed", 5, "O-1", quantity=3)
    _hop(producers, "billing", "invoice.posted", 6, "O-1", 100.0, 3)
    _hop(producers, "warehouse", "shipment.confirmed", 7, "O-2", quantity=3)
    _hop(producers, "billing", "invoice.posted", 8, "O-2", 100.0, 4)
    producers.flush()
    assert _found(producers) == {("invoice_vs_shipment", "O-2", "quantity")}


def _return(p: Any, rma: str, received_by: str, received: float | None, credited: float, start: float = 0) -> None:
    p.span("portal", "authorize", start, **{"return.id": rma, "biz.stage": "return.authorized", "biz.quantity": 2.0,
                                            "biz.amount": 40.0, "biz.currency": "EUR"})  # fmt: skip
    if received is not None:
        p.span(received_by, "receive", start + 1, **{"return.id": rma, "biz.stage": "return.received",
                                                     "biz.quantity": received})  # fmt: skip
    p.span("erp", "credit", start + 2, **{"return.id": rma, "biz.stage": "credit_memo.posted", "biz.quantity": credited,
                                          "biz.amount": credited * 25, "biz.currency": "EUR"})  # fmt: skip


def test_returns_received_by_the_erp_reconcile(producers: Any) -> None:
    _return(producers, "R-erp", "erp", 2.0, 2.0)  # the ERP books the receipt: no presence mismatch
    _return(producers, "R-wms", "wms", 2.0, 2.0, start=3)
    _return(producers, "R-none", "erp", None, 2.0, start=6)  # credited, never received
    _return(producers, "R-over", "erp", 1.0, 2.0, start=9)  # credited more than received
    producers.flush()
    assert _found(producers) == {
        ("credit_vs_received", "R-none", "presence"),
        ("credit_vs_received", "R-over", "quantity"),
    }
    over = next(m for m in mismatches(producers.store, CONFIG, producers.now) if m.key == "R-over")
    assert (over.process, over.amount, over.currency) == ("returns", 50.0, "EUR")  # what was credited, not authorized


def test_a_system_is_pinned_only_where_the_configuration_pins_it(producers: Any) -> None:
    _order(producers, "O-1", 100.0, [100.0], [100.0])
    producers.flush()
    assert _found(producers) == set()
    pinned = loads("""
reconciliation:
  - name: invoice_vs_shipment
    process: order_to_cash
    match_on: shipment.id
    left: {stage: shipment.confirmed}
    right: {stage: invoice.posted, system: erp}
""")
    # billing posted it, the configuration wants the ERP's: the ERP's invoice is absent, the billing one ignored
    assert _found(producers, pinned) == set()
    pinned_left = loads("""
reconciliation:
  - name: invoice_vs_shipment
    process: order_to_cash
    match_on: shipment.id
    left: {stage: shipment.confirmed, system: wms}
    right: {stage: invoice.posted}
""")
    assert _found(producers, pinned_left) == {("invoice_vs_shipment", "O-1", "presence")}


def test_reconcile_json_findings_carry_the_conventions_fields(producers: Any, capsys: Any) -> None:
    from biztrace.cli import main
    from support import store_dsn

    _order(producers, "O-over", 100.0, [100.0], [180.0])
    store = producers.flush()
    dsn = store_dsn(store.address.path, store.database)
    assert main(["reconcile", "--store", dsn, "--now", producers.now.isoformat(), "--since",
                 producers.t0.isoformat(), "--json"]) == 0  # fmt: skip
    findings = json.loads(capsys.readouterr().out)["mismatches"]  # the defaults: both invoice rules name it
    assert {f["rule"] for f in findings} == {"invoice_vs_shipment", "invoiced_vs_accepted"}
    for finding in findings:
        assert {k: finding[k] for k in ("process", "key", "kind", "stage", "amount", "currency")} == {
            "process": "order_to_cash", "key": "O-over", "kind": "mismatch", "stage": "invoice.posted",
            "amount": 100.0, "currency": "EUR"}  # fmt: skip
    assert report(store, CONFIG, producers.now, since=producers.t0)["mismatches"][0].amount == 100.0


INVOICED_VS_ACCEPTED = loads("""
reconciliation:
  - name: invoiced_vs_accepted
    process: order_to_cash
    match_on: invoice.id
    whole: true
    left: {stage: order.accepted}
    right: {stage: invoice.posted}
    compare: [amount]
    direction: right_above_left
    tolerance: {amount_abs: 0.01}
    presence: none
""")


def test_invoiced_above_accepted_is_flagged_when_the_warehouse_records_no_amounts(producers: Any) -> None:
    p = producers
    orders = (("O-over", 1000.0, [1450.0]), ("O-partial", 1000.0, [600.0]), ("O-two", 1000.0, [600.0, 400.0]),
              ("O-two-over", 1000.0, [600.0, 500.0]))  # fmt: skip
    for order, accepted, invoices in orders:
        _hop(p, "erp", "order.accepted", 0, order, accepted, 4)
        _hop(p, "wms", "shipment.confirmed", 5, order, quantity=4, **{"shipment.id": f"ASN-{order}"})  # no amount
        for n, amount in enumerate(invoices, start=1):
            _hop(p, "ar-billing", "invoice.posted", 6 + n, order, amount, **{"invoice.id": f"AR-{order}-{n}"})
    # the same invoice event delivered twice is one invoice
    _hop(p, "erp", "order.accepted", 0, "O-dup", 420.0, 7)
    _hop(p, "wms", "shipment.confirmed", 5, "O-dup", quantity=7, **{"shipment.id": "ASN-dup"})
    for minute in (8, 9):
        _hop(p, "ar-billing", "invoice.posted", minute, "O-dup", 420.0, **{"invoice.id": "AR-dup", "biz.event_id": "E"})
    p.flush()
    # the shipments carry no amount: invoice_vs_shipment compares none, and finds nothing
    assert _found(p) == set()
    found = mismatches(p.store, INVOICED_VS_ACCEPTED, p.now, rule="invoiced_vs_accepted")
    assert {(m.key, m.field, m.left, m.right) for m in found} == {
        ("O-over", "amount", 1000.0, 1450.0),
        ("O-two-over", "amount", 1000.0, 1100.0),
    }
    assert {(m.kind, m.stage, m.amount, m.currency) for m in found} == {("mismatch", "invoice.posted", 1000.0, "EUR")}


def test_a_dead_lettered_invoice_posting_posted_nothing(producers: Any) -> None:
    # billing parked the posting of 180 in a dead-letter queue, then posted 100 on a replay: nothing disagrees
    _order(producers, "O-replayed", 100.0, [100.0], [])
    _hop(producers, "billing", "invoice.posted", 21, "O-replayed", 180.0, **{"biz.dead_letter": True})
    _hop(producers, "billing", "invoice.posted", 22, "O-replayed", 100.0)
    # parked and never replayed: no invoice to compare (the order's dead_letter exception says it), no mismatch
    _order(producers, "O-parked", 100.0, [100.0], [], start=2)
    _hop(producers, "billing", "invoice.posted", 23, "O-parked", 180.0, **{"biz.dead_letter": True})
    # posted twice, the later one above the shipment (the latest report that went through counts)
    _order(producers, "O-over", 100.0, [100.0], [100.0, 180.0], start=4)
    producers.flush()
    assert _found(producers) == {("invoice_vs_shipment", "O-over", "amount")}
    kinds = {(e.key, e.kind) for e in detect(producers.store, CONFIG, producers.now)}
    assert ("O-parked", "dead_letter") in kinds and ("O-parked", "mismatch") not in kinds
