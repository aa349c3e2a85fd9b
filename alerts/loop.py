"""One evaluation pass, and the loop that repeats it.

A pass: evaluate every rule in ClickHouse, step each alert's lifecycle, record the
transitions, plan the notifications due, deliver them (a failed delivery is logged and
retried next pass; it never stops evaluation), and keep the exception lifecycle in step.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from biztrace.alerts import dispatch, state
from biztrace.config import AlertsConfig
from biztrace.readmodel import alert_store, exceptions, rules
from biztrace.readmodel.models import AlertInstance, Notification, naive_utc
from biztrace.store import Store

logger = logging.getLogger(__name__)


class Delivery(BaseModel):
    """One notification's outcome on one channel."""

    receiver: str
    channel: str
    group_key: str
    status: str
    delivered: bool
    attempts: int
    error: str | None = None


class PassReport(BaseModel):
    """What ``biztrace alerts evaluate --json`` prints."""

    evaluated_at: datetime
    alerts: list[AlertInstance]
    muted: dict[str, str] = Field(description="fingerprint -> silenced by <id> | inhibited")
    notifications: list[Delivery]
    rule_errors: list[str]
    exception_events: dict[str, int]


Deliver = Callable[[Any, Notification], Any]


def _channels(config: AlertsConfig) -> dict[str, list[tuple[str, Any]]]:
    """Receiver name -> [(channel type, channel)], built once from the configuration."""
    built: dict[str, list[tuple[str, Any]]] = {}
    for receiver in config.receivers:
        items = receiver.channel_configs()
        if items:
            from biztrace.alerts.channels import build_channel

            built[receiver.name] = [(kind, build_channel({"type": kind, **options})) for kind, options in items]
        else:
            built[receiver.name] = []
    return built


def run_pass(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    channels: dict[str, list[tuple[str, Any]]] | None = None,
    deliver: Deliver | None = None,
    persist: bool = True,
) -> PassReport:
    """Evaluate, record, notify. With ``persist=False`` nothing is written or sent (a dry run).

    Every transaction is classified once per pass (:func:`alerts.rules.snapshot`); the rules
    and the exception bookkeeping both read that snapshot.
    """
    now = naive_utc(now)
    with rules.snapshot(store, config, now) as snapshot:
        return _pass(store, config, now, snapshot, channels, deliver, persist)


def _pass(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    snapshot: str,
    channels: dict[str, list[tuple[str, Any]]] | None,
    deliver: Deliver | None,
    persist: bool,
) -> PassReport:
    results, errors = rules.evaluate(store, config, now, snapshot)
    by_rule = {rule.name: rule for rule in config.rules}
    previous = alert_store.current_alerts(store)
    current: dict[str, AlertInstance] = {}
    changes: list[tuple[AlertInstance, str]] = []
    seen: set[str] = set()
    for result in results:
        rule = by_rule[result.rule]
        labels = state.labels_for(rule, result)
        fingerprint = AlertInstance(rule=rule.name, labels=labels, state="pending", value=0).fingerprint
        seen.add(fingerprint)
        before = previous.get(fingerprint)
        after = state.step(
            before.alert if before else None, result, rule, now,
            summary=state.render_summary(rule.summary, result.value),
            runbook=config.runbook(state._kind(rule), rule.process),
        )  # fmt: skip
        _track(before, after, fingerprint, current, changes)
    for fingerprint, before in previous.items():
        if fingerprint in seen:
            continue
        rule = by_rule.get(before.alert.rule)
        if rule is None:  # the rule was removed from the configuration
            changes.append((before.alert, "inactive"))
            continue
        _track(before, state.step(before.alert, None, rule, now), fingerprint, current, changes)
    fired_at = {fp: (previous[fp].since if fp in previous and previous[fp].alert.state == "firing" else now)
                for fp, alert in current.items() if alert.state == "firing"}  # fmt: skip
    silences = alert_store.silences(store)
    due, muted = dispatch.plan(list(current.values()), fired_at, config, silences, alert_store.last_sent(store), now)
    deliveries: list[Delivery] = []
    exception_events: dict[str, int] = {}
    if persist:
        alert_store.record_alerts(store, changes, now)
        receivers = channels if channels is not None else _channels(config)
        for notification in due:
            deliveries.extend(_send(store, notification, receivers.get(notification.receiver, []), deliver, now))
        exception_events = exceptions.sync(store, config, now, classified=snapshot)
    return PassReport(
        evaluated_at=now, alerts=sorted(current.values(), key=lambda a: (a.rule, sorted(a.labels.items()))),
        muted=muted, notifications=deliveries, rule_errors=errors, exception_events=exception_events,
    )  # fmt: skip


def _track(before, after: AlertInstance | None, fingerprint: str, current: dict, changes: list) -> None:
    if after is not None:
        current[fingerprint] = after
    old_state = before.alert.state if before else None
    if after is None and old_state is not None:
        changes.append((before.alert, "inactive"))
    elif after is not None and after.state != old_state:
        changes.append((after, after.state))


def _send(store: Store, notification: Notification, channels: list[tuple[str, Any]], deliver: Deliver | None,
          now: datetime) -> list[Delivery]:  # fmt: skip
    if not channels:  # a receiver without channels keeps history only
        alert_store.record_notification(store, notification, "none", True, 0, None, now)
        return [Delivery(receiver=notification.receiver, channel="none", group_key=notification.group_key,
                         status=notification.status, delivered=True, attempts=0)]  # fmt: skip
    if deliver is None:
        from functools import partial

        from biztrace.alerts.channels import deliver as deliver_with_retries

        # within a pass a receiver that is down costs seconds, not minutes: the next pass retries
        deliver = partial(deliver_with_retries, attempts=3, initial_backoff_s=0.5, max_backoff_s=2.0)
    outcomes = []
    for kind, channel in channels:
        result = deliver(channel, notification)
        delivered, attempts, error = bool(result.delivered), int(result.attempts), result.error
        if not delivered:
            logger.warning("notification to %s/%s failed: %s", notification.receiver, kind, error)
        alert_store.record_notification(store, notification, kind, delivered, attempts, error, now)
        outcomes.append(Delivery(
            receiver=notification.receiver, channel=kind, group_key=notification.group_key,
            status=notification.status, delivered=delivered, attempts=attempts, error=error,
        ))  # fmt: skip
    return outcomes


def run_forever(store: Store, config: AlertsConfig, *, stop: threading.Event, clock=lambda: datetime.now(UTC),
                on_pass: Callable[[PassReport], None] | None = None) -> None:  # fmt: skip
    """Run a pass every ``evaluation_interval`` until ``stop`` is set; a failing pass is logged."""
    channels = _channels(config)
    interval = config.evaluation_interval.total_seconds()
    while not stop.is_set():
        try:
            report = run_pass(store, config, clock(), channels=channels)
            if on_pass:
                on_pass(report)
        except Exception:  # the loop must survive a bad pass (store hiccup, rule error)
            logger.exception("alert evaluation pass failed; retrying next interval")
        stop.wait(interval)
