"""A store the simulator filled up to now (the dashboard's windows are relative to the clock),
a users file with one account per role, and AppTest wired to both."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from biztrace.store import Store, connect
from dashboard import auth, data
from simulator.scenario import FaultRates, Scenario
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
