"""A key's hops through ``biz_keys``, one row per (key, order) (migration 015): every reader of a
key's hops (lookup, keyed detection, reconciliation, the key graph's resolution) asks
``sql/keyed_hop.sql``, which must find exactly the hops that carry the key, on plain-SDK spans."""

from __future__ import annotations

from typing import Any

import pytest

from biztrace.readmodel.transactions import keyed_hop
from biztrace.store import Store


def _send(p: Any) -> Store:
    # order O-1: hops with its customer, with a SKU, with only the order, with its shipment
    p.span("crm", "a capture", 0, **{"order.id": "O-1", "customer.id": "C-1", "biz.stage": "order.captured"})
    p.span("erp", "b accept", 1, **{"order.id": "O-1", "biz.stage": "order.accepted"})
    p.span("erp", "c allocate", 2, **{"order.id": "O-1", "sku.ids": '["S-1", "S-2"]'})
    p.span("wms", "d plan", 3, **{"order.id": "O-1", "shipment.id": "SH-1"})
    p.span("erp", "e recapture", 9, **{"order.id": "O-1", "customer.id": "C-1"})  # the customer again, later
    # hops without an order id: each keeps a row of its own
    p.span("wms", "f confirm", 4, **{"shipment.id": "SH-1", "biz.stage": "shipment.confirmed"})
    p.span("billing", "g post", 5, **{"invoice.id": "INV-1", "biz.stage": "invoice.posted"})
    p.span("billing", "h repost", 6, **{"invoice.id": "INV-1", "biz.stage": "invoice.posted"})
    # order O-2 of the same customer
    p.span("crm", "i capture", 7, **{"order.id": "O-2", "customer.id": "C-1", "sku.ids": '["S-1"]'})
    return p.flush()


def _found(store: Store, keys: list[str]) -> set[str]:
    rows = store.client.query(
        f"SELECT SpanName FROM {{db:Identifier}}.biz_hops WHERE {keyed_hop('{keys:Array(String)}')}",
        parameters={"db": store.database, "keys": keys},
    ).result_rows
    return {name for (name,) in rows}


def _carrying(store: Store, keys: list[str]) -> set[str]:
    """The definition, from the hops' own columns: a hop is a key's when it carries it."""
    rows = store.client.query(
        "SELECT SpanName FROM {db:Identifier}.biz_hops WHERE hasAny(arrayFilter(k -> k != '', "
        "arrayConcat([OrderId, CustomerId, InvoiceId, ShipmentId, ReturnId], SkuIds)), {keys:Array(String)})",
        parameters={"db": store.database, "keys": keys},
    ).result_rows
    return {name for (name,) in rows}


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["C-1"], {"a capture", "e recapture", "i capture"}),  # not O-1's hops without the customer
        (["S-1"], {"c allocate", "i capture"}),
        (["O-1"], {"a capture", "b accept", "c allocate", "d plan", "e recapture"}),
        (["SH-1"], {"d plan", "f confirm"}),
        (["INV-1"], {"g post", "h repost"}),
        (["SH-1", "C-1"], {"a capture", "d plan", "e recapture", "f confirm", "i capture"}),
        (["", "S-2"], {"c allocate"}),  # '' is no key: not every hop of the key's order lacking one
        ([""], set()),
        (["nobody"], set()),
    ],
)
def test_a_keys_hops_are_exactly_those_that_carry_it(producers: Any, keys: list[str], expected: set[str]) -> None:
    store = _send(producers)
    assert _found(store, keys) == expected == _carrying(store, keys)
    store.client.command(f"OPTIMIZE TABLE {store.table('biz_keys')} FINAL")  # the same once the rows collapsed
    assert _found(store, keys) == expected


def test_biz_keys_holds_a_row_per_key_and_order_and_one_per_hop_without_an_order(producers: Any) -> None:
    store = _send(producers)
    store.client.command(f"OPTIMIZE TABLE {store.table('biz_keys')} FINAL")
    rows = store.client.query(
        "SELECT Key, KeyKind, OrderId, HopSpanId != '', Timestamp FROM {db:Identifier}.biz_keys ORDER BY Key, OrderId, "
        "Timestamp",
        parameters={"db": store.database},
    ).result_rows
    assert [row[:4] for row in rows] == [
        ("C-1", "customer", "O-1", False), ("C-1", "customer", "O-2", False),
        ("INV-1", "invoice", "", True), ("INV-1", "invoice", "", True),  # two hops, two rows
        ("O-1", "order", "O-1", False), ("O-2", "order", "O-2", False),
        ("S-1", "sku", "O-1", False), ("S-1", "sku", "O-2", False), ("S-2", "sku", "O-1", False),
        ("SH-1", "shipment", "", True), ("SH-1", "shipment", "O-1", False),
    ]  # fmt: skip
    # a (key, order) row keeps its latest hop's time (what support's search shows as last seen)
    latest = {(key, order): at for key, _, order, _, at in rows}
    assert latest[("C-1", "O-1")] == latest[("O-1", "O-1")] == max(
        at for (name, at) in store.client.query(
            "SELECT SpanName, Timestamp FROM {db:Identifier}.biz_hops WHERE OrderId = 'O-1'",
            parameters={"db": store.database}).result_rows
    )  # fmt: skip
