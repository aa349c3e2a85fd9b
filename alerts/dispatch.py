"""Which notifications to send now: grouping, waits and repeats, silences, inhibition.

Pure: alerts, the notification log's last deliveries and ``now`` in; notifications out.
Alertmanager's timers, computed from stored times instead of running clocks:

* a new group is notified once its first alert has been firing for ``group_wait``;
* a changed group (alerts added or resolved) at most every ``group_interval``;
* an unchanged firing group again after ``repeat_interval``;
* a group whose alerts all resolved gets one resolved notification.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from biztrace.alerts.routing import RouteOptions, inhibited, routes_for
from biztrace.config import AlertsConfig
from biztrace.config.silences import Silence
from biztrace.readmodel.alert_store import LastSent
from biztrace.readmodel.models import AlertInstance, Notification


@dataclass
class _Group:
    options: RouteOptions
    labels: dict[str, str]
    alerts: list[AlertInstance] = field(default_factory=list)


def group_key(receiver: str, labels: dict[str, str]) -> str:
    text = receiver + "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"
    return f"{receiver}/{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def plan(
    alerts: list[AlertInstance],
    fired_at: dict[str, datetime],
    config: AlertsConfig,
    silences: list[Silence],
    last: dict[str, LastSent],
    now: datetime,
) -> tuple[list[Notification], dict[str, str]]:
    """Notifications due at ``now``, and why each muted alert was muted (fingerprint -> reason)."""
    now = now.replace(tzinfo=None)
    firing = [alert for alert in alerts if alert.state == "firing"]
    muted: dict[str, str] = {}
    groups: dict[str, _Group] = {}
    for alert in alerts:
        if alert.state == "pending":
            continue
        silence = next((s for s in silences if s.mutes(alert.labels, now)), None)
        if silence is not None:
            muted[alert.fingerprint] = f"silenced by {silence.id}"
            continue
        if alert.state == "firing" and inhibited(alert, firing, config.inhibit_rules):
            muted[alert.fingerprint] = "inhibited"
            continue
        for options in routes_for(alert.labels, config.route):
            labels = options.group_labels(alert.labels)
            key = group_key(options.receiver, labels)
            groups.setdefault(key, _Group(options, labels)).alerts.append(alert)
    due = []
    for key, group in groups.items():
        firing_now = frozenset(a.fingerprint for a in group.alerts if a.state == "firing")
        previous = last.get(key)
        options = group.options
        if previous is None:
            if not firing_now:
                continue  # resolved before anyone was told
            first = min(fired_at.get(a.fingerprint, now).replace(tzinfo=None) for a in group.alerts
                        if a.state == "firing")  # fmt: skip
            if now - first < options.group_wait:
                continue
        else:
            since = now - previous.at.replace(tzinfo=None)
            changed = firing_now != previous.firing
            if not firing_now and previous.status == "resolved" and not previous.firing:
                continue
            if changed and since < options.group_interval:
                continue
            if not changed and since < options.repeat_interval:
                continue
            if not firing_now and not changed:
                continue
        status = "firing" if firing_now else "resolved"
        due.append(Notification(
            receiver=options.receiver, group_key=key, group_labels=group.labels, status=status,
            alerts=sorted(group.alerts, key=lambda a: (a.state != "firing", a.rule)), sent_at=now,
        ))  # fmt: skip
    return due, muted
