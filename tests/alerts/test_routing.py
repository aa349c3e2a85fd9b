"""Routing tree inheritance and continue, grouping, inhibition and silences."""

from __future__ import annotations

from datetime import datetime, timedelta

from biztrace import config as alerts_config
from biztrace.alerts.dispatch import plan
from biztrace.alerts.routing import inhibited, routes_for
from biztrace.config import InhibitRule, Route
from biztrace.config.silences import Silence, matches
from biztrace.readmodel.alert_store import LastSent
from biztrace.readmodel.models import AlertInstance

T0 = datetime(2026, 11, 20, 12, 0)

TREE = Route.model_validate({
    "receiver": "default", "group_by": ["alertname"], "group_wait": "30s", "repeat_interval": "4h",
    "routes": [
        {"matchers": {"severity": "critical"}, "receiver": "pager", "group_wait": "10s", "continue": True,
         "routes": [{"matchers": {"process": "returns"}, "receiver": "returns-team"}]},
        {"matchers": {"process": "~order_.*"}, "receiver": "ops", "group_by": ["alertname", "process"]},
    ],
})  # fmt: skip


def test_first_match_wins_children_inherit_and_continue_goes_on():
    [only] = routes_for({"severity": "warning", "process": "order_to_cash"}, TREE)
    assert (only.receiver, only.group_by, only.group_wait) == ("ops", ("alertname", "process"), timedelta(seconds=30))
    both = routes_for({"severity": "critical", "process": "order_to_cash"}, TREE)
    assert [r.receiver for r in both] == ["pager", "ops"]
    assert both[0].group_wait == timedelta(seconds=10) and both[0].repeat_interval == timedelta(hours=4)
    nested = routes_for({"severity": "critical", "process": "returns"}, TREE)
    assert [r.receiver for r in nested] == ["returns-team"] and nested[0].group_wait == timedelta(seconds=10)
    [fallback] = routes_for({"severity": "info", "process": "customer_master"}, TREE)
    assert fallback.receiver == "default"


def test_matchers():
    assert matches({"a": "x", "b": "~y.*", "c": "!z"}, {"a": "x", "b": "yes", "c": "w"})
    assert not matches({"b": "~y.*"}, {"b": "no"})
    assert not matches({"c": "!z"}, {"c": "z"})


def _alert(name: str, severity: str, state: str = "firing", process: str = "order_to_cash") -> AlertInstance:
    return AlertInstance(rule=name, labels={"alertname": name, "severity": severity, "process": process},
                         state=state, value=1, active_since=T0)  # fmt: skip


def test_a_critical_alert_inhibits_a_warning_with_equal_labels():
    rule = InhibitRule(source_matchers={"severity": "critical"}, target_matchers={"severity": "warning"},
                       equal=["process"])  # fmt: skip
    critical, warning = _alert("A", "critical"), _alert("B", "warning")
    other = _alert("C", "warning", process="returns")
    assert inhibited(warning, [critical, warning], [rule])
    assert not inhibited(other, [critical, other], [rule])
    assert not inhibited(critical, [critical, warning], [rule])
    pending = _alert("A", "critical", state="pending")
    assert not inhibited(warning, [pending], [rule])


def test_silence_state_comes_from_times():
    silence = Silence(id="s1", matchers={"alertname": "A"}, starts_at=T0, ends_at=T0 + timedelta(hours=1),
                      created_by="alice", created_at=T0)  # fmt: skip
    assert silence.state(T0 - timedelta(seconds=1)) == "pending"
    assert silence.mutes({"alertname": "A"}, T0) and not silence.mutes({"alertname": "B"}, T0)
    assert silence.state(T0 + timedelta(hours=1)) == "expired"


CONFIG = alerts_config.loads("""
route: {receiver: default, group_by: [alertname], group_wait: 30s, group_interval: 5m, repeat_interval: 1h}
receivers: [{name: default}]
inhibit_rules: [{source_matchers: {severity: critical}, target_matchers: {severity: warning}, equal: [process]}]
""")


def test_group_wait_interval_repeat_and_resolved():
    alert = _alert("A", "critical")
    fired = {alert.fingerprint: T0}
    assert plan([alert], fired, CONFIG, [], {}, T0 + timedelta(seconds=29))[0] == []
    [first], _ = plan([alert], fired, CONFIG, [], {}, T0 + timedelta(seconds=30))
    assert first.status == "firing" and [a.rule for a in first.alerts] == ["A"]
    sent = {first.group_key: LastSent(T0 + timedelta(seconds=30), frozenset({alert.fingerprint}), "firing")}
    assert plan([alert], fired, CONFIG, [], sent, T0 + timedelta(minutes=30))[0] == []
    [repeat], _ = plan([alert], fired, CONFIG, [], sent, T0 + timedelta(hours=1, seconds=30))
    assert repeat.status == "firing"
    resolved = alert.model_copy(update={"state": "resolved", "resolved_at": T0 + timedelta(minutes=2)})
    assert plan([resolved], fired, CONFIG, [], sent, T0 + timedelta(minutes=3))[0] == []  # group_interval
    [done], _ = plan([resolved], fired, CONFIG, [], sent, T0 + timedelta(minutes=6))
    assert done.status == "resolved"
    told = {first.group_key: LastSent(T0 + timedelta(minutes=6), frozenset(), "resolved")}
    assert plan([resolved], fired, CONFIG, [], told, T0 + timedelta(hours=5))[0] == []


def test_silenced_and_inhibited_alerts_are_not_notified():
    critical, warning = _alert("A", "critical"), _alert("B", "warning")
    fired = {critical.fingerprint: T0, warning.fingerprint: T0}
    silence = Silence(id="s1", matchers={"alertname": "A"}, starts_at=T0, ends_at=T0 + timedelta(hours=1),
                      created_by="alice", created_at=T0)  # fmt: skip
    due, muted = plan([critical, warning], fired, CONFIG, [silence], {}, T0 + timedelta(minutes=1))
    assert muted == {critical.fingerprint: "silenced by s1", warning.fingerprint: "inhibited"}
    assert due == []
    due, muted = plan([critical, warning], fired, CONFIG, [], {}, T0 + timedelta(minutes=1))
    assert [n.alerts[0].rule for n in due] == ["A"] and muted == {warning.fingerprint: "inhibited"}
