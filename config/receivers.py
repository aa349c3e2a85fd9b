"""Receivers and their channels' settings, typed per kind and validated when the configuration loads.

A receiver names zero or more channels of each kind (``webhook``, ``slack``, ``pagerduty``,
``email``, ``alertmanager``). Each channel's settings are one of the models below, so a
missing URL, a 31-character routing key or ``timeout_s: 0`` is a ``file:line: field: problem``
at load, not a traceback at the first notification. The alert loop's channels
(:mod:`biztrace.alerts.channels`) take these models as they are.

Secrets (tokens, passwords, header values, Slack's URL, PagerDuty's routing key) are
``SecretStr``: never in ``repr``, logs or error messages. ``timeout_s`` is a whole-request
deadline (connecting, sending, and the complete answer), not a per-read timeout.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from email.utils import parseaddr
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
"""PagerDuty's Events API v2 endpoint."""

ALERTS_PATH = "/api/v2/alerts"
"""Where Alertmanager takes alerts, under its base URL."""

MAX_TIMEOUT_S = 300
"""The longest deadline a channel may have: delivery runs per receiver, but a pass must see it end."""

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_TIMEOUT = Field(default=10.0, gt=0, le=MAX_TIMEOUT_S, description="whole-request deadline in seconds")


def check_http_url(url: str) -> str:
    """Validate an endpoint URL: http(s), a host, no credentials in it (they would be printed).

    Raises:
        ValueError: with a message that does not repeat the URL (it may hold a token).
    """
    url = url.strip()
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials; use the token or basic_auth settings")
    if any(ch.isspace() for ch in url):
        raise ValueError("must not contain whitespace")
    return url


class BasicAuth(BaseModel):
    """HTTP basic authentication for a webhook or Alertmanager behind a proxy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str = Field(min_length=1)
    password: SecretStr


class HttpAuth(BaseModel):
    """Authentication and extra headers shared by the generic HTTP channels.

    Header values are secrets (an ``X-Api-Key`` is as sensitive as a token): never printed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr | None = Field(default=None, description="sent as Authorization: Bearer <token>")
    basic_auth: BasicAuth | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="extra request headers")

    @field_validator("headers")
    @classmethod
    def _header_names(cls, headers: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for header in headers:
            if not _HEADER_NAME.match(header):
                raise ValueError(f"{header!r} is not a valid HTTP header name")
            if header.lower() in ("content-type", "content-length", "host"):
                raise ValueError(f"header {header!r} is set by the channel")
        return headers

    @model_validator(mode="after")
    def _one_authorization(self) -> HttpAuth:
        if self.token is not None and self.basic_auth is not None:
            raise ValueError("set token or basic_auth, not both")
        if {"authorization"} & {header.lower() for header in self.headers} and (self.token or self.basic_auth):
            raise ValueError("an Authorization header and token/basic_auth would clash")
        return self

    def request_headers(self) -> dict[str, str]:
        """The headers to send, secrets revealed (for the request only)."""
        headers = {name: value.get_secret_value() for name, value in self.headers.items()}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        elif self.basic_auth is not None:
            pair = f"{self.basic_auth.username}:{self.basic_auth.password.get_secret_value()}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return headers

    def secrets(self) -> list[str]:
        """Every secret value, to scrub from messages."""
        found = [value.get_secret_value() for value in self.headers.values()]
        if self.token is not None:
            found.append(self.token.get_secret_value())
        if self.basic_auth is not None:
            found.append(self.basic_auth.password.get_secret_value())
        return found


class WebhookConfig(HttpAuth):
    """A generic webhook: where to POST, how to authenticate, how long to wait."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["webhook"] = "webhook"
    url: str = Field(description="the endpoint; http:// or https://, no credentials in it")
    timeout_s: float = _TIMEOUT
    max_alerts: int = Field(default=0, ge=0, description="alerts per document at most; 0: all")

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return check_http_url(url)


SLACK_MAX_ALERTS = 45
"""Alerts a Slack message shows at most (Slack allows 50 blocks; five are the frame)."""


class SlackConfig(BaseModel):
    """A Slack incoming webhook. The URL is the credential, so it is a ``SecretStr``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["slack"] = "slack"
    url: SecretStr = Field(description="the incoming webhook URL, https://hooks.slack.com/services/...")
    timeout_s: float = _TIMEOUT
    max_alerts: int = Field(default=10, ge=1, le=SLACK_MAX_ALERTS, description="alerts shown; the rest are counted")

    @field_validator("url")
    @classmethod
    def _url(cls, url: SecretStr) -> SecretStr:
        return SecretStr(check_http_url(url.get_secret_value()))


class PagerDutyConfig(BaseModel):
    """A PagerDuty Events API v2 integration. The routing key is a ``SecretStr``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["pagerduty"] = "pagerduty"
    routing_key: SecretStr = Field(description="the integration's 32-character routing key")
    url: str = Field(default=EVENTS_URL, description="the Events API endpoint (a local one in tests)")
    source: str = Field(default="biztrace", min_length=1, description="payload.source: where the problem is")
    client: str = Field(default="biztrace", min_length=1)
    timeout_s: float = _TIMEOUT

    @field_validator("routing_key")
    @classmethod
    def _routing_key(cls, key: SecretStr) -> SecretStr:
        if len(key.get_secret_value().strip()) != 32:
            raise ValueError("must be the integration's 32-character routing key")
        return SecretStr(key.get_secret_value().strip())

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return check_http_url(url)


def _address(value: str) -> str:
    _, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    if not local or not domain or any(ch.isspace() for ch in address):
        raise ValueError(f"{value!r} is not an email address")
    return value


class EmailConfig(BaseModel):
    """An SMTP server and the addresses to mail. The password is a ``SecretStr``.

    ``from`` is accepted as the sender's key (as in YAML); ``sender`` is its Python name.
    ``starttls`` upgrades a plain connection (port 587); ``ssl`` connects with TLS from the
    start (port 465). Certificates are verified.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    type: Literal["email"] = "email"
    to: list[str] = Field(min_length=1, description="recipients")
    sender: str = Field(default="biztrace@localhost", alias="from")
    host: str = Field(default="localhost", min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password: SecretStr | None = None
    html: bool = Field(default=False, description="add an HTML alternative to the plain text")
    helo_name: str | None = Field(default=None, description="the name we give in EHLO (default: this host's FQDN)")
    timeout_s: float = _TIMEOUT

    @field_validator("to")
    @classmethod
    def _recipients(cls, to: list[str]) -> list[str]:
        return [_address(value) for value in to]

    @field_validator("sender")
    @classmethod
    def _sender(cls, sender: str) -> str:
        return _address(sender)

    @model_validator(mode="after")
    def _consistent(self) -> EmailConfig:
        if self.starttls and self.ssl:
            raise ValueError("set starttls (upgrade, port 587) or ssl (TLS from the start, port 465), not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


class AlertmanagerConfig(HttpAuth):
    """An Alertmanager (or a compatible receiver) to push alerts to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["alertmanager"] = "alertmanager"
    url: str = Field(description="Alertmanager's base URL (with its route prefix, if any)")
    resolve_timeout_s: float = Field(
        default=300.0, gt=0, description="firing alerts end at sent_at + this unless re-sent"
    )
    generator_url: str = Field(
        default="", description="link back to biztrace (default: the notification's external URL)"
    )
    timeout_s: float = _TIMEOUT

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return check_http_url(url)

    @field_validator("generator_url")
    @classmethod
    def _generator_url(cls, url: str) -> str:
        return check_http_url(url) if url else url

    @property
    def endpoint(self) -> str:
        """Where alerts are POSTed: ``<url>/api/v2/alerts``."""
        base = self.url.rstrip("/")
        return base if base.endswith(ALERTS_PATH) else base + ALERTS_PATH


ChannelSettings = WebhookConfig | SlackConfig | PagerDutyConfig | EmailConfig | AlertmanagerConfig
"""Any channel's settings (each model knows its ``type``)."""

ChannelConfig = Annotated[ChannelSettings, Field(discriminator="type")]
"""Any channel's settings, told apart by ``type``."""

CHANNEL_MODELS: dict[str, type[BaseModel]] = {
    "webhook": WebhookConfig,
    "slack": SlackConfig,
    "pagerduty": PagerDutyConfig,
    "email": EmailConfig,
    "alertmanager": AlertmanagerConfig,
}
"""Channel kind -> its settings model."""


def _one_or_many(value: Any) -> Any:
    return [] if value is None else value if isinstance(value, list) else [value]


class Receiver(BaseModel):
    """Where notifications go: zero or more channels of each kind (no channel: history only).

    Each kind takes one mapping or a list of them, e.g.
    ``{name: ops, slack: {url: https://hooks.slack.com/services/...}}``.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1)
    webhook: Annotated[list[WebhookConfig], Field(default_factory=list)]
    slack: Annotated[list[SlackConfig], Field(default_factory=list)]
    pagerduty: Annotated[list[PagerDutyConfig], Field(default_factory=list)]
    email: Annotated[list[EmailConfig], Field(default_factory=list)]
    alertmanager: Annotated[list[AlertmanagerConfig], Field(default_factory=list)]

    @field_validator("webhook", "slack", "pagerduty", "email", "alertmanager", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return _one_or_many(value)

    def channel_configs(self) -> list[tuple[str, ChannelSettings]]:
        """Every channel of this receiver as (kind, settings), in the order kinds are listed above."""
        found: list[tuple[str, ChannelSettings]] = []
        for kind in CHANNEL_MODELS:
            found.extend((kind, item) for item in getattr(self, kind))
        return found
