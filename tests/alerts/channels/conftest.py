"""Real local servers for channel tests, and notifications to send them.

``http_endpoint`` is a ThreadingHTTPServer on 127.0.0.1 that records every request (path,
headers, JSON body) and answers from a queue of scripted responses (200 once the queue is
empty). ``smtp_server`` is aiosmtpd's Controller keeping every message it accepts.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from biztrace.readmodel.models import AlertInstance, Notification, TransactionRef
from support import free_port

T0 = datetime(2026, 11, 20, 12, 0)
"""When the sample alerts became active (naive UTC, as in alerts)."""


@dataclass
class Request:
    """One request the local server received."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any


@dataclass
class Response:
    """A scripted answer."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"{}"


class HttpEndpoint:
    """What the local HTTP server received, and what it will answer next."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._responses: list[Response] = []

    def answer(self, *responses: int | tuple[int, dict[str, str]] | tuple[int, dict[str, str], bytes]) -> None:
        """Queue answers for the next requests: a status, or (status, headers[, body])."""
        queued = []
        for item in responses:
            if isinstance(item, int):
                queued.append(Response(item))
            else:
                queued.append(Response(*item))
        with self._lock:
            self._responses += queued

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def _take(self, request: Request) -> Response:
        with self._lock:
            self._requests.append(request)
            return self._responses.pop(0) if self._responses else Response(200, body=b"ok")


@pytest.fixture
def http_endpoint() -> Iterator[HttpEndpoint]:
    endpoint: HttpEndpoint

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            request = Request("POST", self.path, dict(self.headers.items()), json.loads(raw))
            response = endpoint._take(request)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    endpoint = HttpEndpoint(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    return free_port()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A local port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


class SmtpServer:
    """aiosmtpd on 127.0.0.1: the messages it accepted, and how DATA is answered."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, Message]] = []
        self.logins: list[str] = []
        self.data_reply = "250 OK"
        self.port = 0
        self.user = SMTP_USER
        self.password = SMTP_PASSWORD

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd)
        if not self.data_reply.startswith("250"):
            return self.data_reply
        from email import message_from_bytes
        from email.policy import default

        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        self.messages.append((envelope, message_from_bytes(content, policy=default)))
        return self.data_reply


SMTP_USER = "alerts"
SMTP_PASSWORD = "smtp-pa55word"


def _authenticator(server: SmtpServer) -> Callable[..., AuthResult]:
    def authenticate(_smtp: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        if ok:
            server.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    return authenticate


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server without authentication."""
    server = SmtpServer()
    server.port = free_port()  # aiosmtpd's Controller needs a concrete port
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def smtp_server_with_login() -> Iterator[SmtpServer]:
    """A real SMTP server that requires AUTH (over plain text: a test server only)."""
    server = SmtpServer()
    server.port = free_port()
    controller = Controller(
        server,
        hostname="127.0.0.1",
        port=server.port,
        authenticator=_authenticator(server),
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


def _alert(
    rule: str = "OrdersStuck",
    *,
    state: str = "firing",
    severity: str = "critical",
    value: float = 7,
    transactions: int = 7,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> AlertInstance:
    """A sample alert: ``transactions`` stuck orders O-0, O-1, ... in order_to_cash."""
    return AlertInstance(
        rule=rule,
        labels={"alertname": rule, "severity": severity, "process": "order_to_cash", "system": "wms", **(labels or {})},
        annotations={"summary": f"{value:g} orders are stuck past their SLA", "runbook_url": "https://runbooks/stuck"}
        if annotations is None
        else annotations,
        state=state,
        value=value,
        active_since=T0,
        resolved_at=T0 + timedelta(minutes=9) if state == "resolved" else None,
        transactions=[
            TransactionRef(
                process="order_to_cash",
                key=f"O-{i}",
                kind="stuck",
                stage="picked",
                system="wms",
                since=T0,
                span_ids=[f"{i:016x}"],
            )
            for i in range(transactions)
        ],
    )


def _notification(
    status: str = "firing", *, alerts: list[AlertInstance] | None = None, group_key: str = "ops/abc"
) -> Notification:
    """A sample notification to receiver ``ops``, sent ten minutes after T0."""
    state = "firing" if status == "firing" else "resolved"
    return Notification(
        receiver="ops",
        group_key=group_key,
        group_labels={"alertname": "OrdersStuck", "process": "order_to_cash"},
        status=status,  # type: ignore[arg-type]
        alerts=alerts if alerts is not None else [_alert(state=state)],
        sent_at=T0 + timedelta(minutes=10),
        external_url="http://biztrace.example/alerts",
    )


MakeAlert = Callable[..., AlertInstance]
MakeNotification = Callable[..., Notification]


@pytest.fixture
def make_alert() -> MakeAlert:
    """Builds sample alerts (see ``_alert``)."""
    return _alert


@pytest.fixture
def make_notification() -> MakeNotification:
    """Builds sample notifications (see ``_notification``)."""
    return _notification


@pytest.fixture
def notification() -> Notification:
    """One firing critical alert with seven stuck orders."""
    return _notification()


class Sleeps:
    """A fake ``sleep`` for :func:`deliver` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
