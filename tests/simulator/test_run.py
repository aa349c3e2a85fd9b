"""The simulator against a running collector: what the ground truth says is what the store holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from biztrace.cli import main
from biztrace.simulator.run import GroundTruth, SdkEmitter, backfill, live
from biztrace.simulator.scenario import FaultRates, Scenario
from biztrace.simulator.sender import OtlpHttpSender

RATES = FaultRates(stuck=0.04, failed=0.03, dead_letter=0.02, duplicate=0.03, amount_mismatch=0.03,
                   quantity_mismatch=0.03, missing_hop=0.03)  # fmt: skip


def _rows(store, sql: str) -> list[tuple]:
    return store.client.query(sql.replace("{db}", store.database)).result_rows


def test_backfill_ground_truth_matches_the_store(start_collector, tmp_path):
    collector = start_collector()
    store = collector.store
    scenario = Scenario(seed=3, days=1, orders_per_day=600, now=datetime.now(UTC), faults=RATES)
    sender = OtlpHttpSender(f"http://127.0.0.1:{collector.ports.http}", concurrency=8)
    summary, _, _ = backfill(scenario, sender, ground_truth=tmp_path / "truth.json")
    sender.close()
    truth = GroundTruth.load(tmp_path / "truth.json")
    assert summary.spans_sent == truth.spans_sent > 3000
    [[stored]] = _rows(store, "SELECT count() FROM {db}.otel_traces")
    assert stored == summary.spans_sent

    def keys(kind: str) -> set[str]:
        return {f.key for f in truth.faults if f.kind == kind}

    failed = {r[0] for r in _rows(store, "SELECT DISTINCT OrderId FROM {db}.biz_hops WHERE StatusCode = 'Error'")}
    assert failed == keys("failed") and failed
    parked = {r[0] for r in _rows(store, "SELECT DISTINCT OrderId FROM {db}.biz_hops WHERE DeadLetter")}
    assert parked == keys("dead_letter") and parked
    duplicated = {r[0] for r in _rows(store, "SELECT OrderId FROM {db}.biz_hops WHERE EventId != '' "
                                             "GROUP BY OrderId, EventId HAVING count() > 1")}  # fmt: skip
    assert duplicated == keys("duplicate") and duplicated
    amounts = _rows(
        store,
        """
        SELECT i.OrderId FROM {db}.biz_hops AS i INNER JOIN {db}.biz_hops AS s ON s.ShipmentId = i.ShipmentId
        WHERE i.Stage = 'invoice.posted' AND s.Stage = 'shipment.confirmed' AND i.Amount != s.Amount""",
    )
    assert {r[0] for r in amounts} == {f.key for f in truth.faults if f.detail.get("field") == "amount"}
    missing = _rows(
        store,
        """
        SELECT OrderId FROM {db}.biz_hops WHERE Stage = 'invoice.posted' AND ShipmentId NOT IN
        (SELECT ShipmentId FROM {db}.biz_hops WHERE Stage = 'shipment.confirmed')""",
    )
    assert {r[0] for r in missing} == {f.key for f in truth.faults if f.detail.get("field") == "presence"}
    stuck = {f.key: f.stage for f in truth.faults if f.kind == "stuck"}
    last = dict(_rows(store, "SELECT OrderId, argMax(Stage, Timestamp) FROM {db}.biz_hops "
                             "WHERE Stage != '' AND OrderId IN {keys:Array(String)} GROUP BY OrderId"
                             .replace("{keys:Array(String)}", str(sorted(stuck)) if stuck else "['']")))  # fmt: skip
    assert last == stuck


def test_live_mode_goes_through_the_sdk_and_continues_backfilled_orders(start_collector, tmp_path):
    collector = start_collector()
    now = datetime.now(UTC) - timedelta(minutes=30)  # hops of the last 30 minutes are due at once in live mode
    scenario = Scenario(seed=4, days=0.05, orders_per_day=20_000, now=now, faults=FaultRates(stuck=0.1))
    sender = OtlpHttpSender(f"http://127.0.0.1:{collector.ports.http}")
    summary, world, future = backfill(scenario, sender, keep_future=True)
    sender.close()
    assert summary.spans_pending == len(future) > 0
    emitter = SdkEmitter(f"http://127.0.0.1:{collector.ports.http}")
    sent = live(scenario, emitter, future, world, duration_s=1.5, ground_truth=tmp_path / "live.json")
    emitter.shutdown()
    assert sent > 0
    [[stored, scopes]] = _rows(collector.store, "SELECT count(), groupUniqArray(ScopeName) FROM {db}.otel_traces")
    assert stored == summary.spans_sent + sent
    assert "biztrace.simulator" in scopes  # the SDK's spans carry the tracer's scope name too
    truth = GroundTruth.load(tmp_path / "live.json")
    assert truth.spans_sent == sent


def test_simulate_command_prints_a_json_summary(start_collector, tmp_path, capsys):
    collector = start_collector()
    code = main(["simulate", "--endpoint", f"http://127.0.0.1:{collector.ports.http}", "--days", "0.2",
                 "--orders-per-day", "500", "--ground-truth", str(tmp_path / "t.json"), "--json"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["mode"] == "backfill" and summary["orders"] == 100
    assert summary["spans_sent"] == GroundTruth.load(tmp_path / "t.json").spans_sent


def test_simulate_against_no_collector_fails_clearly(capsys):
    code = main(["simulate", "--endpoint", "http://127.0.0.1:9", "--days", "0.01", "--orders-per-day", "100",
                 "--retry-for-s", "1"])  # fmt: skip
    assert code == 3
    assert "refused the backfill" in capsys.readouterr().err
