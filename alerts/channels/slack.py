"""Slack incoming webhook: one readable message per notification group.

The message is a ``text`` fallback (what phones and notifications show) plus Block Kit
``blocks``: a header with the group's summary, a context line, then one section per alert
with its summary, value, the first transactions and the runbook link. Colour comes as
emoji, by severity while firing and a check mark once resolved.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from biztrace.alerts.channels.base import post_json, truncate
from biztrace.config.receivers import SlackConfig
from biztrace.readmodel.models import AlertInstance, Notification

SEVERITY_EMOJI = {
    "critical": ":red_circle:",
    "error": ":large_orange_circle:",
    "warning": ":large_yellow_circle:",
    "info": ":large_blue_circle:",
}
"""The emoji of a firing alert, by severity label."""
RESOLVED_EMOJI = ":white_check_mark:"
OTHER_EMOJI = ":bell:"
TRANSACTIONS_SHOWN = 5
"""Transaction keys listed per alert; the rest are counted."""

_HEADER_CHARS = 150  # Slack's limits for header and section text
_SECTION_CHARS = 3000
_MAX_BLOCKS = 50


def escape(text: str) -> str:
    """Text made safe for Slack mrkdwn (``&``, ``<`` and ``>`` are control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def emoji(alert: AlertInstance) -> str:
    """The alert's colour: by severity while firing, a check mark once resolved."""
    if alert.state == "resolved":
        return RESOLVED_EMOJI
    return SEVERITY_EMOJI.get(alert.severity, OTHER_EMOJI)


def _alert_text(alert: AlertInstance) -> str:
    name = alert.labels.get("alertname", alert.rule)
    state = " (resolved)" if alert.state == "resolved" else ""
    what = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    lines = [f"{emoji(alert)} *{escape(name)}*{state}" + (f": {escape(what)}" if what else "")]
    lines.append(f"*Value:* {alert.value:g}  ·  *Severity:* {escape(alert.severity)}")
    if alert.at_risk is not None:
        lines.append(f"*At risk:* {escape(alert.at_risk.text())}")
    if alert.transactions:
        keys = ", ".join(f"`{escape(t.key)}`" for t in alert.transactions[:TRANSACTIONS_SHOWN])
        more = len(alert.transactions) - TRANSACTIONS_SHOWN
        lines.append(f"*Transactions:* {keys}" + (f" and {more} more" if more > 0 else ""))
    runbook = alert.annotations.get("runbook_url", "")
    if runbook:
        lines.append(f"<{escape(runbook)}|Runbook>")
    return truncate("\n".join(lines), _SECTION_CHARS)


def message(notification: Notification, max_alerts: int = 10) -> dict[str, Any]:
    """The Slack message for a notification.

    Args:
        notification: the group to describe.
        max_alerts: alerts given a section each; the rest are counted in a context line.

    Returns:
        ``{"text": ..., "blocks": [...]}``, ready to POST.
    """
    title = notification.summary()
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(f"{_group_emoji(notification)} {title}", _HEADER_CHARS),
                "emoji": True,
            },
        },
    ]
    context = [f"Receiver *{escape(notification.receiver)}*"]
    context += [f"{escape(k)}=`{escape(v)}`" for k, v in sorted(notification.group_labels.items()) if k != "alertname"]
    if notification.external_url:
        context.append(f"<{escape(notification.external_url)}|Open in biztrace>")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "  ·  ".join(context)}]})
    shown = notification.alerts[:max_alerts]
    for alert in shown:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _alert_text(alert)}})
    hidden = len(notification.alerts) - len(shown)
    if hidden > 0:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"and {hidden} more alerts"}]})
    return {"text": title, "blocks": blocks}


def _group_emoji(notification: Notification) -> str:
    if notification.status == "resolved":
        return RESOLVED_EMOJI
    order = [*SEVERITY_EMOJI.values(), OTHER_EMOJI]
    return min((emoji(alert) for alert in notification.firing), key=order.index, default=OTHER_EMOJI)


class SlackChannel:
    """POSTs :func:`message` to a Slack incoming webhook.

    Immutable; ``send`` is thread-safe and blocks for at most ``timeout_s`` in all
    (a whole-request deadline). Error messages name only Slack's host: the webhook URL is the credential.

    Args:
        config: a validated configuration.
    """

    name = "slack"

    def __init__(self, config: SlackConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"SlackChannel({self.config!r})"

    def send(self, notification: Notification) -> None:
        """POST the message once.

        Raises:
            ChannelError: Slack refused it (for instance 404 ``no_service`` for a revoked
                webhook, not recoverable) or could not be reached.
        """
        url = self.config.url.get_secret_value()
        parts = urllib.parse.urlsplit(url)
        secrets = [url, parts.path] if len(parts.path) > 1 else [url]
        post_json(
            url,
            message(notification, self.config.max_alerts),
            timeout_s=self.config.timeout_s,
            secrets=secrets,
            display=f"Slack webhook at {parts.hostname}",
        )
