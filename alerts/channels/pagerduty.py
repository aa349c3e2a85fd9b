"""PagerDuty Events API v2: trigger while a group fires, resolve when it resolved.

One notification group is one PagerDuty alert. The ``dedup_key`` is a hash of the group
key, so every notification of a group (repeats included) addresses the same alert, and
the resolve closes the alert its trigger opened. After a resolve, a new trigger with the
same key opens a new PagerDuty alert, which is what a group that fires again should do.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from biztrace.alerts.channels.base import common, post_json, rfc3339, truncate
from biztrace.config.receivers import PagerDutyConfig
from biztrace.readmodel.models import AlertInstance, Notification

PagerDutySeverity = Literal["critical", "error", "warning", "info"]

SEVERITIES: dict[str, PagerDutySeverity] = {
    "critical": "critical",
    "page": "critical",
    "fatal": "critical",
    "error": "error",
    "high": "error",
    "major": "error",
    "warning": "warning",
    "warn": "warning",
    "minor": "warning",
    "info": "info",
    "low": "info",
    "none": "info",
}
"""Our severity label values (and common synonyms) -> PagerDuty's four; others are warning."""

SUMMARY_CHARS = 1024
DEDUP_KEY_CHARS = 255
TRANSACTIONS_IN_DETAILS = 100
"""Transactions listed in ``custom_details`` (PagerDuty caps an event at 512 KB)."""


def dedup_key(group_key: str) -> str:
    """The PagerDuty alert of a group: stable across processes and releases, 73 characters."""
    return "biztrace-" + hashlib.sha256(group_key.encode()).hexdigest()


def severity(alerts: list[AlertInstance]) -> PagerDutySeverity:
    """The worst severity among ``alerts``, in PagerDuty's terms (warning when none)."""
    order: list[PagerDutySeverity] = ["critical", "error", "warning", "info"]
    mapped = [SEVERITIES.get(alert.severity.lower(), "warning") for alert in alerts]
    return min(mapped, key=order.index, default="warning")


def _summary(notification: Notification) -> str:
    text = notification.summary()
    described = {a.annotations["summary"] for a in notification.firing if a.annotations.get("summary")}
    if len(described) == 1:
        text += ": " + described.pop()
    return truncate(text, SUMMARY_CHARS)


def _details(notification: Notification) -> dict[str, Any]:
    transactions = [t for alert in notification.firing for t in alert.transactions]
    return {
        "receiver": notification.receiver,
        "group_key": notification.group_key,
        "group_labels": notification.group_labels,
        "firing": len(notification.firing),
        "resolved": len(notification.resolved),
        "alerts": [
            {
                "rule": a.rule,
                "state": a.state,
                "severity": a.severity,
                "value": a.value,
                "at_risk": a.at_risk.model_dump(mode="json") if a.at_risk is not None else None,
                "labels": a.labels,
                "annotations": a.annotations,
                "since": rfc3339(a.active_since) if a.active_since else None,
            }
            for a in notification.alerts
        ],
        "transactions": [t.model_dump(mode="json") for t in transactions[:TRANSACTIONS_IN_DETAILS]],
        "transactions_total": len(transactions),
        "at_risk": at_risk.text() if (at_risk := notification.at_risk()) is not None else "",
    }


def _links(notification: Notification) -> list[dict[str, str]]:
    links: dict[str, str] = {}
    for alert in notification.firing:
        url = alert.annotations.get("runbook_url", "")
        if url and url not in links:
            links[url] = f"Runbook: {alert.labels.get('alertname', alert.rule)}"
    if notification.external_url:
        links.setdefault(notification.external_url, "biztrace")
    return [{"href": href, "text": text} for href, text in links.items()]


def event(notification: Notification, config: PagerDutyConfig) -> dict[str, Any]:
    """The Events API v2 document for a notification.

    A firing group is a ``trigger`` with the full payload (summary, source, severity,
    timestamp, component/group/class from the firing alerts' common ``system``,
    ``process`` and ``kind``/``alertname`` labels, custom details with the alerts and
    their transactions, runbook links). A resolved group is a ``resolve``, which needs
    only the routing and dedup keys.

    Returns:
        A JSON-ready dict; it holds the routing key, so never log it.
    """
    document: dict[str, Any] = {
        "routing_key": config.routing_key.get_secret_value(),
        "dedup_key": dedup_key(notification.group_key),
        "event_action": "trigger" if notification.status == "firing" else "resolve",
    }
    if notification.status == "resolved":
        return document
    labels = common([alert.labels for alert in notification.firing]) or notification.group_labels
    payload: dict[str, Any] = {
        "summary": _summary(notification),
        "source": config.source,
        "severity": severity(notification.firing),
        "timestamp": rfc3339(notification.sent_at),
    }
    for field, names in (("component", ("system",)), ("group", ("process",)), ("class", ("kind", "alertname"))):
        value = next((labels[name] for name in names if labels.get(name)), "")
        if value:
            payload[field] = value
    payload["custom_details"] = _details(notification)
    document["payload"] = payload
    document["client"] = config.client
    if notification.external_url:
        document["client_url"] = notification.external_url
    links = _links(notification)
    if links:
        document["links"] = links
    return document


class PagerDutyChannel:
    """Sends :func:`event` to the Events API; 2xx (PagerDuty answers 202) is success.

    Immutable; ``send`` is thread-safe and blocks for at most ``timeout_s`` in all
    (a whole-request deadline). 429 (rate limited) and 5xx are recoverable; 400 (invalid event) is not.

    Args:
        config: a validated configuration.
    """

    name = "pagerduty"

    def __init__(self, config: PagerDutyConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"PagerDutyChannel({self.config!r})"

    def send(self, notification: Notification) -> None:
        """Trigger or resolve the group's PagerDuty alert, once.

        Raises:
            ChannelError: PagerDuty refused the event or could not be reached.
        """
        post_json(
            self.config.url,
            event(notification, self.config),
            timeout_s=self.config.timeout_s,
            secrets=[self.config.routing_key.get_secret_value()],
        )
