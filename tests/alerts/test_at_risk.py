"""The value at risk behind alerts: summed in ClickHouse over the pass's snapshot, the same number as the
transactions the alert lists and as the exceptions' own amounts, stored, and stated in notifications."""

from __future__ import annotations

from collections import defaultdict

import pytest

from biztrace import config as alerts_config
from biztrace.alerts.channels import deliver
from biztrace.alerts.channels.email import body
from biztrace.alerts.channels.slack import message
from biztrace.alerts.loop import run_pass
from biztrace.readmodel import alert_store, exceptions, overview
from biztrace.readmodel.models import AtRisk, Notification, format_money
from biztrace.store import schema

from .conftest import NOW
from .servers import ScriptedServer

RULES = """
rules:
  - {name: OrdersStuck, kind: stuck_count, process: order_to_cash, threshold: 0, severity: critical}
  - {name: FailedByStage, kind: error_rate, threshold: 0, window: 30d, by: [process, stage]}
  - {name: DeadLetters, kind: dead_letters, threshold: 0, window: 1d}
  - {name: HopLatencyHigh, kind: hop_latency_p95, threshold: 0, window: 1h}
route: {receiver: ops, group_by: [alertname], group_wait: 0s, group_interval: 1m, repeat_interval: 4h}
"""


@pytest.fixture(scope="module")
def webhook():
    server = ScriptedServer(200)
    yield server
    server.close()


@pytest.fixture(scope="module")
def passed(simulated, webhook):
    store = simulated.store
    for table in (schema.ALERT_EVENTS, schema.NOTIFICATIONS, schema.SILENCES):
        store.client.command(f"TRUNCATE TABLE {store.table(table)}")
    config = alerts_config.loads(RULES + f'receivers: [{{name: ops, webhook: {{url: "{webhook.url}"}}}}]\n')
    report = run_pass(store, config, NOW, deliver=lambda c, n: deliver(c, n, sleep=lambda _: None))
    assert report.rule_errors == []
    return config, report


def _summed(items) -> tuple[dict[str, float], int, int]:
    """Amounts per currency, transactions and those without an amount, one per (process, key)."""
    amounts: dict[str, float] = defaultdict(float)
    seen = {(i.process, i.key): i for i in items}
    for item in seen.values():
        if item.amount is not None:
            amounts[item.currency] += item.amount
    return dict(amounts), len(seen), sum(1 for i in seen.values() if i.amount is None)


def _same(at_risk: AtRisk, expected: tuple[dict[str, float], int, int]) -> None:
    amounts, count, without = expected
    assert at_risk.amounts == pytest.approx(amounts) and set(at_risk.amounts) == set(amounts)
    assert (at_risk.transactions, at_risk.without_amount) == (count, without)


def test_every_alert_carries_its_value_at_risk_one_number_three_ways(simulated, passed):
    config, report = passed
    detected = exceptions.detect(simulated.store, config, NOW)
    alerts = {(a.rule, a.labels.get("stage", "")): a for a in report.alerts}
    stuck = alerts[("OrdersStuck", "")]
    expected = _summed([e for e in detected if e.kind == "stuck" and e.process == "order_to_cash"])
    assert expected[0] and stuck.at_risk is not None and stuck.at_risk.basis == "all"
    _same(stuck.at_risk, expected)  # the exceptions' own amounts, summed here
    listed = overview.alert_transactions(simulated.store, config, stuck, NOW, limit=100_000)
    assert listed is not None and listed.total == stuck.at_risk.transactions
    _same(stuck.at_risk, _summed(listed.rows))  # every transaction the alert lists
    _same(listed.at_risk, (stuck.at_risk.amounts, stuck.at_risk.transactions, stuck.at_risk.without_amount))

    failed = [a for (rule, _), a in alerts.items() if rule == "FailedByStage"]
    assert len(failed) > 1, "one alert per (process, stage)"
    for alert in failed:
        wanted = [e for e in detected if e.kind == "failed" and e.process == alert.labels["process"]
                  and e.stage == alert.labels["stage"]]  # fmt: skip
        assert alert.at_risk is not None
        _same(alert.at_risk, _summed(wanted))

    dead = [a for (rule, _), a in alerts.items() if rule == "DeadLetters"]
    assert dead and all(a.at_risk is not None and a.at_risk.basis == "recorded" for a in dead)
    assert sum(a.at_risk.transactions for a in dead) == sum(len({t.key for t in a.transactions}) for a in dead)
    assert all(a.at_risk is None for (rule, _), a in alerts.items() if rule == "HopLatencyHigh")

    stored = {s.alert.fingerprint: s.alert for s in alert_store.current_alerts(simulated.store).values()}
    assert stored[stuck.fingerprint].at_risk == stuck.at_risk


def test_notifications_state_the_total_at_risk(passed, webhook):
    _, report = passed
    stuck = next(a for a in report.alerts if a.rule == "OrdersStuck")
    assert stuck.at_risk is not None
    money = " + ".join(format_money(v, c) for c, v in sorted(stuck.at_risk.amounts.items(), key=lambda i: -i[1]))
    stated = f"{money} at risk ({stuck.at_risk.transactions:,} transactions"
    documents = [d for d in webhook.documents() if d["groupLabels"].get("alertname") == "OrdersStuck"]
    assert documents, "the webhook received the OrdersStuck group"
    [sent] = documents[0]["alerts"]
    assert sent["at_risk_text"].startswith(stated)
    assert sent["at_risk"]["amounts"] == pytest.approx(stuck.at_risk.amounts)
    group = Notification(receiver="ops", group_key="ops/x", group_labels={"alertname": "OrdersStuck"},
                         status="firing", alerts=[stuck], sent_at=NOW)  # fmt: skip
    assert stated in group.summary() and stated in message(group)["text"]
    assert f"at risk: {stated}" in body(group)


def test_the_api_lists_each_alert_with_its_value_at_risk(simulated, passed):
    import httpx

    from biztrace.api import tokens
    from biztrace.api.app import build_app
    from biztrace.api.server import ApiServer

    config, report = passed
    stuck = next(a for a in report.alerts if a.rule == "OrdersStuck")
    server = ApiServer(build_app(simulated.store, config, lambda: NOW.replace(tzinfo=None)), port=0).start()
    try:
        secret = tokens.create(simulated.store, "at-risk-bot", ["on-call"], "test", NOW)[1]
        listed = httpx.get(f"{server.url}/api/v1/alerts", headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    finally:
        server.stop()
    assert listed.status_code == 200, listed.text
    [shown] = [a for a in listed.json() if a["rule"] == "OrdersStuck"]
    assert shown["at_risk"]["amounts"] == pytest.approx(stuck.at_risk.amounts)
    assert shown["at_risk"]["transactions"] == stuck.at_risk.transactions
    assert shown["at_risk_text"] == stuck.at_risk.text()
