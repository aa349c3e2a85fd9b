"""``Scenario.varied``: the simulator's producers as varied as real ones, the same business underneath."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from biztrace import config as alerts_config
from biztrace.readmodel.exceptions import list_exceptions
from biztrace.simulator.run import GroundTruth, backfill
from biztrace.simulator.scenario import FaultRates, Scenario
from biztrace.simulator.sender import OtlpHttpSender
from biztrace.simulator.world import VARIED_SYSTEMS, World, generate

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RATES = FaultRates(stuck=0.05, failed=0.04, dead_letter=0.03, duplicate=0.04, amount_mismatch=0.04,
                   quantity_mismatch=0.03, missing_hop=0.03)  # fmt: skip
KEYS = ("order.id", "customer.id", "sku.ids", "invoice.id", "shipment.id", "return.id")
LINKING = ("order.id", "shipment.id", "invoice.id", "return.id")
CONFIG = alerts_config.load()


def _worlds(**overrides):
    plain, varied = World(), World()
    options = {"seed": 9, "days": 3, "orders_per_day": 400, "now": NOW, "faults": RATES, "return_rate": 0.1,
               **overrides}  # fmt: skip
    return (list(generate(Scenario(**options), plain)), plain,
            list(generate(Scenario(**options, varied=True), varied)), varied)  # fmt: skip


def test_varied_is_the_same_business_with_the_same_faults():
    plain_hops, plain, varied_hops, varied = _worlds()
    assert [(h.span_id, h.start_ns, h.attributes.get("biz.stage")) for h in varied_hops] == [
        (h.span_id, h.start_ns, h.attributes.get("biz.stage")) for h in plain_hops
    ]
    moved = [f.model_copy(update={"system": VARIED_SYSTEMS.get(f.stage, f.system)}) for f in plain.faults]
    assert varied.faults == moved
    assert {f.system for f in varied.faults if f.stage == "invoice.posted"} == {"billing"}
    assert (varied.orders, varied.returns, varied.customer_updates) == (plain.orders, plain.returns,
                                                                        plain.customer_updates)  # fmt: skip


def test_varied_hops_leave_out_process_and_system_and_keep_what_conventions_require():
    _, _, hops, world = _worlds()
    stages = {stage for process in CONFIG.processes.values() for stage in process.stage_names()}
    unlinked_invoices = {f.detail["shipment_id"] for f in world.faults if f.detail.get("field") == "presence"}
    assert unlinked_invoices
    for hop in hops:
        attributes = hop.attributes
        assert "biz.process" not in attributes and "biz.system" not in attributes, hop
        assert any(attributes.get(key) for key in KEYS), f"a hop without a business key: {hop}"
        stage = attributes.get("biz.stage")
        if stage:
            assert stage in stages
        if stage == "invoice.posted":
            assert hop.system == "billing" and attributes["invoice.id"] and attributes["shipment.id"]
            assert ("order.id" in attributes) == (attributes["shipment.id"] in unlinked_invoices)
        elif stage == "payment.received":
            assert [key for key in KEYS if key in attributes] == ["invoice.id"]
        elif "return.id" in attributes:
            own = ["return.id", "sku.ids"]
            expected = [*own, "order.id", "customer.id"] if stage == "return.authorized" else own
            assert sorted(key for key in KEYS if key in attributes) == sorted(expected), hop
            if stage == "return.received":
                assert hop.system == "erp"
        elif "shipment.id" in attributes and not stage:  # the carrier booking
            assert "order.id" not in attributes
    systems = {hop.system for hop in hops}
    assert {"billing", "erp", "wms", "middleware"} <= systems


def test_varied_keys_still_link_every_hop_to_its_order():
    plain_hops, _, varied_hops, _ = _worlds(days=1)
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for hop in varied_hops:
        keys = [f"{name}={hop.attributes[name]}" for name in LINKING if hop.attributes.get(name)]
        for other in keys[1:]:
            parent[find(other)] = find(keys[0])
    checked = 0
    for plain, varied in zip(plain_hops, varied_hops, strict=True):
        order = plain.attributes.get("order.id")
        if not order:
            continue
        own = next(f"{name}={varied.attributes[name]}" for name in LINKING if varied.attributes.get(name))
        assert find(own) == find(f"order.id={order}"), (order, varied.name, varied.attributes)
        checked += "order.id" not in varied.attributes
    assert checked > 500, "few hops rely on linked keys"


def test_varied_spans_reach_the_store_without_process_or_system(start_collector, tmp_path):
    collector = start_collector()
    sender = OtlpHttpSender(f"http://127.0.0.1:{collector.ports.http}", concurrency=4)
    try:
        backfill(Scenario(seed=2, days=1, orders_per_day=300, now=NOW, varied=True), sender)
    finally:
        sender.close()
    table = collector.store.table("otel_traces")
    [[spans, labelled]] = collector.store.client.query(
        f"SELECT count(), countIf(mapContains(SpanAttributes, 'biz.process') OR mapContains(SpanAttributes, "
        f"'biz.system')) FROM {table}"
    ).result_rows  # fmt: skip
    assert spans > 500 and labelled == 0
    [[invoices, invoicing]] = collector.store.client.query(
        f"SELECT count(), groupUniqArray(ServiceName) FROM {table} WHERE SpanAttributes['biz.stage'] = 'invoice.posted'"
    ).result_rows
    assert invoices > 50 and invoicing == ["billing"]


@pytest.fixture(scope="module")
def varied_exceptions(store_root, tmp_path_factory):
    """The exception queue at NOW on a store the varied simulator filled, and its ground truth."""
    import uuid

    from biztrace.store import connect
    from support import simulate_into, store_dsn

    database = f"t_{uuid.uuid4().hex[:12]}"
    scenario = Scenario(seed=13, days=3, orders_per_day=300, now=NOW, faults=RATES, varied=True)
    truth_file = tmp_path_factory.mktemp("truth") / "varied.json"
    simulate_into(store_dsn(store_root, database), scenario, truth_file)
    store = connect(store_dsn(store_root, database))
    try:
        yield list_exceptions(store, CONFIG, NOW), GroundTruth.load(truth_file)
    finally:
        store.client.command(f"DROP DATABASE IF EXISTS {database}")
        store.close()


def _overdue(truth: GroundTruth) -> set[str]:
    """Stuck faults whose next stage is overdue at NOW (by the order's priority's SLA)."""
    priorities = {h.attributes["order.id"]: h.attributes["biz.priority"]
                  for h in generate(Scenario(seed=13, days=3, orders_per_day=300, now=NOW, faults=RATES))
                  if h.attributes.get("biz.stage") == "order.captured"}  # fmt: skip
    overdue = set()
    for fault in truth.faults:
        if fault.kind != "stuck":
            continue
        stages = CONFIG.processes[fault.process].stages
        sla = stages[[s.name for s in stages].index(fault.stage) + 1].sla
        within = sla.by_priority.get(priorities[fault.key], sla.within)
        if datetime.fromtimestamp(fault.at_ns / 1e9, UTC) + within < NOW:
            overdue.add(fault.key)
    return overdue


@pytest.mark.parametrize("kind", ["stuck", "failed", "duplicate", "dead_letter", "mismatch"])
def test_detection_on_the_varied_simulator_matches_its_ground_truth(varied_exceptions, kind):
    listed, truth = varied_exceptions
    found = {item.key for item in listed if item.kind == kind}
    expected = _overdue(truth) if kind == "stuck" else {f.key for f in truth.faults if f.kind == kind}
    assert expected, f"the scenario planted no {kind}"
    missed, false = sorted(expected - found), sorted(found - expected)
    assert not missed and not false, (
        f"{kind}: recall {len(expected & found)}/{len(expected)}, precision {len(expected & found)}/{len(found)}; "
        f"missed {missed[:8]}; falsely flagged {false[:8]}"
    )
    assert timedelta(0) < NOW - truth.window_start
