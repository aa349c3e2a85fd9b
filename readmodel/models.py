"""What the alert loop hands to notification channels, and what they answer.

Alerts follow Prometheus and Alertmanager: an alert instance is a rule's finding for one
label set, in state ``pending``, ``firing`` or ``resolved``; a notification carries one
group of instances (grouped by labels) to one receiver.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from biztrace.config import InhibitRule
from biztrace.config.silences import matches

AlertState = Literal["pending", "firing", "resolved"]
Severity = Literal["critical", "error", "warning", "info"]


def naive_utc(moment: datetime) -> datetime:
    """Times inside alerts are naive UTC, as ClickHouse returns them; convert at the edges."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def fingerprint(labels: dict[str, str]) -> str:
    """Stable identity of a label set (as Alertmanager's fingerprint): 16 hex chars."""
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


class TransactionRef(BaseModel):
    """One business transaction behind an alert, with the evidence span ids."""

    process: str
    key: str
    kind: str = Field(description="exception kind: stuck, failed, duplicate, dead_letter, mismatch")
    stage: str = ""
    system: str = ""
    since: datetime | None = None
    span_ids: list[str] = Field(default_factory=list)


class AlertInstance(BaseModel):
    """One rule's finding for one label set."""

    rule: str
    labels: dict[str, str] = Field(description="includes alertname and severity")
    annotations: dict[str, str] = Field(default_factory=dict, description="summary, description, runbook_url")
    state: AlertState
    value: float
    active_since: datetime | None = None
    resolved_at: datetime | None = None
    transactions: list[TransactionRef] = Field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "warning")


class Notification(BaseModel):
    """One group of alerts for one receiver; ``status`` is firing while any alert fires."""

    receiver: str
    group_key: str = Field(description="stable id of the group: receiver and group labels")
    group_labels: dict[str, str]
    status: Literal["firing", "resolved"]
    alerts: list[AlertInstance]
    sent_at: datetime
    external_url: str = ""

    @property
    def firing(self) -> list[AlertInstance]:
        return [alert for alert in self.alerts if alert.state == "firing"]

    @property
    def resolved(self) -> list[AlertInstance]:
        return [alert for alert in self.alerts if alert.state == "resolved"]

    def summary(self) -> str:
        """One line for chat and pager titles."""
        names = sorted({alert.labels.get("alertname", alert.rule) for alert in self.alerts})
        scope = ", ".join(f"{k}={v}" for k, v in sorted(self.group_labels.items()) if k != "alertname")
        head = f"[{self.status.upper()}{':' + str(len(self.firing)) if self.status == 'firing' else ''}]"
        return f"{head} {', '.join(names)}" + (f" ({scope})" if scope else "")


def inhibitor(alert: AlertInstance, firing: list[AlertInstance], rules: list[InhibitRule]) -> AlertInstance | None:
    """The firing alert that inhibits ``alert`` under ``rules`` (a higher severity masks a lower), if any:
    the one definition the alert loop's routing and the dashboard's alert status use."""
    for rule in rules:
        if not matches(rule.target_matchers, alert.labels):
            continue
        for source in firing:
            if source.fingerprint == alert.fingerprint or source.state != "firing":
                continue
            if matches(rule.source_matchers, source.labels) and all(
                source.labels.get(name, "") == alert.labels.get(name, "") for name in rule.equal
            ):
                return source
    return None
