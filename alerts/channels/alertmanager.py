"""Alertmanager API v2 (``POST /api/v2/alerts``), for teams that already route there.

Alertmanager is stateless about its clients: a firing alert is sent with ``endsAt`` in
the future (now plus ``resolve_timeout_s``) and must be re-sent before then, which the
alert loop's repeat interval does; a resolved alert is sent with ``endsAt`` in the past
(when it resolved). "Now" is the notification's ``sent_at``: time is injected.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from biztrace.alerts.channels.base import post_json, rfc3339
from biztrace.config.receivers import AlertmanagerConfig
from biztrace.readmodel.models import AlertInstance, Notification, naive_utc

TRANSACTIONS_ANNOTATION = "transactions"
"""Annotation added with the first transaction keys, unless the rule sets it itself."""
AT_RISK_ANNOTATION = "at_risk"
"""Annotation added with the value at risk behind the alert (``€12,400.00 at risk (31 transactions)``)."""
TRANSACTIONS_LISTED = 20

_LABEL_NAME_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def label_name(name: str) -> str:
    """A label name Alertmanager accepts (``[a-zA-Z_][a-zA-Z0-9_]*``): others get underscores."""
    cleaned = _LABEL_NAME_INVALID.sub("_", name)
    return "_" + cleaned if not cleaned or cleaned[0].isdigit() else cleaned


def _annotations(alert: AlertInstance) -> dict[str, str]:
    annotations = {label_name(k): v for k, v in alert.annotations.items()}
    if alert.transactions and TRANSACTIONS_ANNOTATION not in annotations:
        keys = ", ".join(t.key for t in alert.transactions[:TRANSACTIONS_LISTED])
        more = len(alert.transactions) - TRANSACTIONS_LISTED
        annotations[TRANSACTIONS_ANNOTATION] = keys + (f" and {more} more" if more > 0 else "")
    if alert.at_risk is not None and AT_RISK_ANNOTATION not in annotations:
        annotations[AT_RISK_ANNOTATION] = alert.at_risk.text()
    return annotations


def alerts(notification: Notification, config: AlertmanagerConfig) -> list[dict[str, Any]]:
    """The v2 alert array for a notification.

    Firing alerts end at ``sent_at + resolve_timeout_s``; resolved ones at their
    ``resolved_at`` (``sent_at`` when unknown), which is in the past. Label names are made
    valid for Alertmanager; the first transaction keys go in a ``transactions`` annotation.
    """
    now = naive_utc(notification.sent_at)
    ends = now + timedelta(seconds=config.resolve_timeout_s)
    generator = config.generator_url or notification.external_url
    documents = []
    for alert in notification.alerts:
        end = naive_utc(alert.resolved_at or now) if alert.state == "resolved" else ends
        document: dict[str, Any] = {
            "labels": {label_name(k): v for k, v in alert.labels.items()},
            "annotations": _annotations(alert),
            "startsAt": rfc3339(alert.active_since or min(now, end)),  # Alertmanager: start <= end
            "endsAt": rfc3339(end),
        }
        if generator:
            document["generatorURL"] = generator
        documents.append(document)
    return documents


class AlertmanagerChannel:
    """POSTs :func:`alerts` to Alertmanager's v2 API.

    Immutable; ``send`` is thread-safe and blocks for at most ``timeout_s`` in all
    (a whole-request deadline). Alertmanager answers 200; 400 (an invalid alert) is not recoverable.

    Args:
        config: a validated configuration.
    """

    name = "alertmanager"

    def __init__(self, config: AlertmanagerConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"AlertmanagerChannel({self.config!r})"

    def send(self, notification: Notification) -> None:
        """POST the group's alerts once.

        Raises:
            ChannelError: Alertmanager refused them or could not be reached.
        """
        post_json(
            self.config.endpoint,
            alerts(notification, self.config),
            timeout_s=self.config.timeout_s,
            headers=self.config.request_headers(),
            secrets=self.config.secrets(),
        )
