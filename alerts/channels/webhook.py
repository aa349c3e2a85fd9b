"""Generic JSON webhook, in Alertmanager's webhook shape plus biztrace's transactions."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from alerts.channels.base import post_json
from alerts.models import Notification


class WebhookConfig(BaseModel):
    url: str = Field(pattern=r"^https?://")
    token: SecretStr | None = Field(None, description="sent as Authorization: Bearer <token>")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(10.0, gt=0)


def payload(notification: Notification) -> dict:
    """Alertmanager's webhook document, with each alert's transactions added."""
    alerts = notification.alerts
    common_labels = {k: v for k, v in alerts[0].labels.items() if all(a.labels.get(k) == v for a in alerts)}
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "status": notification.status,
        "receiver": notification.receiver,
        "groupLabels": notification.group_labels,
        "commonLabels": common_labels,
        "commonAnnotations": {
            k: v for k, v in alerts[0].annotations.items() if all(a.annotations.get(k) == v for a in alerts)
        },  # fmt: skip
        "externalURL": notification.external_url,
        "alerts": [
            {
                "status": "firing" if alert.state == "firing" else "resolved",
                "labels": alert.labels,
                "annotations": alert.annotations,
                "startsAt": alert.active_since.isoformat() if alert.active_since else None,
                "endsAt": alert.resolved_at.isoformat() if alert.resolved_at else "0001-01-01T00:00:00Z",
                "fingerprint": alert.fingerprint,
                "value": alert.value,
                "transactions": [t.model_dump(mode="json") for t in alert.transactions],
            }
            for alert in alerts
        ],
    }


class WebhookChannel:
    """POSTs :func:`payload` as JSON."""

    name = "webhook"

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config

    def send(self, notification: Notification) -> None:
        headers = dict(self.config.headers)
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token.get_secret_value()}"
        post_json(self.config.url, payload(notification), headers=headers, timeout_s=self.config.timeout_s)
