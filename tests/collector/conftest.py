"""Collectors for the receiver and durability tests: in this process, or as a real process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import store_dsn

from collector.service import Collector
from collector.settings import CollectorSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def start_collector(store_root: Path) -> Iterator[Callable[..., Collector]]:
    """Start an in-process collector on a fresh database; options override the settings."""
    started: list[Collector] = []

    def start(**options: object) -> Collector:
        database = f"t_{uuid.uuid4().hex[:12]}"
        settings = CollectorSettings(
            store=store_dsn(store_root, database), host="127.0.0.1", http_port=0, grpc_port=0, **options
        )
        collector = Collector(settings)
        collector.start()
        started.append(collector)
        return collector

    yield start
    for collector in started:
        database = collector.store.database
        collector.stop(timeout_s=10)
        from biztrace.store import connect

        with connect(collector.settings.store) as store:
            store.client.command(f"DROP DATABASE IF EXISTS {database}")


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
            "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port),
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


@pytest.fixture
def collector_process(tmp_path: Path) -> Iterator[Callable[..., CollectorProcess]]:
    made: list[CollectorProcess] = []

    def make(*extra: str) -> CollectorProcess:
        process = CollectorProcess(tmp_path / f"store{len(made)}", *extra)
        made.append(process)
        return process

    yield make
    for process in made:
        if process.proc is not None and process.proc.poll() is None:
            process.kill()
