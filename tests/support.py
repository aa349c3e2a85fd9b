"""Helpers shared by test modules (importable as ``support``; fixtures live in conftest.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

if TYPE_CHECKING:
    from biztrace.collector.service import Collector
    from biztrace.store import Store

SERVER_URL = os.environ.get("BIZTRACE_TEST_CLICKHOUSE_URL")
"""A ClickHouse server (http://user:pass@host:8123) to run the store tests against instead of chDB."""


def store_dsn(root: Path, database: str) -> str:
    """The DSN of a test database: in the session's embedded store, or on the test server."""
    if SERVER_URL:
        return f"{SERVER_URL.rstrip('/')}/{database}"
    return f"chdb://{root}?database={database}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CollectorProcess:
    """``biztrace collect`` as a separate process on its own data directory."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.extra = list(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"{data_dir.name}-collector.log"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, *extra: str, wait: bool = True) -> CollectorProcess:
        command = [
            sys.executable, "-m", "biztrace.cli", "collect",
            "--store", f"chdb://{self.data_dir}", "--host", "127.0.0.1",
            "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port), "--api-port", "0",
            *self.extra, *extra,
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"collector exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.http_url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"collector not healthy after {timeout_s}s:\n{self.log.read_text()}")

    def terminate(self, timeout_s: float = 60.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def wait(self, timeout_s: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout_s)


def query_store(data_dir: Path, sql: str) -> list[list[object]]:
    """Run a query on an embedded store from a fresh process (chDB: one engine per process)."""
    script = (
        "import json, sys\n"
        "from biztrace.store import connect\n"
        "with connect(sys.argv[1]) as store:\n"
        "    rows = store.client.query(sys.argv[2]).result_rows\n"
        "print(json.dumps(rows, default=str))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, f"chdb://{data_dir}", sql],
        capture_output=True,
        check=True,
        timeout=120,
        env={**os.environ},
    )
    return json.loads(out.stdout)


def wait_for(predicate, timeout_s: float = 10.0) -> None:
    """Poll until ``predicate()`` holds; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


class BlockingWriter:
    """A writer double that holds every write until ``release`` is set: a queue that fills up."""

    def __init__(self) -> None:
        import threading

        from biztrace.collector.writer import InMemoryWriter

        self.release = threading.Event()
        self._inner = InMemoryWriter()

    def write(self, batch) -> None:
        self.release.wait(30)
        self._inner.write(batch)

    @property
    def spans(self) -> int:
        return self._inner.spans


def simulate_into(dsn: str, scenario, truth_file: Path) -> None:
    """Fill the store at ``dsn`` with a simulated scenario through a real in-process collector."""
    from biztrace.collector.service import Collector
    from biztrace.collector.settings import CollectorSettings
    from biztrace.readmodel.lookup import key_history
    from biztrace.simulator.run import backfill
    from biztrace.simulator.sender import OtlpHttpSender

    collector = Collector(CollectorSettings(store=dsn, host="127.0.0.1", http_port=0, grpc_port=0), lookup=key_history)
    collector.start()
    sender = OtlpHttpSender(f"http://127.0.0.1:{collector.ports.http}", concurrency=16)
    try:
        backfill(scenario, sender, ground_truth=truth_file)
    finally:
        sender.close()
        collector.stop()


T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
"""When the test data starts; each span is placed at T0 + minutes."""


class Producers:
    """Producers written with the plain OpenTelemetry SDK (no biztrace code): one tracer provider per
    service.name, exporting OTLP/HTTP to a real collector."""

    t0 = T0
    now = T0 + timedelta(hours=6)
    """A time after every span the tests send."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self._providers: dict[str, TracerProvider] = {}

    @property
    def store(self) -> Store:
        return self.collector.store

    def span(self, service: str, name: str, minute: float, error: bool = False, **attributes: Any) -> None:
        """One root span of ``service`` named ``name`` at T0 + ``minute``, lasting 100 ms."""
        provider = self._providers.get(service)
        if provider is None:
            provider = TracerProvider(resource=Resource.create({"service.name": service}))
            exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{self.collector.ports.http}/v1/traces")
            provider.add_span_processor(BatchSpanProcessor(exporter))
            self._providers[service] = provider
        start = T0 + timedelta(minutes=minute)
        start_ns = int(start.timestamp() * 1e9)
        span = provider.get_tracer("producer").start_span(name, start_time=start_ns, attributes=attributes)
        if error:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=start_ns + 100_000_000)

    def flush(self) -> Store:
        """Deliver everything sent so far; returns the store it landed in."""
        for provider in self._providers.values():
            assert provider.force_flush(30_000)
        return self.store

    def shutdown(self) -> None:
        for provider in self._providers.values():
            provider.shutdown()


def statements_running(store: Store, marker: str) -> int:
    """How many statements whose text holds ``marker`` the store is running now (asked on a client of its own)."""
    watcher = store.new_client()
    try:
        [[running]] = watcher.query(
            "SELECT count() FROM system.processes "
            "WHERE query LIKE {pattern:String} AND query NOT LIKE '%system.processes%'",
            parameters={"pattern": f"%{marker}%"},
        ).result_rows
    finally:
        watcher.close()
    return int(running)
