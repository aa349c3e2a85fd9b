"""Slack incoming webhook: a readable message per notification group."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from alerts.channels.base import post_json
from alerts.models import Notification

_ICONS = {"critical": ":red_circle:", "error": ":large_orange_circle:", "warning": ":large_yellow_circle:",
          "info": ":large_blue_circle:"}  # fmt: skip


class SlackConfig(BaseModel):
    url: SecretStr = Field(description="the incoming webhook URL (it is a secret)")
    timeout_s: float = Field(10.0, gt=0)


def message(notification: Notification) -> dict:
    """Slack's text plus blocks: a title line, then each alert with value, orders and runbook."""
    lines = []
    for alert in notification.alerts:
        icon = ":white_check_mark:" if alert.state == "resolved" else _ICONS.get(alert.severity, ":bell:")
        summary = alert.annotations.get("summary") or alert.rule
        keys = ", ".join(t.key for t in alert.transactions[:5])
        more = len(alert.transactions) - 5
        line = f"{icon} *{alert.rule}* {summary} (value {alert.value:g})"
        if keys:
            line += f"\n    transactions: {keys}" + (f" and {more} more" if more > 0 else "")
        if alert.annotations.get("runbook_url"):
            line += f"\n    <{alert.annotations['runbook_url']}|runbook>"
        lines.append(line)
    title = notification.summary()
    header = {"type": "header", "text": {"type": "plain_text", "text": title[:150]}}
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}}
    return {"text": title, "blocks": [header, section]}


class SlackChannel:
    name = "slack"

    def __init__(self, config: SlackConfig) -> None:
        self.config = config

    def send(self, notification: Notification) -> None:
        post_json(self.config.url.get_secret_value(), message(notification), timeout_s=self.config.timeout_s)
