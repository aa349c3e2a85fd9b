"""One bad rule or silence never stops a pass: it is reported, and everything else goes on."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta
from functools import partial

import pytest

from biztrace import config as alerts_config
from biztrace.alerts.channels import RecordingChannel, deliver
from biztrace.alerts.loop import EVALUATION_ERROR, run_forever, run_pass
from biztrace.cli import main
from biztrace.config.receivers import Receiver
from biztrace.readmodel import alert_store
from biztrace.store import schema
from support import store_dsn

from .conftest import NOW
from .servers import ScriptedServer, TrickleServer

CONFIG = alerts_config.loads("""
rules:
  - {name: DeadLetters, kind: dead_letters, threshold: 0, window: 1d, severity: critical}
  - {name: DuplicateDeliveries, kind: duplicate_rate, threshold: 0, window: 1d}
  - {name: FailedTransactions, kind: error_rate, threshold: 0, window: 30d, severity: error}
route: {receiver: ops, group_by: [alertname], group_wait: 0s, group_interval: 1m, repeat_interval: 4h}
receivers: [{name: ops}]
""")


def _quick(channel, notification):
    return deliver(channel, notification, sleep=lambda _: None)


@pytest.fixture
def store(simulated):
    store = simulated.store
    for table in (schema.ALERT_EVENTS, schema.NOTIFICATIONS, schema.SILENCES):
        store.client.command(f"TRUNCATE TABLE {store.table(table)}")
    return store


def _without(config, **broken):
    """The configuration with some rules changed past validation (as code could build it)."""
    rules = [rule.model_copy(update=broken[rule.name]) if rule.name in broken else rule for rule in config.rules]
    return config.model_copy(update={"rules": rules})


def test_a_rule_that_fails_keeps_its_alerts_and_the_pass_goes_on(store, caplog):
    channel = RecordingChannel("ops")
    channels = {"ops": [("recording", channel)]}
    first = run_pass(store, CONFIG, NOW, channels=channels, deliver=_quick)
    firing = {a.rule for a in first.alerts if a.state == "firing"}
    assert {"DeadLetters", "DuplicateDeliveries", "FailedTransactions"} <= firing
    broken = _without(CONFIG, DeadLetters={"by": ["region"]}, DuplicateDeliveries={"window": timedelta(days=10**6)})
    mark = len(channel.sent)
    second = run_pass(store, broken, NOW + timedelta(minutes=1), channels=channels, deliver=_quick)
    assert set(second.failed_rules) == {"DeadLetters", "DuplicateDeliveries"}
    assert "region" in second.failed_rules["DeadLetters"]
    assert second.failed_rules["DuplicateDeliveries"].startswith("rule DuplicateDeliveries: ")
    by_rule = {a.rule: a for a in second.alerts}
    for name in ("DeadLetters", "DuplicateDeliveries"):  # not evaluated: still firing, showing why
        assert by_rule[name].state == "firing"
        assert by_rule[name].annotations[EVALUATION_ERROR] == second.failed_rules[name]
    evaluated = by_rule["FailedTransactions"]
    assert evaluated.state == "firing" and EVALUATION_ERROR not in evaluated.annotations
    assert not any(n.status == "resolved" for n in channel.sent[mark:]), "a failed evaluation resolves nothing"
    assert any("DeadLetters" in r.message and r.levelname == "WARNING" for r in caplog.records)
    third = run_pass(store, CONFIG, NOW + timedelta(minutes=2), channels=channels, deliver=_quick)
    assert third.failed_rules == {} and EVALUATION_ERROR not in {k for a in third.alerts for k in a.annotations}


def test_a_stored_silence_that_does_not_compile_mutes_nothing_and_the_pass_goes_on(store):
    rows = [
        ["old1", 1, NOW.replace(tzinfo=None), (NOW - timedelta(hours=1)).replace(tzinfo=None),
         (NOW + timedelta(hours=1)).replace(tzinfo=None), {"alertname": "~("}, "old-version", "stored as typed"],
        ["good", 1, NOW.replace(tzinfo=None), (NOW - timedelta(hours=1)).replace(tzinfo=None),
         (NOW + timedelta(hours=1)).replace(tzinfo=None), {"alertname": "DuplicateDeliveries"}, "alice", ""],
    ]  # fmt: skip
    store.client.insert(schema.SILENCES, rows, database=store.database,
                        column_names=["Id", "Version", "CreatedAt", "StartsAt", "EndsAt", "Matchers", "CreatedBy",
                                      "Comment"])  # fmt: skip
    channel = RecordingChannel("ops")
    report = run_pass(store, CONFIG, NOW, channels={"ops": [("recording", channel)]}, deliver=_quick)
    assert list(report.silence_problems) == ["old1"] and "does not compile" in report.silence_problems["old1"]
    muted = {a.rule for a in report.alerts if a.fingerprint in report.muted}
    assert muted == {"DuplicateDeliveries"}, "the good silence still mutes; the bad one mutes nothing"
    sent = {n.alerts[0].rule for n in channel.sent}
    assert {"DeadLetters", "FailedTransactions"} <= sent and "DuplicateDeliveries" not in sent


def test_silence_list_shows_a_stored_silence_that_does_not_compile(store, capsys):
    rows = [["old1", 1, NOW.replace(tzinfo=None), NOW.replace(tzinfo=None),
             (NOW + timedelta(hours=1)).replace(tzinfo=None), {"alertname": "~("}, "old-version", ""]]  # fmt: skip
    store.client.insert(schema.SILENCES, rows, database=store.database,
                        column_names=["Id", "Version", "CreatedAt", "StartsAt", "EndsAt", "Matchers", "CreatedBy",
                                      "Comment"])  # fmt: skip
    dsn = store_dsn(store.address.path, store.database) if store.address.embedded else store.address.dsn
    assert main(["alerts", "silence", "list", "--store", dsn, "--now", NOW.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "old1" in out and "mutes nothing: matcher alertname=~(: the regex does not compile" in out


def test_a_receiver_that_cannot_be_built_is_reported_and_the_pass_goes_on(store):
    bad = Receiver.model_construct(name="ops", webhook=[{"url": "ftp://built-in-code"}], slack=[], pagerduty=[],
                                   email=[], alertmanager=[])  # fmt: skip
    config = CONFIG.model_copy(update={"receivers": [bad]})
    report = run_pass(store, config, NOW)
    assert "ops" in report.receiver_problems and {"DeadLetters", "FailedTransactions"} <= {
        a.rule for a in report.alerts
    }
    log = alert_store.notifications(store)
    assert log and not any(row["Delivered"] for row in log)
    assert all(row["Error"] == report.receiver_problems["ops"] for row in log)


def test_silence_add_refuses_a_regex_that_does_not_compile(tmp_path, capsys):
    code = main(["alerts", "silence", "add", "--matcher", "alertname=~(", "--by", "alice",
                 "--store", f"chdb://{tmp_path}/never-opened"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("biztrace: --matcher: matchers: matcher alertname=~(: the regex does not compile")


def test_a_trickling_receiver_never_delays_evaluation_or_the_other_receivers(store):
    """Issue 14 item 3: headers, then a byte every 0.5 s, froze the loop; now the rule fires on time.

    One attempt per delivery keeps the slow worker always inside a request (its receiver
    stays behind), so the passes' ends can be compared with the requests it held.
    """
    slow = TrickleServer(every_s=0.5, body_bytes=400)  # 200 s per request unless cut
    fast = ScriptedServer(200)
    limited = ScriptedServer(503, {"Retry-After": "3600"})
    config = alerts_config.loads(f"""
evaluation_interval: 0.5
rules:
  - {{name: DeadLetters, kind: dead_letters, threshold: 0, window: 1d, severity: critical}}
  - {{name: OrdersStuck, kind: stuck_count, process: order_to_cash, threshold: 0, for: 2m, severity: critical}}
route:
  receiver: fast
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 4h
  routes:
    - {{receiver: slow, continue: true}}
    - {{receiver: limited, continue: true}}
    - {{receiver: fast}}
receivers:
  - {{name: fast, webhook: {{url: "{fast.url}"}}}}
  - {{name: slow, webhook: {{url: "{slow.url}", timeout_s: 2}}}}
  - {{name: limited, webhook: {{url: "{limited.url}"}}}}
""")
    passes = 4
    stop = threading.Event()
    ticks = iter(range(10**6))
    reports: list[tuple[float, object]] = []

    def on_pass(report) -> None:
        reports.append((time.monotonic(), report))
        if len(reports) >= passes:
            stop.set()

    loop = threading.Thread(target=run_forever, args=(store, config),
                            kwargs={"stop": stop, "clock": lambda: NOW + timedelta(minutes=next(ticks)),
                                    "on_pass": on_pass, "deliver": partial(deliver, attempts=1)},
                            daemon=True)  # fmt: skip
    started = time.monotonic()
    loop.start()
    loop.join(300)  # a budget for the old behaviour (each request held 200 s), not a threshold
    stop.set()
    loop.join(30)
    try:
        assert len(reports) >= passes, f"{len(reports)} passes in {time.monotonic() - started:.0f}s: the loop was held"
        held = slow.connections()
        during = [t for t, _ in reports if any(c.started < t < (c.ended or float("inf")) for c in held)]
        assert during, "no pass ended while the trickling receiver held a request: evaluation waited for it"
        states = [{a.rule: a.state for a in r.alerts} for _, r in reports]
        fired = next(i for i, s in enumerate(states) if s.get("OrdersStuck") == "firing")
        assert fired == 2 and states[1]["OrdersStuck"] == "pending", "for: 2m, one pass a minute: fires at the third"
        assert reports[fired][1].evaluated_at == (NOW + timedelta(minutes=2)).replace(tzinfo=None)
        log = alert_store.notifications(store, 10_000)
        stuck_to_fast = [d for d in fast.documents() if d["groupLabels"].get("alertname") == "OrdersStuck"]
        assert stuck_to_fast and stuck_to_fast[0]["status"] == "firing"
        assert any(row["Receiver"] == "fast" and row["Delivered"] and row["At"] == NOW.replace(tzinfo=None)
                   + timedelta(minutes=2) for row in log), "notified at the pass it fired"  # fmt: skip
        per_group: dict[str, int] = {}
        for document in limited.documents():
            per_group[document["groupKey"]] = per_group.get(document["groupKey"], 0) + 1
        assert per_group and set(per_group.values()) == {1}, f"Retry-After: 3600 not honoured: {per_group}"
        assert any(row["Receiver"] == "slow" and "within 2s" in row["Error"] for row in log)
        seconds = [c.seconds for c in held if c.seconds is not None]
        gaps = [b - a for (a, _), (b, _) in itertools.pairwise(reports)]
        print(f"slow receiver: {len(held)} requests, each held {min(seconds):.2f}-{max(seconds):.2f}s (deadline 2s); "
              f"{len(reports)} passes {min(gaps):.1f}-{max(gaps):.1f}s apart (interval 0.5s), "
              f"{len(during)} ended while a slow request was held")  # fmt: skip
        assert max(seconds) < 2 + 10, "a request outlived its deadline"
    finally:
        slow.close()
        fast.close()
        limited.close()
