"""Notification channels: webhook, Slack, PagerDuty, email, Alertmanager.

``build_channel({"type": "slack", "url": ...})`` (or ``build_channel(SlackConfig(...))``)
validates a receiver's channel configuration and returns the channel; a mistake is a
:class:`~alerts.errors.ConfigError` naming the channel type and field, never repeating a
secret. :func:`deliver` sends with retries and never raises for a failed delivery.

Example:
    >>> channel = build_channel({"type": "webhook", "url": "https://ops.example.com/hook"})
    >>> result = deliver(channel, notification)  # doctest: +SKIP
    >>> result.delivered, result.error  # doctest: +SKIP
    (True, None)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from biztrace.alerts.channels.alertmanager import AlertmanagerChannel
from biztrace.alerts.channels.base import Channel, ChannelError, DeliveryResult, RecordingChannel, deliver
from biztrace.alerts.channels.email import EmailChannel
from biztrace.alerts.channels.pagerduty import PagerDutyChannel
from biztrace.alerts.channels.slack import SlackChannel
from biztrace.alerts.channels.webhook import WebhookChannel
from biztrace.config.errors import ConfigError
from biztrace.config.receivers import (
    AlertmanagerConfig,
    BasicAuth,
    ChannelConfig,
    ChannelSettings,
    EmailConfig,
    PagerDutyConfig,
    SlackConfig,
    WebhookConfig,
)

__all__ = [
    "KINDS",
    "AlertmanagerChannel",
    "AlertmanagerConfig",
    "BasicAuth",
    "Channel",
    "ChannelConfig",
    "ChannelError",
    "DeliveryResult",
    "EmailChannel",
    "EmailConfig",
    "PagerDutyChannel",
    "PagerDutyConfig",
    "RecordingChannel",
    "SlackChannel",
    "SlackConfig",
    "WebhookChannel",
    "WebhookConfig",
    "build_channel",
    "channel_config",
    "deliver",
]

KINDS: dict[str, tuple[type[BaseModel], Callable[[Any], Channel]]] = {
    "webhook": (WebhookConfig, WebhookChannel),
    "slack": (SlackConfig, SlackChannel),
    "pagerduty": (PagerDutyConfig, PagerDutyChannel),
    "email": (EmailConfig, EmailChannel),
    "alertmanager": (AlertmanagerConfig, AlertmanagerChannel),
}
"""Channel type -> (its configuration model, its channel class)."""

_ADAPTER: TypeAdapter[ChannelConfig] = TypeAdapter(ChannelConfig)


def channel_config(options: Mapping[str, Any] | ChannelConfig) -> ChannelConfig:
    """Validate a channel's configuration without building the channel (for config loading).

    Args:
        options: ``{"type": <kind>, **settings}`` as in YAML, or an already built model.

    Returns:
        The validated configuration model.

    Raises:
        ConfigError: unknown type, or a field that is missing, unknown or invalid; the
            message names the type and field and never repeats the value given.
    """
    if isinstance(options, ChannelSettings):
        return options
    if not isinstance(options, Mapping):
        raise ConfigError(f"a channel configuration is a mapping with a type, not {type(options).__name__}")
    kind = options.get("type")
    if kind not in KINDS:
        raise ConfigError(f"channel type {kind!r} is not one of {', '.join(KINDS)}")
    try:
        return _ADAPTER.validate_python(dict(options))
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors(include_input=False, include_url=False))
        # Not chained: a ValidationError's text repeats the input, secrets included.
        raise ConfigError(f"{kind} channel: {problems}") from None


def _problem(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"][1:])  # [0] is the union's tag
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{location}: {message}" if location else message


def build_channel(config: Mapping[str, Any] | ChannelConfig) -> Channel:
    """Build a channel from its configuration.

    Args:
        config: ``{"type": "webhook" | "slack" | "pagerduty" | "email" | "alertmanager",
            **settings}``, or one of the configuration models.

    Returns:
        The channel, ready to :func:`deliver` to. Building does no I/O.

    Raises:
        ConfigError: the configuration is invalid (see :func:`channel_config`).
    """
    validated = channel_config(config)
    return KINDS[validated.type][1](validated)
