"""Variants per object type on a small hand-built store, against counts computed here from the spans sent."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from biztrace.config import loads
from biztrace.readmodel.variants import variants

MAPPED = loads("""
mappings:
  - when: {service: legacy-oms, span_name: CreateSalesOrder}
    set: {stage: order.captured}
    keys: {order.id: sales_order_number}
""")
"""The legacy OMS's order capture is a hop only through this rule (a mapped span)."""

HOPS: list[tuple[float, str, dict[str, str]]] = [
    # minute, stage, keys: O-1 and O-2 take the same path; their shipments are named alone on shipment.confirmed
    (0, "order.captured", {"order.id": "O-1"}),
    (1, "order.accepted", {"order.id": "O-1"}),
    (2, "inventory.allocated", {"order.id": "O-1", "shipment.id": "SH-1"}),
    (3, "shipment.confirmed", {"shipment.id": "SH-1"}),
    (4, "invoice.posted", {"order.id": "O-1", "invoice.id": "I-1"}),
    (10, "order.captured", {"order.id": "O-2"}),
    (11, "order.accepted", {"order.id": "O-2"}),
    (12, "inventory.allocated", {"order.id": "O-2", "shipment.id": "SH-2"}),
    (13, "shipment.confirmed", {"shipment.id": "SH-2"}),
    (14, "invoice.posted", {"order.id": "O-2", "invoice.id": "I-2"}),
    # O-3: captured by the legacy OMS (below), accepted twice in a row (a redelivery: counted once)
    (21, "order.accepted", {"order.id": "O-3"}),
    (22, "order.accepted", {"order.id": "O-3"}),
    # O-4: accepted before it was captured; SH-3 is seen only on hops that carry shipment.id alone
    (30, "order.accepted", {"order.id": "O-4"}),
    (31, "order.captured", {"order.id": "O-4"}),
    (32, "shipment.confirmed", {"shipment.id": "SH-3"}),
    (33, "invoice.posted", {"shipment.id": "SH-3", "invoice.id": "I-3"}),
    # O-5 is returned: the authorization names the order, the receipt only the return
    (40, "order.captured", {"order.id": "O-5"}),
    (41, "return.authorized", {"return.id": "R-1", "order.id": "O-5"}),
    (42, "return.received", {"return.id": "R-1"}),
    (43, "return.authorized", {"return.id": "R-2"}),
]
LEGACY_CAPTURE = (20, "order.captured", {"order.id": "O-3"})
"""Sent as a legacy-oms span with sales_order_number only."""


def _expected(kind: str, hops: list[tuple[float, str, dict[str, str]]], top: int) -> list[tuple[list[str], int, int]]:
    """(stages, objects, variants) rows computed from the spans: an object's hops carry its key, or (orders)
    name only a shipment that an earlier hop tied to the order; a stage repeated in a row counts once."""
    order_of_shipment = {k["shipment.id"]: k["order.id"] for _, _, k in hops if "shipment.id" in k and "order.id" in k}
    order_stages = {"order.captured", "order.accepted", "inventory.allocated", "shipment.confirmed", "invoice.posted"}
    paths: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for minute, stage, keys in hops:
        key = keys.get(f"{kind}.id")
        if key is None and kind == "order" and stage in order_stages:
            key = order_of_shipment.get(keys.get("shipment.id", ""))
        if key is not None:
            paths[key].append((minute, stage))
    counts: Counter[tuple[str, ...]] = Counter()
    for reached in paths.values():
        stages = [stage for _, stage in sorted(reached)]
        counts[tuple(s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1])] += 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], list(item[0])))
    rows = [(list(stages), n, 1) for stages, n in ranked[:top]]
    if ranked[top:]:
        rows.append(([], sum(n for _, n in ranked[top:]), len(ranked[top:])))
    return rows


def test_variants_per_object_type_are_the_paths_its_objects_took(producers: Any, capsys) -> None:
    p = producers
    for minute, stage, keys in HOPS:
        p.span("erp", stage, minute, **keys, **{"biz.stage": stage})
    p.span("legacy-oms", "CreateSalesOrder", LEGACY_CAPTURE[0], sales_order_number="O-3")
    p.span("erp", "healthcheck", 50)  # no key, no stage: in no variant
    store = p.flush()
    since, until = p.t0 - timedelta(hours=1), p.now
    everything = sorted([*HOPS, LEGACY_CAPTURE])

    for kind, top in (("order", 2), ("shipment", 10), ("return", 10)):
        found = variants(store, MAPPED, kind, since, until, top=top)
        rows = [(v.stages, v.objects, v.variants) for v in found.variants]
        assert rows == _expected(kind, everything, top), kind
        assert [v.other for v in found.variants] == [False] * min(top, len(rows)) + [True] * (len(rows) > top)
        assert abs(sum(v.share for v in found.variants) - 1) < 1e-9
    orders = variants(store, MAPPED, "order", since, until, top=2)
    assert orders.objects == 5
    assert orders.variants[0].stages == ["order.captured", "order.accepted", "inventory.allocated",
                                         "shipment.confirmed", "invoice.posted"]  # fmt: skip
    assert (orders.variants[0].objects, orders.variants[0].share) == (2, 0.4)
    shipments = {tuple(v.stages): v.objects for v in variants(store, MAPPED, "shipment", since, until).variants}
    assert shipments == {("inventory.allocated", "shipment.confirmed"): 2, ("shipment.confirmed", "invoice.posted"): 1}

    # without the mapping rule the legacy capture is no hop: O-3's path is order.accepted alone
    unmapped = variants(store, loads("{}"), "order", since, until, top=10)
    assert (["order.accepted"], 1) in [(v.stages, v.objects) for v in unmapped.variants]
    assert variants(store, MAPPED, "order", until, until + timedelta(hours=1)).variants == []  # the window

    # the command prints the same rows
    from biztrace.cli.main import main

    capsys.readouterr()
    args = ["variants", "--object", "shipment", "--since", since.isoformat(), "--until", until.isoformat(),
            "--store", store.address.dsn]  # fmt: skip
    assert main([*args, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(v["stages"], v["objects"]) for v in printed["variants"]] == [
        (list(stages), n) for stages, n in sorted(shipments.items(), key=lambda item: -item[1])]  # fmt: skip
    assert main(args) == 0 and "inventory.allocated → shipment.confirmed" in capsys.readouterr().out
    assert main([*args[:5], "--until", (since + timedelta(minutes=1)).isoformat(), *args[7:]]) == 1  # nothing then
