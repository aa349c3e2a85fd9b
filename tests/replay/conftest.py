"""A real middleware double (http.server on 127.0.0.1) and producers sending spans through a real collector."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from biztrace.collector.service import Collector
from support import T0, Producers  # noqa: E402,F401


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class Middleware:
    """The middleware's resubmit endpoint: ``/accept/...`` answers 202, ``/refuse/...`` 409, ``/slow/...``
    sleeps ``slow_s`` then answers 200, ``/echo/...`` answers 500 with the Authorization header it got."""

    def __init__(self, slow_s: float = 2.0) -> None:
        self.received: list[Received] = []
        lock = threading.Lock()
        received = self.received
        release = self._release = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    received.append(Received(self.command, self.path, dict(self.headers.items()),
                                             json.loads(raw) if raw else None))  # fmt: skip
                if self.path.startswith("/slow"):
                    release.wait(slow_s)
                    status, body = 200, b"done late"
                elif self.path.startswith("/refuse"):
                    status, body = 409, b"conflict: message MSG-7 was already reprocessed\nsecond line"
                elif self.path.startswith("/echo"):
                    status, body = 500, f"bad token {self.headers.get('Authorization')}\n".encode()
                else:
                    status, body = 202, b"accepted: resubmission 42\nqueued"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (the timeout test)
                    pass

            do_POST = do_PUT = do_GET = _handle  # noqa: N815 (http.server's naming)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def middleware() -> Iterator[Middleware]:
    server = Middleware()
    yield server
    server.close()


@pytest.fixture
def producers(start_collector: Callable[..., Collector]) -> Iterator[Producers]:
    made = Producers(start_collector())
    yield made
    made.shutdown()
