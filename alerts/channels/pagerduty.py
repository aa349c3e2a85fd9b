"""PagerDuty Events API v2: trigger while a group fires, resolve when it resolved.

The dedup key is derived from the group key, so every notification of one group addresses
one PagerDuty alert, and a resolve closes the alert its trigger opened.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field, SecretStr

from alerts.channels.base import post_json
from alerts.models import Notification

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_SEVERITY = {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}


class PagerDutyConfig(BaseModel):
    routing_key: SecretStr = Field(description="the integration's 32-character routing key")
    url: str = Field(EVENTS_URL, pattern=r"^https?://")
    source: str = "biztrace"
    timeout_s: float = Field(10.0, gt=0)


def dedup_key(group_key: str) -> str:
    return "biztrace-" + hashlib.sha256(group_key.encode()).hexdigest()[:40]


def event(notification: Notification, config: PagerDutyConfig) -> dict:
    """One Events API v2 document for a notification."""
    document = {
        "routing_key": config.routing_key.get_secret_value(),
        "dedup_key": dedup_key(notification.group_key),
        "event_action": "trigger" if notification.status == "firing" else "resolve",
    }
    if notification.status == "firing":
        worst = min((a.severity for a in notification.firing), key=list(_SEVERITY).index, default="warning")
        labels = notification.alerts[0].labels
        document["payload"] = {
            "summary": notification.summary()[:1024],
            "source": config.source,
            "severity": _SEVERITY.get(worst, "warning"),
            "timestamp": notification.sent_at.isoformat() + "Z",
            "component": labels.get("system", ""),
            "group": labels.get("process", ""),
            "class": labels.get("alertname", ""),
            "custom_details": {
                "alerts": [
                    {"rule": a.rule, "labels": a.labels, "value": a.value, "summary": a.annotations.get("summary", "")}
                    for a in notification.firing
                ],  # fmt: skip
                "transactions": [t.key for a in notification.firing for t in a.transactions][:50],
            },
        }
    return document


class PagerDutyChannel:
    name = "pagerduty"

    def __init__(self, config: PagerDutyConfig) -> None:
        self.config = config

    def send(self, notification: Notification) -> None:
        post_json(self.config.url, event(notification, self.config), timeout_s=self.config.timeout_s, accept=(202,))
