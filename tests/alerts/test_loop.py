"""The evaluation pass on simulated faults, with a controllable clock and recording channels."""

from __future__ import annotations

from datetime import timedelta

from biztrace import config as alerts_config
from biztrace.alerts.channels import RecordingChannel, deliver
from biztrace.alerts.loop import run_pass
from biztrace.readmodel import alert_store

from .conftest import NOW

CONFIG = alerts_config.loads("""
rules:
  - {name: OrdersStuck, kind: stuck_count, process: order_to_cash, threshold: 0, for: 10m, severity: critical}
  - {name: DeadLetters, kind: dead_letters, threshold: 0, window: 1d, severity: critical}
  - {name: DuplicateDeliveries, kind: duplicate_rate, threshold: 0, window: 1d}
  - {name: FailedTransactions, kind: error_rate, threshold: 0, window: 30d, severity: error}
  - {name: HopLatencyHigh, kind: hop_latency_p95, threshold: 1000000, window: 1h}
route: {receiver: ops, group_by: [alertname], group_wait: 30s, group_interval: 5m, repeat_interval: 4h}
receivers: [{name: ops}]
""")


def _quick(channel, notification):
    return deliver(channel, notification, sleep=lambda _: None)


def _firing(report) -> dict[str, str]:
    return {a.rule: a.state for a in report.alerts}


def test_rules_fire_wait_notify_and_resolve(simulated):
    store = simulated.store
    channel = RecordingChannel("ops")
    channels = {"ops": [("recording", channel)]}
    first = run_pass(store, CONFIG, NOW, channels=channels, deliver=_quick)
    assert first.rule_errors == []
    states = _firing(first)
    assert states["OrdersStuck"] == "pending"  # for: 10m
    assert states["DeadLetters"] == states["DuplicateDeliveries"] == states["FailedTransactions"] == "firing"
    assert "HopLatencyHigh" not in states
    dead = next(a for a in first.alerts if a.rule == "DeadLetters")
    truth_dead = {f.key for f in simulated.truth.faults if f.kind == "dead_letter"
                  and f.at_ns >= (NOW - timedelta(days=1)).timestamp() * 1e9}  # fmt: skip
    assert dead.value == len(truth_dead) and {t.key for t in dead.transactions} == truth_dead
    assert first.notifications == [] and channel.sent == []  # group_wait
    assert first.exception_events.get("open", 0) > 0

    def sent_since(index: int) -> dict[str, str]:
        return {n.alerts[0].rule: n.status for n in channel.sent[index:]}

    second = run_pass(store, CONFIG, NOW + timedelta(minutes=1), channels=channels, deliver=_quick)
    assert second.notifications and all(n.delivered for n in second.notifications)
    assert {"DeadLetters", "DuplicateDeliveries", "FailedTransactions"} <= set(sent_since(0))
    assert "OrdersStuck" not in sent_since(0)

    mark = len(channel.sent)
    third = run_pass(store, CONFIG, NOW + timedelta(minutes=11), channels=channels, deliver=_quick)
    assert _firing(third)["OrdersStuck"] == "firing"
    assert "OrdersStuck" not in sent_since(mark)  # it fired this pass: group_wait again
    run_pass(store, CONFIG, NOW + timedelta(minutes=12), channels=channels, deliver=_quick)
    assert sent_since(mark)["OrdersStuck"] == "firing"
    assert "DeadLetters" not in sent_since(mark), "unchanged groups wait for repeat_interval"

    mark = len(channel.sent)
    later = NOW + timedelta(days=2)  # dead letters and duplicates left their 1-day window
    resolved = run_pass(store, CONFIG, later, channels=channels, deliver=_quick)
    assert _firing(resolved)["DeadLetters"] == "resolved"
    sent = sent_since(mark)
    assert sent["DeadLetters"] == "resolved" and sent["DuplicateDeliveries"] == "resolved"
    history = alert_store.history(store)
    assert {"pending", "firing", "resolved"} <= {row["State"] for row in history}


def test_a_receiver_that_is_down_never_stops_evaluation(simulated):
    store = simulated.store
    store.client.command(f"TRUNCATE TABLE {store.table('biztrace_alert_events')}")
    store.client.command(f"TRUNCATE TABLE {store.table('biztrace_notifications')}")
    down = RecordingChannel("down", fail_times=1000, recoverable=True)
    channels = {"ops": [("webhook", down)]}
    run_pass(store, CONFIG, NOW, channels=channels, deliver=_quick)
    report = run_pass(store, CONFIG, NOW + timedelta(minutes=1), channels=channels, deliver=_quick)
    assert report.notifications and not any(n.delivered for n in report.notifications)
    assert all(n.attempts == 5 and "told to fail" in n.error for n in report.notifications)
    log = alert_store.notifications(store)
    assert log and not any(row["Delivered"] for row in log)
    up = RecordingChannel("up")
    retry = run_pass(store, CONFIG, NOW + timedelta(minutes=2), channels={"ops": [("webhook", up)]}, deliver=_quick)
    assert retry.notifications and all(n.delivered for n in retry.notifications), "failed groups are sent again"


def test_a_failing_exception_bookkeeping_fails_the_pass_after_its_alerts_are_recorded(simulated, monkeypatch):
    """The pass runs the exception bookkeeping before the rules (the mismatch_rate rule reads the pairs it
    kept); when the bookkeeping fails, the alerts are still evaluated, recorded and sent, then the pass fails."""
    from biztrace.readmodel import exceptions

    store = simulated.store
    store.client.command(f"TRUNCATE TABLE {store.table('biztrace_alert_events')}")

    def broken(*args, **kwargs):
        raise RuntimeError("the bookkeeping broke")

    monkeypatch.setattr(exceptions, "sync", broken)
    try:
        run_pass(store, CONFIG, NOW, channels={"ops": [("recording", RecordingChannel("ops"))]}, deliver=_quick)
    except RuntimeError as exc:
        assert str(exc) == "the bookkeeping broke"
    else:
        raise AssertionError("the pass did not fail")
    recorded = {row["Rule"] for row in alert_store.history(store)}
    assert {"DeadLetters", "DuplicateDeliveries", "FailedTransactions"} <= recorded


def test_every_rule_records_the_first_fifty_keys_in_key_order(simulated):
    """The transactions a rule records with its alert are its first 50 keys in key order, distinct: the same
    on every pass over the same data (they came in the order ClickHouse's threads grouped them)."""
    from biztrace.readmodel import rules

    config = alerts_config.loads("""
rules:
  - {name: Stuck, kind: stuck_count, threshold: 0}
  - {name: StuckShare, kind: stuck_share, threshold: 0}
  - {name: Failed, kind: error_rate, threshold: 0, window: 30d}
  - {name: Dead, kind: dead_letters, threshold: 0, window: 30d}
  - {name: Dupes, kind: duplicate_rate, threshold: 0, window: 30d}
  - {name: Slow, kind: hop_latency_p95, threshold: 0, window: 30d}
""")
    found, errors = rules.evaluate(simulated.store, config, NOW)
    assert not errors
    ours = [r for r in found if r.rule in {"Stuck", "StuckShare", "Failed", "Dead", "Dupes", "Slow"}]
    for result in ours:
        assert result.keys == sorted(set(result.keys)) and len(result.keys) <= 50, (result.rule, result.keys)
    assert {r.rule for r in ours if len(r.keys) > 1} >= {"Stuck", "Failed", "Slow"}
    assert any(len(r.keys) == 50 for r in ours)


SAMPLED = """
rules:
  - {name: Failed, kind: error_rate, threshold: 0, window: 30d%s}
  - {name: Duplicates, kind: duplicate_rate, threshold: 0, window: 30d%s}
  - {name: Slow, kind: hop_latency_p95, threshold: 0, window: 30d, by: [process]%s}
  - {name: StuckShare, kind: stuck_share, threshold: 0%s}
  - {name: SlaLow, kind: sla_adherence, process: order_to_cash, threshold: 1.01, window: 30d%s,
     summary: "SLA {value:.1%%} of {sample} measured"}
  - {name: Disagree, kind: mismatch_rate, process: order_to_cash, threshold: 0, window: 30d%s}
route: {receiver: ops}
receivers: [{name: ops}]
"""


def _sampled(**min_sample: int) -> alerts_config.AlertsConfig:
    names = ("Failed", "Duplicates", "Slow", "StuckShare", "SlaLow", "Disagree")
    return alerts_config.loads(SAMPLED % tuple(
        f", min_sample: {min_sample[name]}" if name in min_sample else "" for name in names))  # fmt: skip


def test_a_share_of_fewer_than_its_min_sample_is_reported_but_never_fires(simulated):
    from biztrace.readmodel import rules
    from biztrace.readmodel.transactions import transactions

    store = simulated.store
    found, errors = rules.evaluate(store, _sampled(), NOW)
    assert errors == []
    by_rule = {(r.rule, r.labels.get("process")): r for r in found}
    order = ("order_to_cash",)
    samples = {rule: by_rule[(rule, *order)].sample for rule in ("Failed", "Duplicates", "Slow", "StuckShare",
                                                                    "SlaLow", "Disagree")}  # fmt: skip
    assert all(by_rule[(rule, *order)].active for rule in samples), by_rule
    # what each counted, by its own definition: the error rate's transactions active in the window, the
    # stuck share's unfinished ones
    states = [t for t in transactions(store, alerts_config.loads(""), NOW) if t.process == "order_to_cash"]
    window = (NOW - timedelta(days=30)).replace(tzinfo=None)
    assert samples["Failed"] == sum(1 for t in states if t.last_at >= window)
    assert samples["StuckShare"] == sum(1 for t in states if t.state != "complete")
    assert all(sample > 1 for sample in samples.values()), samples

    at_limit, _ = rules.evaluate(store, _sampled(**samples), NOW)
    above, _ = rules.evaluate(store, _sampled(**{rule: n + 1 for rule, n in samples.items()}), NOW)
    for results, fires in ((at_limit, True), (above, False)):
        shown = {(r.rule, r.labels.get("process")): r for r in results}
        for rule, sample in samples.items():
            result = shown[(rule, *order)]
            assert (result.active, result.sample) == (fires, sample), (rule, result)
            assert result.value == by_rule[(rule, *order)].value  # reported either way

    report = run_pass(store, _sampled(SlaLow=samples["SlaLow"]), NOW, persist=False)  # the module's store is shared
    [sla] = [a for a in report.alerts if a.rule == "SlaLow"]
    assert sla.sample == samples["SlaLow"]
    assert sla.annotations["summary"] == f"SLA {sla.value:.1%} of {samples['SlaLow']} measured"
    # kept with the alert's history (the document of its Transactions column), as the loop reloads it
    assert alert_store._recorded(alert_store._recording(sla))["sample"] == samples["SlaLow"]
    assert alert_store._recorded('{"transactions": [], "at_risk": null}')["sample"] is None  # one written before


def test_min_sample_is_refused_on_a_count():
    import pytest

    from biztrace.config.errors import ConfigError

    with pytest.raises(ConfigError, match="min_sample applies to"):
        alerts_config.loads("rules:\n  - {name: Stuck, kind: stuck_count, threshold: 0, min_sample: 5}\n")


def test_a_firing_alert_shows_each_passs_figures_and_keeps_its_start(store):
    """The stored alert (what the API, the Alerts page and the next pass read) carries the figures of the last
    pass, not those of its transition: a dead letter more while it fires makes it 2, with both orders and their
    value at risk; it is still firing since the first pass, and the history lists that transition only."""
    config = alerts_config.loads("""
rules:
  - {name: DeadLetters, kind: dead_letters, threshold: 0, window: 1d, severity: critical}
route: {receiver: ops}
receivers: [{name: ops}]
""")
    channels = {"ops": [("recording", RecordingChannel("ops"))]}
    columns = ["Timestamp", "SpanId", "OrderId", "Process", "Stage", "System", "DeadLetter", "Amount", "Currency"]

    def dead_letter(order: str, at) -> None:
        store.client.insert(store.table("biz_hops"), [[at, f"s-{order}", order, "order_to_cash", "order.captured",
                                                       "edi", True, 100.0, "EUR"]], column_names=columns)  # fmt: skip

    dead_letter("O-1", NOW - timedelta(hours=1))
    run_pass(store, config, NOW, channels=channels, deliver=_quick)
    dead_letter("O-2", NOW - timedelta(minutes=30))
    run_pass(store, config, NOW + timedelta(minutes=1), channels=channels, deliver=_quick)
    [stored] = alert_store.current_alerts(store).values()
    assert (stored.alert.state, stored.alert.value) == ("firing", 2)
    assert sorted(t.key for t in stored.alert.transactions) == ["O-1", "O-2"]
    assert stored.alert.at_risk is not None and stored.alert.at_risk.amounts == {"EUR": 200.0}
    assert stored.since == NOW.replace(tzinfo=None)  # firing since the first pass
    assert [(row["State"], row["Value"]) for row in alert_store.history(store)] == [("firing", 1)]
    run_pass(store, config, NOW + timedelta(minutes=2), channels=channels, deliver=_quick)  # nothing changed
    rows = store.client.command(f"SELECT count() FROM {store.table('biztrace_alert_events')}")
    assert int(rows) == 2, "a pass that changes nothing records nothing"
