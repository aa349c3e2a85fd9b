"""The key graph on plain-SDK spans: links, trees, and keys resolved through links."""

from __future__ import annotations

from typing import Any

from biztrace.config import loads
from biztrace.readmodel.keygraph import LINK_UP, backfill_links, key_tree
from biztrace.readmodel.lookup import key_history
from biztrace.readmodel.transactions import sql, transactions

CONFIG = loads("{}")


def _order_with_linked_hops(p: Any, order: str = "O-1", customer: str = "C-1", suffix: str = "1") -> None:
    """An order whose shipment, invoice and return hops mostly carry only their own key."""
    shipment, invoice, rma = f"SH-{suffix}", f"INV-{suffix}", f"R-{suffix}"
    p.span("crm", "capture", 0, **{"order.id": order, "customer.id": customer, "biz.stage": "order.captured"})
    p.span("erp", "accept", 1, **{"order.id": order, "biz.stage": "order.accepted"})
    p.span("erp", "allocate", 2, **{"order.id": order, "biz.stage": "inventory.allocated"})
    # the link: a shipment planned for the order (no stage)
    p.span("wms", "plan shipment", 3, **{"shipment.id": shipment, "order.id": order})
    # the milestone carries only the shipment
    p.span("wms", "confirm", 4, **{"shipment.id": shipment, "biz.stage": "shipment.confirmed"})
    # invoice linked to the shipment only, posted with only its own id: two steps from the order
    p.span("billing", "invoice for shipment", 5, **{"invoice.id": invoice, "shipment.id": shipment})
    p.span("billing", "post", 6, **{"invoice.id": invoice, "biz.stage": "invoice.posted"})
    # a return authorized against the order, later hops with only the return id
    p.span("portal", "authorize", 7, **{"return.id": rma, "order.id": order, "biz.stage": "return.authorized"})
    p.span("wms", "receive", 8, **{"return.id": rma, "biz.stage": "return.received"})


def test_lookup_by_any_key_shows_the_whole_tree(producers: Any) -> None:
    _order_with_linked_hops(producers)
    _order_with_linked_hops(producers, order="O-2", customer="C-1", suffix="2")  # same customer
    store = producers.flush()
    one = {"capture", "accept", "allocate", "plan shipment", "confirm", "invoice for shipment", "post",
           "authorize", "receive"}  # fmt: skip
    for key in ("O-1", "SH-1", "INV-1", "R-1"):
        history = key_history(store, key)
        assert {hop.span_name for hop in history.hops} == one, key
        assert {hop.order_id for hop in history.hops} == {"O-1", ""}, key  # never O-2, the customer's other order
        assert len(history.hops) == 9
        assert history.tree == {"INV-1": "invoice", "O-1": "order", "R-1": "return", "SH-1": "shipment"}
    by_customer = key_history(store, "C-1")
    assert len(by_customer.hops) == 18  # both orders' trees


def test_the_order_tree_holds_its_customer_but_not_the_customers_other_orders(producers: Any) -> None:
    _order_with_linked_hops(producers)
    _order_with_linked_hops(producers, order="O-2", customer="C-1", suffix="2")
    store = producers.flush()
    assert key_tree(store, ["O-1"]) == ["INV-1", "O-1", "R-1", "SH-1"]
    assert key_tree(store, ["INV-2"]) == ["INV-2", "O-2", "R-2", "SH-2"]
    assert key_tree(store, ["C-1"]) == ["C-1", "INV-1", "INV-2", "O-1", "O-2", "R-1", "R-2", "SH-1", "SH-2"]


def test_order_state_counts_milestones_that_carry_only_a_linked_key(producers: Any) -> None:
    _order_with_linked_hops(producers)
    store = producers.flush()
    [order] = [t for t in transactions(store, CONFIG, producers.now) if t.process == "order_to_cash"]
    assert order.key == "O-1"
    assert order.stages_reached == ["order.captured", "order.accepted", "inventory.allocated",
                                    "shipment.confirmed", "invoice.posted"]  # fmt: skip
    [rma] = [t for t in transactions(store, CONFIG, producers.now) if t.process == "returns"]
    assert (rma.key, rma.stages_reached) == ("R-1", ["return.authorized", "return.received"])


def test_the_tree_queries_use_is_the_lookups_tree(producers: Any) -> None:
    """sql/key_tree.sql (inside queries) and keygraph.key_tree (one step per query) agree."""
    _order_with_linked_hops(producers)
    _order_with_linked_hops(producers, order="O-2", customer="C-1", suffix="2")
    store = producers.flush()
    text = sql("key_tree")  # the text the queries include (``${links}``: biz_links without mappings)
    for key in ("O-1", "SH-1", "INV-2", "R-2", "C-1", "SKU-unknown"):
        rows = store.client.query(text, parameters={"db": store.database, "keys": [key], "link_up": list(LINK_UP)})
        assert sorted(row[0] for row in rows.result_rows) == key_tree(store, [key]), key


def test_links_of_hops_stored_before_the_graph_are_backfilled(producers: Any) -> None:
    _order_with_linked_hops(producers)
    store = producers.flush()
    store.client.command(f"TRUNCATE TABLE {store.table('biz_links')}")  # as on a store upgraded to migration 008
    assert key_tree(store, ["O-1"]) == ["O-1"]
    assert backfill_links(store) > 0
    assert key_tree(store, ["O-1"]) == ["INV-1", "O-1", "R-1", "SH-1"]


def test_one_orders_state_counts_its_linked_hops_too(producers: Any) -> None:
    _order_with_linked_hops(producers)
    store = producers.flush()
    [order] = transactions(store, CONFIG, producers.now, keys=["O-1"])
    assert order.stages_reached[-2:] == ["shipment.confirmed", "invoice.posted"]


def test_the_key_graphs_answers_are_computed_only_when_a_hop_lacks_its_order_id(producers: Any) -> None:
    """transactions.resolution: an empty table stands in when no hop lacks an order id (a pass's rules and
    its touched keys then plan no resolution); with one, the same answers as the query computes inline."""
    from biztrace.readmodel.transactions import process_parameters, resolution, resolution_needed

    producers.span("crm", "capture", 0, **{"order.id": "O-9", "biz.stage": "order.captured"})
    producers.span("crm", "update", 1, **{"customer.id": "C-9", "biz.stage": "customer.updated"})  # no order: no link
    store = producers.flush()
    base = process_parameters(CONFIG) | {"db": store.database, "keys": []}
    assert not resolution_needed(store, CONFIG, None)
    with resolution(store, CONFIG, base, False) as resolved:
        assert int(store.client.command(f"SELECT count() FROM {store.table(resolved['resolved'])}")) == 0
    _order_with_linked_hops(producers)  # a shipment's milestone carries only its shipment id
    store = producers.flush()
    assert resolution_needed(store, CONFIG, None)
    inline = store.client.query(f"SELECT hash, target FROM ({sql('resolution', CONFIG, keys=False)}) ORDER BY hash",
                                parameters=base).result_rows  # fmt: skip
    with resolution(store, CONFIG, base, False) as resolved:
        table = store.client.query(f"SELECT hash, target FROM {store.table(resolved['resolved'])} ORDER BY hash")
        assert table.result_rows == inline and len(inline) >= 3  # the shipment, the invoice, the return
