"""Notification channels: webhook, Slack, PagerDuty, email, Alertmanager.

``build_channel({"type": ..., **options})`` validates a receiver's channel configuration
(secrets stay SecretStr, never printed) and returns the channel; :func:`deliver` sends with
retries and never raises.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from alerts.channels.alertmanager import AlertmanagerChannel, AlertmanagerConfig
from alerts.channels.base import Channel, ChannelError, DeliveryResult, RecordingChannel, deliver
from alerts.channels.email import EmailChannel, EmailConfig
from alerts.channels.pagerduty import PagerDutyChannel, PagerDutyConfig
from alerts.channels.slack import SlackChannel, SlackConfig
from alerts.channels.webhook import WebhookChannel, WebhookConfig
from alerts.errors import ConfigError

KINDS = {
    "webhook": (WebhookConfig, WebhookChannel),
    "slack": (SlackConfig, SlackChannel),
    "pagerduty": (PagerDutyConfig, PagerDutyChannel),
    "email": (EmailConfig, EmailChannel),
    "alertmanager": (AlertmanagerConfig, AlertmanagerChannel),
}

__all__ = ["Channel", "ChannelError", "DeliveryResult", "RecordingChannel", "build_channel", "deliver", "KINDS"]


def build_channel(options: dict[str, Any]) -> Channel:
    """A channel from its configuration. Raises ConfigError naming the field at fault."""
    options = dict(options)
    kind = options.pop("type", None)
    if kind not in KINDS:
        raise ConfigError(f"channel type {kind!r} is not one of {', '.join(KINDS)}")
    config_model, channel_class = KINDS[kind]
    try:
        return channel_class(config_model.model_validate(options))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{kind} channel: {problems}") from exc
