"""Generic JSON webhook, in Alertmanager's webhook shape plus biztrace's transactions.

A receiver written for Alertmanager's ``webhook_config`` reads this document unchanged;
each alert additionally carries its ``value``, the ``transactions`` behind it and their value
(``at_risk``: currency -> amount and counts; ``at_risk_text``: the same as one sentence).
"""

from __future__ import annotations

from typing import Any

from biztrace.alerts.channels.base import ZERO_TIME, common, post_json, rfc3339
from biztrace.config.receivers import WebhookConfig
from biztrace.readmodel.models import AlertInstance, Notification

WEBHOOK_VERSION = "4"
"""The version of Alertmanager's webhook document this follows."""


def _alert(alert: AlertInstance, notification: Notification) -> dict[str, Any]:
    return {
        "status": "firing" if alert.state == "firing" else "resolved",
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": rfc3339(alert.active_since or notification.sent_at),
        "endsAt": rfc3339(alert.resolved_at or notification.sent_at) if alert.state == "resolved" else ZERO_TIME,
        "generatorURL": notification.external_url,
        "fingerprint": alert.fingerprint,
        "value": alert.value,
        "at_risk": alert.at_risk.model_dump(mode="json") if alert.at_risk is not None else None,
        "at_risk_text": alert.at_risk.text() if alert.at_risk is not None else "",
        "transactions": [transaction.model_dump(mode="json") for transaction in alert.transactions],
    }


def payload(notification: Notification, max_alerts: int = 0) -> dict[str, Any]:
    """Alertmanager's webhook document for a notification, with values and transactions.

    Args:
        notification: the group to describe.
        max_alerts: keep at most this many alerts (firing first, as the group is ordered);
            0 keeps all. ``truncatedAlerts`` says how many were left out.

    Returns:
        A JSON-ready dict.
    """
    alerts = notification.alerts[:max_alerts] if max_alerts else notification.alerts
    return {
        "version": WEBHOOK_VERSION,
        "groupKey": notification.group_key,
        "truncatedAlerts": len(notification.alerts) - len(alerts),
        "status": notification.status,
        "receiver": notification.receiver,
        "groupLabels": notification.group_labels,
        "commonLabels": common([alert.labels for alert in notification.alerts]),
        "commonAnnotations": common([alert.annotations for alert in notification.alerts]),
        "externalURL": notification.external_url,
        "alerts": [_alert(alert, notification) for alert in alerts],
    }


class WebhookChannel:
    """POSTs :func:`payload` as JSON to the configured URL.

    Immutable; ``send`` is thread-safe and blocks for at most ``timeout_s`` in all
    (a whole-request deadline).

    Args:
        config: a validated configuration.
    """

    name = "webhook"

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"WebhookChannel({self.config!r})"

    def send(self, notification: Notification) -> None:
        """POST the notification once.

        Raises:
            ChannelError: the endpoint refused it or could not be reached.
        """
        post_json(
            self.config.url,
            payload(notification, self.config.max_alerts),
            timeout_s=self.config.timeout_s,
            headers=self.config.request_headers(),
            secrets=self.config.secrets(),
        )
