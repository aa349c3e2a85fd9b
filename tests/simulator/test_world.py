"""The simulated world: deterministic, realistic in shape, faults recorded as injected."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from biztrace.simulator.scenario import FaultRates, Scenario
from biztrace.simulator.world import NS_PER_MIN, World, generate

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

# the default SLAs the normal delays must respect: minutes from the previous stage
SLA_MIN = {
    "order.accepted": 60,
    "inventory.allocated": 240,
    "shipment.confirmed": 48 * 60,
    "invoice.posted": 24 * 60,
    "payment.received": 45 * 1440,
}


def _scenario(**overrides) -> Scenario:
    return Scenario(**{"seed": 7, "days": 2, "orders_per_day": 400, "now": NOW, **overrides})


def test_same_seed_same_world_and_different_seed_differs():
    first = [(h.trace_id, h.span_id, h.start_ns, h.attributes) for h in generate(_scenario())]
    again = [(h.trace_id, h.span_id, h.start_ns, h.attributes) for h in generate(_scenario())]
    other = [(h.trace_id, h.span_id) for h in generate(_scenario(seed=8))]
    assert first == again
    assert [x[:2] for x in first] != other


def test_orders_flow_through_every_system_in_separate_traces():
    hops = list(generate(_scenario(faults=FaultRates(**dict.fromkeys(FaultRates.model_fields, 0.0)))))
    systems = Counter(h.system for h in hops)
    assert {"crm", "ecommerce", "edi", "middleware", "erp", "wms", "tms", "billing", "portal"} <= set(systems)
    by_order = defaultdict(list)
    for hop in hops:
        if "order.id" in hop.attributes and hop.attributes["biz.process"] == "order_to_cash":
            by_order[hop.attributes["order.id"]].append(hop)
    complete = [o for o, hs in by_order.items() if any(h.attributes.get("biz.stage") == "payment.received" for h in hs)]
    assert len(complete) > 100
    for order in complete[:50]:
        traces = {h.trace_id for h in by_order[order] if h.attributes.get("biz.stage")}
        stages = [h.attributes.get("biz.stage") for h in by_order[order] if h.attributes.get("biz.stage")]
        assert len(traces) == len(stages), "each stage is its own system's trace"
    processes = Counter(h.attributes.get("biz.process") for h in hops)
    assert processes["returns"] > 0 and processes["customer_master"] > 0


def test_normal_delays_stay_inside_the_default_slas():
    hops = list(generate(_scenario(faults=FaultRates(**dict.fromkeys(FaultRates.model_fields, 0.0)))))
    first_at: dict[tuple[str, str], int] = {}
    for hop in hops:
        stage = hop.attributes.get("biz.stage")
        if stage and hop.attributes.get("biz.process") == "order_to_cash":
            key = (hop.attributes["order.id"], stage)
            first_at[key] = min(first_at.get(key, hop.start_ns), hop.start_ns)
    order_stages = ["order.captured", *SLA_MIN]
    checked = 0
    for (order, stage), at in first_at.items():
        if stage == "order.captured":
            continue
        previous = order_stages[order_stages.index(stage) - 1]
        gap_min = (at - first_at[(order, previous)]) / NS_PER_MIN
        assert 0 < gap_min <= SLA_MIN[stage], (order, stage, gap_min)
        checked += 1
    assert checked > 1000


def test_faults_are_recorded_with_kinds_and_evidence():
    world = World()
    rates = FaultRates(stuck=0.05, failed=0.05, dead_letter=0.05, duplicate=0.05, amount_mismatch=0.05,
                       quantity_mismatch=0.05, missing_hop=0.05)  # fmt: skip
    hops = list(generate(_scenario(faults=rates), world))
    kinds = Counter(f.kind for f in world.faults)
    assert set(kinds) == {"stuck", "failed", "dead_letter", "duplicate", "mismatch"}
    events = Counter(h.attributes.get("biz.event_id") for h in hops if h.attributes.get("biz.event_id"))
    duplicated = {event for event, count in events.items() if count > 1}
    assert duplicated == {f.detail["event_id"] for f in world.faults if f.kind == "duplicate"}
    errors = {h.attributes["order.id"] for h in hops if h.error}
    assert errors == {f.key for f in world.faults if f.kind == "failed"}
    parked = {h.attributes["order.id"] for h in hops if h.attributes.get("biz.dead_letter")}
    assert parked == {f.key for f in world.faults if f.kind == "dead_letter"}
    assert world.orders == 800


def test_fault_rates_are_validated():
    with pytest.raises(ValidationError, match="add up to"):
        Scenario(faults=FaultRates(stuck=0.6, failed=0.6))
    with pytest.raises(ValidationError):
        FaultRates(stuck=-0.1)


def test_substitutions_ship_an_equivalent_sku_and_invoice_it():
    hops = list(generate(_scenario(substitution_rate=0.5, faults=FaultRates(**dict.fromkeys(FaultRates.model_fields,
                                                                                          0.0)))))  # fmt: skip
    substituted = [h for h in hops if h.attributes.get("biz.status") == "shipped_substitute"]
    assert substituted
    ship = substituted[0]
    assert any(sku.endswith("-SUB") for sku in ship.attributes["sku.ids"])
    invoice = next(h for h in hops if h.attributes.get("biz.stage") == "invoice.posted"
                   and h.attributes.get("shipment.id") == ship.attributes["shipment.id"])  # fmt: skip
    assert invoice.attributes["sku.ids"] == ship.attributes["sku.ids"]
    assert invoice.attributes["biz.amount"] == ship.attributes["biz.amount"]
