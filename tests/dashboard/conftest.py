"""A store the simulator filled up to now (the dashboard's windows are relative to the clock),
a users file with one account per role, and AppTest wired to both."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from biztrace.dashboard import auth, data
from biztrace.simulator.scenario import FaultRates, Scenario
from biztrace.store import Store, connect
from support import simulate_into, store_dsn

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
PASSWORD = "correct horse battery staple"
RATES = FaultRates(stuck=0.05, failed=0.03, dead_letter=0.02, duplicate=0.03, amount_mismatch=0.03,
                   quantity_mismatch=0.02, missing_hop=0.02)  # fmt: skip


@pytest.fixture(scope="session")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("users") / "users.yaml"
    for role in auth.ROLES:
        auth.save_user(path, role.replace("-", ""), PASSWORD, [role])
    return path


@pytest.fixture(scope="session")
def populated(store_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store]]:
    """Two simulated days ending now, with faults: (DSN, open store)."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    dsn = store_dsn(store_root, database)
    scenario = Scenario(seed=5, days=2, orders_per_day=300, now=datetime.now(UTC), faults=RATES)
    simulate_into(dsn, scenario, tmp_path_factory.mktemp("truth") / "truth.json")
    store = connect(dsn)
    try:
        yield dsn, store
    finally:
        store.client.command(f"DROP DATABASE IF EXISTS {database}")
        store.close()


@pytest.fixture(scope="session")
def no_glyph() -> Callable[[str], set[str]]:
    """``no_glyph(text)``: the characters of ``text`` a browser without an emoji font draws as empty boxes
    (Debian's Chromium): emoji, and any character that no installed font has (fontconfig, which Chromium
    uses, asked once per character)."""
    fc_list = shutil.which("fc-list")
    assert fc_list, "fc-list (fontconfig, a dependency of Debian's chromium) is missing"
    drawn: dict[str, bool] = {}

    def missing(text: str) -> set[str]:
        for char in set(text) - drawn.keys():
            if ord(char) < 0x2000:  # Latin, Greek, Cyrillic, general punctuation: every text font has them
                drawn[char] = True
                continue
            fonts = subprocess.run([fc_list, f":charset={ord(char):x}", "family"], capture_output=True, text=True)
            emoji = ord(char) >= 0x1F000 or char == "\ufe0f"  # emoji planes; the emoji presentation selector
            drawn[char] = bool(fonts.stdout.strip()) and not emoji
        return {char for char in set(text) if not drawn[char]}

    return missing


@pytest.fixture
def app(populated, users_file: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., AppTest]:
    """An AppTest of the dashboard on the populated store; ``app("support")`` signs in as that role."""
    dsn, _ = populated
    monkeypatch.setenv("BIZTRACE_STORE", dsn)
    monkeypatch.setenv("BIZTRACE_USERS_FILE", str(users_file))
    monkeypatch.delenv("BIZTRACE_CONFIG", raising=False)
    data.share_store(None)

    def make(role: str | None = "admin", **query: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=120)
        for name, value in query.items():
            at.query_params[name] = value
        at.session_state["auto_refresh"] = False  # a timed fragment rerun would replace the page under test
        if role is not None:
            at.session_state["user"] = auth.User(name=role.replace("-", ""), roles=[role], via="local")
        return at

    return make


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test sees the store as it is (the app caches figures for one refresh interval)."""
    import streamlit as st

    monkeypatch.setenv("BIZTRACE_REFRESH_S", "3600")
    st.cache_data.clear()
    yield
    st.cache_data.clear()


class DemoProcess:
    """``biztrace up --demo`` in its own process and data directory."""

    def __init__(self, root: Path, days: float, orders_per_day: int) -> None:
        from support import free_port

        self.root = root
        self.data_dir = root / "data"
        self.password = "demo-password-1"
        self.dashboard_port, self.http_port, self.grpc_port = free_port(), free_port(), free_port()
        self.log = root / "up.log"
        command = [
            sys.executable, "-m", "biztrace.cli", "up", "--demo", "--store", f"chdb://{self.data_dir}",
            "--host", "127.0.0.1", "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port),
            "--dashboard-port", str(self.dashboard_port), "--api-port", "0", "--demo-days", str(days),
            "--demo-orders-per-day", str(orders_per_day), "--demo-password", self.password, "--refresh-s", "3600",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root)

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def collector_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def wait_ready(self, timeout_s: float = 180) -> DemoProcess:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"biztrace up exited with {self.proc.returncode}:\n{self.log.read_text()}")
            if "now sending live" in self.log.read_text():
                try:
                    with urllib.request.urlopen(f"{self.dashboard_url}/_stcore/health", timeout=2):
                        return self
                except OSError:
                    pass
            time.sleep(0.5)
        raise AssertionError(f"biztrace up not ready after {timeout_s}s:\n{self.log.read_text()}")

    def an_order(self) -> str:
        """The demo's first order (seed 7), checked through its lookup API like any second process."""
        order = "O-7-0000000"
        with urllib.request.urlopen(f"{self.collector_url}/api/v1/keys/{order}", timeout=10) as response:
            assert json.loads(response.read())["found"]
        return order

    def terminate(self, timeout_s: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture(scope="session")
def demo_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., DemoProcess]]:
    started: list[DemoProcess] = []

    def start(days: float = 1.0, orders_per_day: int = 300) -> DemoProcess:
        process = DemoProcess(tmp_path_factory.mktemp("up"), days, orders_per_day)
        started.append(process)
        return process.wait_ready()

    yield start
    for process in started:
        process.kill()


@pytest.fixture(scope="session")
def demo(demo_factory) -> DemoProcess:
    """One running demo shared by the tests that only read from it (and the browser test): three days, as
    ``biztrace up --demo`` backfills (at a fifth of its orders), so that a week's SLA adherence measures
    more than the first late orders (the default EndToEndSlaLow asks for 20 measured)."""
    return demo_factory(days=3.0)
