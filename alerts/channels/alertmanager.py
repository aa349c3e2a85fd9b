"""Alertmanager API v2: POST /api/v2/alerts, for teams that already route there."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field

from alerts.channels.base import post_json
from alerts.models import Notification


class AlertmanagerConfig(BaseModel):
    url: str = Field(pattern=r"^https?://", description="Alertmanager's base URL")
    resolve_timeout_s: float = Field(300.0, gt=0, description="endsAt of firing alerts is now + this")
    generator_url: str = ""
    timeout_s: float = Field(10.0, gt=0)


def alerts(notification: Notification, config: AlertmanagerConfig) -> list[dict]:
    """The v2 alert array: firing alerts end in the future, resolved ones in the past."""
    ends = notification.sent_at + timedelta(seconds=config.resolve_timeout_s)
    return [
        {
            "labels": alert.labels,
            "annotations": alert.annotations,
            "startsAt": (alert.active_since or notification.sent_at).isoformat() + "Z",
            "endsAt": ((alert.resolved_at or notification.sent_at) if alert.state == "resolved" else ends).isoformat()
            + "Z",
            "generatorURL": config.generator_url,
        }
        for alert in notification.alerts
    ]


class AlertmanagerChannel:
    name = "alertmanager"

    def __init__(self, config: AlertmanagerConfig) -> None:
        self.config = config

    def send(self, notification: Notification) -> None:
        post_json(self.config.url.rstrip("/") + "/api/v2/alerts", alerts(notification, self.config),
                  timeout_s=self.config.timeout_s)  # fmt: skip
