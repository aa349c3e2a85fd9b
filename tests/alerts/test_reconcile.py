"""Reconciliation against the simulator's ground truth, and tolerances at their edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from biztrace import config as alerts_config
from biztrace.collector import intake
from biztrace.collector.writer import Batch, ClickHouseWriter
from biztrace.readmodel.reconcile import mismatches, parity

from .conftest import NOW

CONFIG = alerts_config.load()


def test_known_mismatches_are_all_found_and_nothing_else(simulated):
    found = mismatches(simulated.store, CONFIG, NOW)
    expected = {(f.key, f.detail["field"]) for f in simulated.truth.faults if f.kind == "mismatch"}
    assert expected, "the scenario produced no mismatches"
    assert {(m.key, m.field) for m in found} == expected  # precision and recall both 1.0
    # an over-invoice is also above the accepted amount: invoiced_vs_accepted names the same order and field
    by_key = {(m.key, m.field): m for m in found if m.rule == "invoice_vs_shipment"}
    for fault in simulated.truth.faults:
        if fault.kind != "mismatch":
            continue
        mismatch = by_key[(fault.key, fault.detail["field"])]
        assert mismatch.match_key == fault.detail["shipment_id"] and mismatch.rule == "invoice_vs_shipment"
        if fault.detail["field"] in ("amount", "quantity"):
            assert (mismatch.left, mismatch.right) == (fault.detail["wms"], fault.detail["erp"])
        else:
            assert mismatch.left is None and mismatch.evidence
        assert mismatch.kind == "mismatch" and mismatch.stage == "invoice.posted"


def test_partial_shipments_reconcile_per_shipment(simulated):
    split = simulated.store.client.query(
        f"SELECT OrderId FROM {simulated.store.table('biz_hops')} WHERE Stage = 'shipment.confirmed' "
        "GROUP BY OrderId HAVING uniqExact(ShipmentId) > 1"
    ).result_rows
    assert split, "the scenario has split shipments"
    flagged = {m.key for m in mismatches(simulated.store, CONFIG, NOW)}
    faulty = {f.key for f in simulated.truth.faults}
    assert not {key for (key,) in split} - faulty & flagged


def test_parity_by_day(simulated):
    rows = parity(simulated.store, CONFIG, NOW, since=NOW - timedelta(days=10), rule="invoice_vs_shipment")
    # the defaults pin no system: each side is named by its stage
    assert rows and all(r.left_system == "shipment.confirmed" and r.right_system == "invoice.posted" for r in rows)
    assert sum(r.mismatched for r in rows) == sum(1 for f in simulated.truth.faults if f.kind == "mismatch")
    assert all(r.right_within_sla_share is None or 0 <= r.right_within_sla_share <= 1 for r in rows)
    assert sum(r.pairs for r in rows) >= sum(r.left_count for r in rows) > 0


def _pair(store, shipment: str, left: tuple[float, float], right: tuple[float, float], currency: str = "EUR"):
    request = ExportTraceServiceRequest()
    for i, (system, stage, (amount, quantity)) in enumerate((("wms", "shipment.confirmed", left),
                                                             ("erp", "invoice.posted", right))):  # fmt: skip
        rs = request.resource_spans.add()
        kv = rs.resource.attributes.add()
        kv.key, kv.value.string_value = "service.name", system
        span = rs.scope_spans.add().spans.add()
        span.trace_id = bytes([len(shipment), i + 1] + [7] * 14)
        span.span_id = bytes([len(shipment), i + 1] + [9] * 6)
        span.name = f"{system}.{stage}"
        span.start_time_unix_nano = int((NOW - timedelta(hours=2 - i)).timestamp() * 1e9)
        for key, value in (("order.id", f"O-{shipment}"), ("shipment.id", shipment), ("biz.process", "order_to_cash"),
                           ("biz.stage", stage), ("biz.system", system), ("biz.currency", currency)):  # fmt: skip
            attribute = span.attributes.add()
            attribute.key, attribute.value.string_value = key, value
        for key, number in (("biz.amount", amount), ("biz.quantity", quantity)):
            attribute = span.attributes.add()
            attribute.key, attribute.value.double_value = key, number
    ClickHouseWriter(store).write(Batch(f"pair-{shipment}", [intake.check(request, None)]))


def test_tolerances_at_their_edges_and_per_currency(store):
    config = alerts_config.loads("""
reconciliation:
  - name: invoice_vs_shipment
    process: order_to_cash
    match_on: shipment.id
    left: {stage: shipment.confirmed, system: wms}
    right: {stage: invoice.posted, system: erp}
    tolerance: {amount_abs: 0.5, amount_rel: 0.01, quantity_abs: 1}
    tolerance_by_currency: {JPY: {amount_abs: 100}}
""")
    _pair(store, "A", (1000.0, 5), (1010.0, 6))  # 1% of 1000 and 1 unit: at the edge, not a mismatch
    _pair(store, "B", (1000.0, 5), (1010.5, 5))  # just over 1%
    _pair(store, "C", (10.0, 5), (10.5, 5))  # within the 0.5 absolute tolerance
    _pair(store, "D", (10.0, 5), (10.0, 7))  # two units off
    _pair(store, "E", (1000.0, 5), (1100.0, 5), currency="JPY")  # within JPY's 100
    _pair(store, "F", (1000.0, 5), (1101.0, 5), currency="JPY")
    found = {(m.match_key, m.field) for m in mismatches(store, config, NOW.replace(tzinfo=None) + timedelta(hours=1))}
    assert found == {("B", "amount"), ("D", "quantity"), ("F", "amount")}


def test_since_limits_the_window(simulated):
    assert mismatches(simulated.store, CONFIG, NOW, since=NOW + timedelta(days=1)) == []
    assert isinstance(NOW, datetime)


def test_system_parity_counts_transactions_and_duplicates(simulated):
    from biztrace.readmodel.reconcile import system_parity

    rows = system_parity(simulated.store, CONFIG, NOW, since=NOW - timedelta(days=10), process="order_to_cash")
    assert {r.system for r in rows} >= {"erp", "wms", "middleware"}
    assert sum(r.duplicate_events for r in rows) == sum(1 for f in simulated.truth.faults if f.kind == "duplicate")


def test_reconcile_command_prints_json(simulated, capsys):
    import json

    from biztrace.cli import main
    from support import store_dsn

    dsn = store_dsn(simulated.store.address.path, simulated.store.database)
    assert main(["reconcile", "--store", dsn, "--now", NOW.isoformat(), "--since",
                 (NOW - timedelta(days=10)).isoformat(), "--json"]) == 0  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    assert {"parity", "systems", "mismatches"} <= set(document)
    assert {(m["process"], m["key"], m["kind"]) for m in document["mismatches"]} == {
        (f.process, f.key, "mismatch") for f in simulated.truth.faults if f.kind == "mismatch"}  # fmt: skip
    assert main(["reconcile", "--store", dsn, "--now", NOW.isoformat(), "--period", "fortnight"]) == 2


def test_report_judges_once_and_agrees_with_parity_and_mismatches(simulated):
    from biztrace.readmodel.reconcile import report

    since = NOW - timedelta(days=10)
    for channel in (None, "edi"):
        document = report(simulated.store, CONFIG, NOW, since=since, channel=channel)
        assert document["parity"] == parity(simulated.store, CONFIG, NOW, since=since, channel=channel)
        expected = [m for m in mismatches(simulated.store, CONFIG, NOW, since=since)
                    if channel is None or m.channel == channel]  # fmt: skip
        key = lambda m: (m.rule, m.match_key, m.field)  # noqa: E731
        assert sorted(document["mismatches"], key=key) == sorted(expected, key=key) and expected


def test_mismatches_of_some_keys_are_those_of_all_keys(simulated):
    found = mismatches(simulated.store, CONFIG, NOW)
    keys = sorted({m.key for m in found})[:5] + ["O-nothing"]
    narrowed = mismatches(simulated.store, CONFIG, NOW, keys=keys)
    assert {(m.key, m.match_key, m.field, tuple(sorted(m.evidence))) for m in narrowed} == {
        (m.key, m.match_key, m.field, tuple(sorted(m.evidence))) for m in found if m.key in keys
    }


def test_a_rule_without_hops_in_its_window_has_no_pair_there(simulated):
    """A rule is judged only when it has hops in its window (reconcile._shaped's ``seen``): judged anyway,
    one without finds no pair, in windows that start before, among and after the simulated days (where
    left sides fall in the look-back alone, or right sides alone in the window)."""
    from biztrace.readmodel import reconcile

    checks = CONFIG.reconciliation
    seen_somewhere, skipped_somewhere, paired = set(), set(), set()
    for hours in range(-24 * 12, 24 * 2, 7):
        since = NOW + timedelta(hours=hours)
        sets = [reconcile._parameters(simulated.store, CONFIG, check, NOW, since) | {"flag": True} for check in checks]
        with reconcile._resolved(simulated.store, CONFIG, sets) as sets:
            for check, parameters in zip(checks, reconcile._shaped(simulated.store, CONFIG, sets), strict=True):
                judged, _ = reconcile._judge(simulated.store, CONFIG, parameters, "day")
                if judged:
                    paired.add(check.name)
                if parameters["seen"]:
                    seen_somewhere.add(check.name)
                else:
                    skipped_somewhere.add(check.name)
                    assert judged == [], (check.name, since, judged)
    # the simulated days pair the order-to-cash rules (its returns are too few for a pair in every window)
    assert paired >= {"invoice_vs_shipment", "booked_vs_accepted", "invoiced_vs_accepted"}, paired
    assert seen_somewhere >= paired and skipped_somewhere == {check.name for check in checks}


def test_a_mismatch_rate_alert_records_each_transaction_once(simulated):
    """The transactions a mismatch_rate result records (the alert's affected transactions, its value at
    risk): distinct keys of transactions with a finding, in key order, as the other rules record theirs (a
    transaction with two findings took two of the 50 places); the findings come in one order on every read
    (they came in the order the threads grouped them)."""
    from biztrace.readmodel import rules

    config = alerts_config.loads("rules:\n  - {name: Disagree, kind: mismatch_rate, threshold: 0, window: 1d}\n")
    found, errors = rules.evaluate(simulated.store, config, NOW)
    assert not errors
    found = [result for result in found if result.rule == "Disagree"]
    findings = mismatches(simulated.store, CONFIG, NOW, since=NOW - timedelta(days=1))  # fewer than 50 there
    for result in found:
        process = result.labels["process"]
        expected = sorted({m.key for m in findings if m.process == process and m.key})[:50]
        assert result.keys == expected, process
    assert any(result.keys for result in found)
    again = mismatches(simulated.store, CONFIG, NOW, since=NOW - timedelta(days=1))
    assert [(m.rule, m.match_key, m.key) for m in again] == [(m.rule, m.match_key, m.key) for m in findings]
    keyed = [m.key for m in findings if m.key]
    assert len(set(keyed)) < len(keyed) <= 50, "the day should have a transaction with two findings, < 50 in all"


INVOICE_VS_SHIPMENT = """
reconciliation:
  - name: invoice_vs_shipment
    process: order_to_cash
    match_on: shipment.id
    left: {stage: shipment.confirmed}
    right: {stage: invoice.posted}
"""


def test_a_side_reported_late_is_not_missing_until_the_rules_grace_has_passed(store):
    """An ERP that posts the invoice before the warehouse's batch confirms the shipment: with a grace of an hour,
    the invoice without its shipment is not a mismatch while the hour runs, is one after it, and is none once the
    confirmation arrives. Without a grace, it is one at once (the default)."""
    text = INVOICE_VS_SHIPMENT + "    presence: right_requires_left\n    grace: 1h\n"
    config = alerts_config.loads(text)
    at = NOW.replace(tzinfo=None)
    _one(store, "LATE", "invoice.posted", "erp", at - timedelta(minutes=30))

    def missing(now: datetime) -> set[str]:
        return {m.match_key for m in mismatches(store, config, now) if m.field == "presence"}

    assert missing(at) == set()  # 30 minutes into the hour
    assert missing(at + timedelta(minutes=30)) == {"LATE"}  # the hour has passed
    assert {m.match_key for m in mismatches(store, alerts_config.loads(text.replace("grace: 1h", "")), at)} == {"LATE"}
    _one(store, "LATE", "shipment.confirmed", "wms", at + timedelta(minutes=40))
    assert missing(at + timedelta(minutes=45)) == set()  # confirmed late: the pair is whole


def _one(store, shipment: str, stage: str, system: str, at: datetime) -> None:
    """One hop of a shipment's order (amount 100, quantity 1), reported by ``system`` at ``at``."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", system
    span = rs.scope_spans.add().spans.add()
    span.trace_id = bytes([len(stage), 3] + [5] * 14)
    span.span_id = bytes([len(stage), 3] + [6] * 6)
    span.name = f"{system}.{stage}"
    span.start_time_unix_nano = int(at.replace(tzinfo=UTC).timestamp() * 1e9)
    for key, value in (("order.id", f"O-{shipment}"), ("shipment.id", shipment), ("biz.stage", stage)):
        attribute = span.attributes.add()
        attribute.key, attribute.value.string_value = key, value
    for key, number in (("biz.amount", 100.0), ("biz.quantity", 1.0)):
        attribute = span.attributes.add()
        attribute.key, attribute.value.double_value = key, number
    ClickHouseWriter(store).write(Batch(f"one-{shipment}-{stage}", [intake.check(request, None)]))


def test_at_the_loops_pass_a_report_reads_the_pairs_it_kept_and_the_mismatch_rate_rule_judges_nothing(
    simulated, monkeypatch
):
    """The loop's bookkeeping judges and keeps every reconciliation pair, before the rules: its
    ``mismatch_rate`` rule then reads its window from the kept pairs, as does the Reconciliation page asked at
    the pass's time for any window: the same report as judging again. A dry pass (no bookkeeping) leaves
    nothing to read: its rule judges."""
    from biztrace.alerts.loop import run_pass
    from biztrace.readmodel import last_pass, reconcile
    from biztrace.readmodel.snapshots import Snapshots

    store, config = simulated.store, alerts_config.loads("evaluation_interval: 10m\n")
    assert any(rule.kind == "mismatch_rate" for rule in config.rules)
    judged: list[str] = []
    judge = reconcile._judge

    def counted(store, config, parameters, period):
        judged.append(parameters["right_stage"])
        return judge(store, config, parameters, period)

    monkeypatch.setattr(reconcile, "_judge", counted)
    kept = Snapshots(publish=True)
    try:
        run_pass(store, config, NOW, persist=False, snapshots=kept)
        assert judged, "a dry pass: its rule judges its window"
        judged.clear()
        # readers move to the pass's time once its bookkeeping is published (its snapshot with it), before its rules
        from biztrace.alerts import loop
        from biztrace.readmodel import exceptions, snapshots

        seen: dict[str, object] = {}
        sync, evaluate = exceptions.sync, loop._evaluate

        def syncing(*args, **kwargs):
            seen["bookkeeping"] = snapshots.last_pass_time(store, config)
            return sync(*args, **kwargs)

        def evaluating(*args, **kwargs):
            seen["rules"] = snapshots.last_pass_time(store, config)
            return evaluate(*args, **kwargs)

        monkeypatch.setattr(exceptions, "sync", syncing)
        monkeypatch.setattr(loop, "_evaluate", evaluating)
        run_pass(store, config, NOW + timedelta(minutes=1), channels={}, snapshots=kept)
        assert not judged, "the loop's pass: its rule reads the pairs its bookkeeping kept"
        before, after = NOW.replace(tzinfo=None), (NOW + timedelta(minutes=1)).replace(tzinfo=None)
        assert seen == {"bookkeeping": before, "rules": after}
        at = NOW + timedelta(minutes=1)
        for since, period in ((at - timedelta(days=1), "day"), (at - timedelta(days=3), "hour")):
            read = reconcile.report(store, config, at, since=since, period=period)
            assert not judged
            expected = reconcile.report(store, config, at, since=since, period=period, from_pass=False)
            assert judged and read == expected
            assert expected["parity"] and expected["mismatches"] and expected["systems"]
            judged.clear()
    finally:
        kept.close(store)
        last_pass.forget(store)


def test_a_pair_the_loop_judged_whole_is_judged_again_for_a_window_that_pairs_by_the_match_key(store):
    """An order confirmed one shipment without its id yesterday evening and another with one today, invoiced
    today: the pass judges the order whole (the hop without the shipment id is in its retention; the sides
    summed, 80 shipped against 50 invoiced: a mismatch first observed yesterday), while today's window, where
    no hop lacks the shipment id, pairs today's shipment with its invoice (50 against 50, observed today). A
    report of today at the pass's time says what judging today's hops says."""
    from biztrace.readmodel import exceptions, last_pass
    from biztrace.readmodel.reconcile import report

    config = alerts_config.loads(INVOICE_VS_SHIPMENT + "    compare: [amount]\n")
    at = NOW.replace(tzinfo=None)
    today = at - timedelta(hours=10)
    store.client.command(
        f"INSERT INTO {store.table('biz_hops')} (Timestamp, SpanId, OrderId, ShipmentId, Process, Stage, System, "
        "Amount, Currency) VALUES "
        "({today:DateTime64(9)} - INTERVAL 10 HOUR, 'w-1', 'O-W', '', 'order_to_cash', 'shipment.confirmed', 'wms', "
        "30, 'EUR'), "
        "({today:DateTime64(9)} + INTERVAL 1 HOUR, 'w-2', 'O-W', 'SH-W1', 'order_to_cash', 'shipment.confirmed', "
        "'wms', 50, 'EUR'), "
        "({today:DateTime64(9)} + INTERVAL 2 HOUR, 'w-3', 'O-W', 'SH-W1', 'order_to_cash', 'invoice.posted', 'erp', "
        "50, 'EUR')",
        parameters={"today": today},
    )  # fmt: skip
    judged = report(store, config, at, since=today, rule="invoice_vs_shipment", from_pass=False)
    assert [(row.pairs, row.mismatched) for row in judged["parity"]] == [(1, 0)]
    whole = report(store, config, at, since=today - timedelta(days=1), rule="invoice_vs_shipment", from_pass=False)
    assert [(row.pairs, row.mismatched) for row in whole["parity"]] == [(1, 1)], "the longer window: whole"
    exceptions.sync(store, config, at)  # the loop's bookkeeping: every pair kept, judged on all its hops
    try:
        assert report(store, config, at, since=today, rule="invoice_vs_shipment") == judged
        assert report(store, config, at, since=today - timedelta(days=1), rule="invoice_vs_shipment") == whole
    finally:
        last_pass.forget(store)
