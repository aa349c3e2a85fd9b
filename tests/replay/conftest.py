"""A real middleware double (http.server on 127.0.0.1) and producers sending spans through a real collector."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from biztrace.collector.service import Collector
from biztrace.store import Store

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


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


class Producers:
    """One OTel SDK tracer provider per service.name, exporting OTLP/HTTP to a real collector."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self._providers: dict[str, TracerProvider] = {}

    @property
    def store(self) -> Store:
        return self.collector.store

    def span(self, service: str, name: str, minute: float, error: bool = False, **attributes: Any) -> None:
        """One root span of ``service`` at T0 + ``minute``."""
        provider = self._providers.get(service)
        if provider is None:
            provider = TracerProvider(resource=Resource.create({"service.name": service}))
            exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{self.collector.ports.http}/v1/traces")
            provider.add_span_processor(BatchSpanProcessor(exporter))
            self._providers[service] = provider
        start_ns = int((T0 + timedelta(minutes=minute)).timestamp() * 1e9)
        span = provider.get_tracer("producer").start_span(name, start_time=start_ns, attributes=attributes)
        if error:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=start_ns + 100_000_000)

    def flush(self) -> Store:
        for provider in self._providers.values():
            assert provider.force_flush(30_000)
        return self.store

    def shutdown(self) -> None:
        for provider in self._providers.values():
            provider.shutdown()


@pytest.fixture
def producers(start_collector: Callable[..., Collector]) -> Iterator[Producers]:
    made = Producers(start_collector())
    yield made
    made.shutdown()
