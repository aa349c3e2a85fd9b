"""The channel contract, delivery with retries, and a recording double for tests.

A channel sends one notification and raises :class:`ChannelError` when it could not;
:func:`deliver` retries what is worth retrying with exponential backoff and never raises,
so a receiver that is down is visible in the notification log and never stops evaluation.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from pydantic import BaseModel

from alerts.models import Notification


class ChannelError(Exception):
    """A failed send. ``recoverable`` errors (429, 5xx, no connection) are retried."""

    def __init__(self, message: str, *, recoverable: bool, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.recoverable = recoverable
        self.retry_after_s = retry_after_s


class Channel(Protocol):
    """Sends notifications somewhere. ``send`` blocks until done and may raise ChannelError."""

    name: str

    def send(self, notification: Notification) -> None: ...


class DeliveryResult(BaseModel):
    """The outcome of delivering one notification on one channel."""

    channel: str
    receiver: str
    group_key: str
    status: str
    delivered: bool
    attempts: int
    error: str | None = None
    at: datetime


def deliver(
    channel: Channel,
    notification: Notification,
    *,
    attempts: int = 5,
    initial_backoff_s: float = 1.0,
    max_backoff_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """Send with retries; never raises. Blocks for the backoff between attempts."""
    delay = initial_backoff_s
    error: str | None = None
    for attempt in range(1, attempts + 1):
        try:
            channel.send(notification)
            return _result(channel, notification, True, attempt, None)
        except ChannelError as exc:
            error = str(exc)
            if not exc.recoverable or attempt == attempts:
                return _result(channel, notification, False, attempt, error)
            sleep(min(max_backoff_s, exc.retry_after_s if exc.retry_after_s is not None else delay))
            delay = min(max_backoff_s, delay * 2)
        except Exception as exc:  # a channel bug must not stop evaluation either
            return _result(channel, notification, False, attempt, f"{type(exc).__name__}: {exc}")
    return _result(channel, notification, False, attempts, error)


def _result(channel: Channel, notification: Notification, ok: bool, attempts: int, error: str | None):
    return DeliveryResult(channel=channel.name, receiver=notification.receiver, group_key=notification.group_key,
                          status=notification.status, delivered=ok, attempts=attempts, error=error,
                          at=datetime.now(UTC))  # fmt: skip


def post_json(url: str, document: object, *, headers: dict[str, str] | None = None, timeout_s: float = 10.0,
              accept: tuple[int, ...] = (200, 201, 202, 204)) -> bytes:  # fmt: skip
    """POST JSON; turn every failure into a ChannelError that says whether to retry.

    The URL is named without its query string (tokens often live there).
    """
    body = json.dumps(document, default=str).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})  # fmt: skip
    where = url.split("?", 1)[0]
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            if response.status not in accept:
                raise ChannelError(f"{where} answered {response.status}", recoverable=response.status >= 500)
            return response.read()
    except urllib.error.HTTPError as exc:
        retry_after = exc.headers.get("Retry-After") if exc.headers else None
        recoverable = exc.code == 429 or exc.code >= 500
        wait = float(retry_after) if retry_after and retry_after.isdigit() else None
        raise ChannelError(
            f"{where} answered {exc.code} {exc.reason}", recoverable=recoverable, retry_after_s=wait
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ChannelError(f"cannot reach {where}: {reason}", recoverable=True) from exc


class RecordingChannel:
    """Keeps what it is sent (a test double, like OTel's InMemorySpanExporter); can fail N times."""

    def __init__(self, name: str = "recording", fail_times: int = 0, recoverable: bool = True) -> None:
        self.name = name
        self.sent: list[Notification] = []
        self.fail_times = fail_times
        self.recoverable = recoverable
        self._lock = threading.Lock()

    def send(self, notification: Notification) -> None:
        with self._lock:
            if self.fail_times:
                self.fail_times -= 1
                raise ChannelError("recording channel told to fail", recoverable=self.recoverable)
            self.sent.append(notification)
