"""Alert lifecycle with a controllable clock: pending, firing after for:, resolved, dropped."""

from __future__ import annotations

from datetime import datetime, timedelta

from biztrace.alerts.state import RESOLVED_RETENTION, step
from biztrace.config import Rule
from biztrace.readmodel.rules import RuleResult

T0 = datetime(2026, 11, 20, 12, 0)
RULE = Rule(name="OrdersStuck", kind="stuck_count", threshold=5, severity="critical", **{"for": "5m"})


def _result(value: float) -> RuleResult:
    return RuleResult(rule=RULE.name, labels={"process": "order_to_cash"}, value=value, active=value > 5,
                      keys=["O-1", "O-2"])  # fmt: skip


def test_pending_then_firing_after_for_then_resolved_then_dropped():
    first = step(None, _result(9), RULE, T0)
    assert first.state == "pending" and first.active_since == T0
    assert first.labels == {"alertname": "OrdersStuck", "severity": "critical", "process": "order_to_cash"}
    assert [t.key for t in first.transactions] == ["O-1", "O-2"] and first.transactions[0].kind == "stuck"
    still = step(first, _result(9), RULE, T0 + timedelta(minutes=4, seconds=59))
    assert still.state == "pending"
    fired = step(still, _result(12), RULE, T0 + timedelta(minutes=5))
    assert fired.state == "firing" and fired.value == 12 and fired.active_since == T0
    resolved = step(fired, _result(1), RULE, T0 + timedelta(minutes=9))
    assert resolved.state == "resolved" and resolved.resolved_at == T0 + timedelta(minutes=9)
    kept = step(resolved, _result(1), RULE, T0 + timedelta(minutes=9) + RESOLVED_RETENTION - timedelta(seconds=1))
    assert kept is resolved
    assert step(resolved, _result(1), RULE, T0 + timedelta(minutes=9) + RESOLVED_RETENTION) is None


def test_pending_that_clears_is_dropped_without_resolving():
    pending = step(None, _result(9), RULE, T0)
    assert step(pending, _result(2), RULE, T0 + timedelta(minutes=1)) is None
    assert step(pending, None, RULE, T0 + timedelta(minutes=1)) is None


def test_zero_for_fires_at_once_and_a_new_episode_restarts_the_clock():
    rule = RULE.model_copy(update={"for_": timedelta(0)})
    fired = step(None, _result(9), rule, T0)
    assert fired.state == "firing"
    resolved = step(fired, _result(0), rule, T0 + timedelta(minutes=1))
    again = step(resolved, _result(9), rule, T0 + timedelta(minutes=2))
    assert again.state == "firing" and again.active_since == T0 + timedelta(minutes=2)


def test_sla_adherence_fires_below_its_target():
    rule = Rule(name="Sla", kind="sla_adherence", threshold=0.95)
    assert rule.fires_below
    low = RuleResult(rule="Sla", labels={}, value=0.9, active=0.9 < 0.95, keys=[])
    assert step(None, low, rule, T0).state == "firing"
