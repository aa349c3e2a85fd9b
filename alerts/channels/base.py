"""The channel contract, delivery with retries, and a recording double for tests.

A :class:`Channel` sends one notification and raises :class:`ChannelError` when it could
not, saying whether trying again can help. :func:`deliver` retries what is worth retrying
with exponential backoff and never raises for a failed delivery, so a receiver that is
down shows up in the notification log and never stops evaluation. :class:`RecordingChannel`
is the double for code that needs a channel, as OTel ships ``InMemorySpanExporter``.

The HTTP helpers here are the only place channels speak HTTP: the standard library's
``urllib`` (no extra dependency), environment proxies honoured, redirects never followed
(a POST must not silently turn into a GET elsewhere), every request under a whole-request
:class:`Deadline` (a receiver that trickles its answer cannot hold it longer), and every
failure translated once into a :class:`ChannelError` whose message carries no secret.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import json
import logging
import math
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from biztrace.alerts.errors import AlertsError
from biztrace.config.receivers import BasicAuth as BasicAuth  # re-exported: the settings live in config
from biztrace.config.receivers import HttpAuth as HttpAuth
from biztrace.config.receivers import check_http_url as check_http_url
from biztrace.readmodel.models import Notification

logger = logging.getLogger(__name__)

REDACTED = "**********"
"""What a secret looks like wherever it would otherwise be printed."""

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Alertmanager's ``endsAt`` for an alert that has not ended."""

_ERROR_BODY_CHARS = 200


class ChannelError(AlertsError):
    """A send that failed.

    Args:
        message: what went wrong, for a person; never contains a secret.
        recoverable: whether trying again later can succeed (HTTP 429 and 5xx, SMTP 4xx,
            a connection that failed or timed out). A refused request (other 4xx, SMTP 5xx,
            a login refused) is not recoverable.
        retry_after_s: the server's own answer to "when may I try again" (``Retry-After``),
            or None when it gave none.
    """

    def __init__(self, message: str, recoverable: bool, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.recoverable = recoverable
        self.retry_after_s = retry_after_s

    def __repr__(self) -> str:
        return f"ChannelError({self.message!r}, recoverable={self.recoverable}, retry_after_s={self.retry_after_s})"


@runtime_checkable
class Channel(Protocol):
    """Somewhere notifications go: a webhook, Slack, PagerDuty, an SMTP server, Alertmanager.

    Implementations are immutable after construction and safe to call from several threads
    at once; ``send`` blocks for at most the channel's ``timeout_s`` in all (a :class:`Deadline`).
    """

    name: str

    def send(self, notification: Notification) -> None:
        """Deliver one notification, once (no retries: :func:`deliver` does those).

        Args:
            notification: the group of alerts to tell the receiver about.

        Raises:
            ChannelError: the notification was not accepted; ``recoverable`` says whether
                sending it again can help. Nothing else is raised on purpose.
        """
        ...


class DeliveryResult(BaseModel):
    """What became of one notification on one channel: delivered, or why not."""

    model_config = ConfigDict(frozen=True)

    channel: str = Field(description="the channel's name")
    receiver: str
    group_key: str
    status: Literal["firing", "resolved"]
    delivered: bool
    attempts: int = Field(ge=1, description="sends tried, the successful one included")
    error: str | None = Field(default=None, description="the last failure, when not delivered")
    retry_after_s: float | None = Field(
        default=None, description="the receiver's Retry-After on the last failure: no retry before it"
    )
    at: datetime = Field(description="when delivery finished (naive UTC, like every time in alerts)")


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def deliver(
    channel: Channel,
    notification: Notification,
    *,
    attempts: int = 5,
    initial_backoff_s: float = 1.0,
    max_backoff_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = _utcnow,
) -> DeliveryResult:
    """Send a notification, retrying recoverable failures with exponential backoff.

    Waits ``initial_backoff_s``, then twice that, and so on up to ``max_backoff_s``
    between attempts. A server's ``Retry-After`` is honoured (never retried sooner than
    asked); when it asks for longer than ``max_backoff_s`` the delivery stops there and is
    reported as failed, to be tried again by the next evaluation pass rather than blocking
    this one. Unrecoverable failures are not retried. A channel that raises something
    other than :class:`ChannelError` (a bug) is logged and reported as failed.

    Blocks the calling thread for the sends and the waits (through ``sleep``; inject one
    that records the delays in tests). Safe to call from several threads if the channel is.

    Args:
        channel: where to send.
        notification: what to send.
        attempts: sends to try at most (>= 1).
        initial_backoff_s: the first wait (>= 0).
        max_backoff_s: the longest wait (>= initial_backoff_s).
        sleep: waits that many seconds.
        clock: the current time, for :attr:`DeliveryResult.at`.

    Returns:
        The outcome, delivered or not; a failed delivery is in ``error``.

    Raises:
        ValueError: the retry arguments are invalid (a programming error). A failed
            delivery never raises.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    if not 0 <= initial_backoff_s <= max_backoff_s:
        raise ValueError(f"need 0 <= initial_backoff_s <= max_backoff_s, not {initial_backoff_s}, {max_backoff_s}")
    name = getattr(channel, "name", type(channel).__name__)

    def outcome(delivered: bool, attempt: int, error: str | None, retry_after_s: float | None = None) -> DeliveryResult:
        return DeliveryResult(
            channel=name,
            receiver=notification.receiver,
            group_key=notification.group_key,
            status=notification.status,
            delivered=delivered,
            attempts=attempt,
            error=error,
            retry_after_s=retry_after_s,
            at=clock(),
        )

    backoff = initial_backoff_s
    for attempt in range(1, attempts + 1):
        try:
            channel.send(notification)
        except ChannelError as exc:
            if not exc.recoverable:
                return outcome(False, attempt, f"{exc.message} (not retried)")
            if attempt == attempts:
                gave_up = f"{exc.message} (gave up after {attempts} attempts)"
                return outcome(False, attempt, gave_up, exc.retry_after_s)
            wait = backoff
            if exc.retry_after_s is not None:
                if exc.retry_after_s > max_backoff_s:
                    later = f"asked to retry after {exc.retry_after_s:g}s, more than max_backoff_s={max_backoff_s:g}"
                    return outcome(
                        False, attempt, f"{exc.message} ({later}: left for the next pass)", exc.retry_after_s
                    )
                wait = max(wait, exc.retry_after_s)
            logger.info("%s: %s; attempt %d of %d in %gs", name, exc.message, attempt + 1, attempts, wait)
            sleep(wait)
            backoff = min(backoff * 2, max_backoff_s)
        except Exception as exc:  # a channel bug must not stop evaluation either
            logger.exception("channel %s failed unexpectedly", name)
            return outcome(False, attempt, f"channel {name} failed unexpectedly: {type(exc).__name__} (not retried)")
        else:
            return outcome(True, attempt, None)
    raise AssertionError("unreachable: the loop returns on its last attempt")


class RecordingChannel:
    """A channel that keeps what it is sent, for tests (like OTel's ``InMemorySpanExporter``).

    It can be told to fail its next N sends, recoverably or not, optionally with a
    ``retry_after_s``. Thread-safe; never blocks.

    Args:
        name: the channel's name in delivery results.
        fail_times: how many of the next sends raise :class:`ChannelError`.
        recoverable: whether those failures are recoverable.
        retry_after_s: the ``retry_after_s`` those failures carry.

    Example:
        >>> channel = RecordingChannel(fail_times=1)
        >>> deliver(channel, notification, sleep=lambda _: None).attempts  # doctest: +SKIP
        2
    """

    def __init__(
        self, name: str = "recording", fail_times: int = 0, recoverable: bool = True, retry_after_s: float | None = None
    ) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._sent: list[Notification] = []
        self._attempts = 0
        self._fail_times = 0
        self._recoverable = True
        self._retry_after_s: float | None = None
        self.fail(fail_times, recoverable=recoverable, retry_after_s=retry_after_s)

    def fail(self, times: int, *, recoverable: bool = True, retry_after_s: float | None = None) -> None:
        """Make the next ``times`` sends fail (replacing any failures still pending)."""
        if times < 0:
            raise ValueError(f"times must be >= 0, not {times}")
        with self._lock:
            self._fail_times = times
            self._recoverable = recoverable
            self._retry_after_s = retry_after_s

    def send(self, notification: Notification) -> None:
        """Record the notification, or raise :class:`ChannelError` while told to fail."""
        with self._lock:
            self._attempts += 1
            if self._fail_times:
                self._fail_times -= 1
                raise ChannelError(f"{self.name} told to fail", self._recoverable, self._retry_after_s)
            self._sent.append(notification)

    @property
    def sent(self) -> list[Notification]:
        """The notifications accepted so far, oldest first (a copy)."""
        with self._lock:
            return list(self._sent)

    @property
    def attempts(self) -> int:
        """Every call of :meth:`send`, failed ones included."""
        with self._lock:
            return self._attempts

    def clear(self) -> None:
        """Forget what was sent and the attempts counted."""
        with self._lock:
            self._sent.clear()
            self._attempts = 0


# -- shared helpers for the channel implementations ---------------------------------------


def rfc3339(moment: datetime) -> str:
    """A time as RFC 3339 in UTC with a ``Z``; naive times are taken as UTC (as in alerts)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat() + "Z"


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def common(mappings: list[dict[str, str]]) -> dict[str, str]:
    """The items every mapping shares (Alertmanager's commonLabels/commonAnnotations)."""
    if not mappings:
        return {}
    first, *rest = mappings
    return {key: value for key, value in first.items() if all(other.get(key) == value for other in rest)}


def display_url(url: str) -> str:
    """A URL fit for messages: scheme, host, port and path; no query (tokens live there)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by :data:`REDACTED`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would replay a POST as a GET elsewhere."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> None:
        return None


class Deadline:
    """A whole-request deadline: when it passes, every socket it tracks is shut down.

    A per-read timeout lets a server that trickles one byte every few seconds hold a request
    forever; shutting the socket down wakes whatever read or write is blocked on it, so no
    request lasts past ``seconds`` (plus the time to notice). Use as a context manager around
    one request; :meth:`track` each socket as soon as it exists. Thread-safe.

    Args:
        seconds: how long the whole request may take.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        """Seconds left (a small positive number once passed, for socket timeouts)."""
        return max(0.01, self._at - time.monotonic())

    def track(self, sock: socket.socket) -> None:
        """Shut ``sock`` down when the deadline passes (at once if it already has)."""
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    # socket.socket's own shutdown, also for an SSLSocket: it acts on the descriptor and
    # leaves the TLS object to fail the blocked read, instead of racing it.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _bounded(base: type[http.client.HTTPConnection], deadline: Deadline) -> Any:
    """``base`` whose sockets are created within, and tracked by, ``deadline``."""

    class Bounded(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)

            def create(address: tuple[str, int], timeout: object = None, source_address: Any = None) -> socket.socket:
                sock = socket.create_connection(address, deadline.remaining(), source_address)
                deadline.track(sock)
                return sock

            self._create_connection = create

    return Bounded


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_bounded(http.client.HTTPConnection, self._deadline), req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_bounded(http.client.HTTPSConnection, self._deadline), req, context=self._context)


def _opener(deadline: Deadline) -> urllib.request.OpenerDirector:
    """urllib with environment proxies, no redirects, and every connection bound to ``deadline``."""
    return urllib.request.build_opener(_NoRedirects, _DeadlineHTTPHandler(deadline), _DeadlineHTTPSHandler(deadline))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def post_json(
    url: str,
    document: object,
    *,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
    display: str | None = None,
) -> bytes:
    """POST ``document`` as JSON; answer the response body, or raise :class:`ChannelError`.

    Any 2xx is success. 429 and 5xx (with their ``Retry-After``), timeouts and connection
    failures are recoverable; other statuses, redirects included, are not. Blocks for at
    most ``timeout_s`` in all: connecting, sending, and reading the whole answer (a
    :class:`Deadline`, not a per-read timeout). Thread-safe.

    Args:
        url: the endpoint.
        document: anything ``json.dumps`` can write (``str()`` for the rest).
        timeout_s: the whole request's deadline.
        headers: extra request headers.
        secrets: values to keep out of error messages.
        display: how to name the endpoint in messages (default: the URL without its query).

    Raises:
        ChannelError: the request failed; the message names the endpoint and the status or
            the reason, and a short excerpt of the response body, scrubbed of ``secrets``.
    """
    body = json.dumps(document, default=str).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "biztrace-alerts", **(headers or {})},
    )
    where = display or display_url(url)
    secrets = list(secrets)
    late = f"{where} did not answer within {timeout_s:g}s (deadline for the whole request)"
    # Errors are raised ``from None``: urllib's exceptions hold the request, whose URL and
    # headers may be secrets, and tracebacks (rich's with locals) would print them.
    with Deadline(timeout_s) as deadline:
        try:
            with _opener(deadline).open(request, timeout=timeout_s) as response:
                answer = bytes(response.read())
            if deadline.expired:
                raise ChannelError(late, True)
            return answer
        except ChannelError:
            raise
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                excerpt = exc.read(_ERROR_BODY_CHARS * 4).decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):
                excerpt = ""
            finally:
                exc.close()
            excerpt = " ".join(excerpt.split())
            message = f"{where} answered {status} {exc.reason}" + (
                f": {truncate(excerpt, _ERROR_BODY_CHARS)}" if excerpt else ""
            )
            if 300 <= status < 400:
                message += " (redirects are not followed: configure the final URL)"
            recoverable = status == 429 or status >= 500
            wait = parse_retry_after(exc.headers.get("Retry-After")) if recoverable and exc.headers else None
            raise ChannelError(scrub(message, secrets), recoverable, wait) from None
        except Exception as exc:
            if (
                deadline.expired
                or isinstance(exc, TimeoutError)
                or isinstance(getattr(exc, "reason", None), TimeoutError)
            ):
                raise ChannelError(late, True) from None
            if isinstance(exc, urllib.error.URLError):
                raise ChannelError(scrub(f"cannot reach {where}: {exc.reason}", secrets), True) from None
            if isinstance(exc, OSError | http.client.HTTPException):
                reason = scrub(str(exc) or type(exc).__name__, secrets)
                raise ChannelError(f"connection to {where} failed: {reason}", True) from None
            raise
