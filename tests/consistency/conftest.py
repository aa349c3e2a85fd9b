"""One simulated store, read by every surface: the CLI's --json, the dashboard (AppTest) and the
alert rules' values.

The store is filled by the simulator up to the clock (the dashboard's windows are relative to
it), then given a lifecycle: the alert loop's bookkeeping ran three hours ago, and people
acknowledged and resolved some exceptions since. A configuration makes the rules that carry a
shared figure always report it (their thresholds are unreachable), with the dashboard's window.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from biztrace import config as biztrace_config
from biztrace.config import AlertsConfig
from biztrace.dashboard import auth, data, ui
from biztrace.readmodel import exceptions
from biztrace.readmodel.errors import NotFound
from biztrace.simulator.scenario import Scenario
from biztrace.store import Store, connect
from support import simulate_into, store_dsn
from tests.dashboard.conftest import APP, RATES

WINDOW = "7d"
"""The dashboard's time range in every comparison; the rules' windows are the same, and the
simulated days all lie inside it, so the CLI (which has no window) sees the same transactions."""

RULES = f"""
processes:
  customer_master:   # as the defaults, with an end-to-end SLA that some updates meet and some miss
    key: customer.id
    completes_at: customer.synced
    stages:
      - name: customer.updated
      - name: customer.validated
        system: middleware
        sla: {{within: 30m}}
      - name: customer.synced
        system: erp
        sla: {{within: 2h}}
    end_to_end: {{within: 40m}}
rules:
  - name: EndToEndSlaLow
    kind: sla_adherence
    by: []
    threshold: 1.01
    window: {WINDOW}
    summary: "End-to-end SLA adherence {{value:.1%}}"
  - name: SystemsDisagree
    kind: mismatch_rate
    threshold: -1
    window: {WINDOW}
  - name: StuckAnywhere
    kind: stuck_count
    by: []
    threshold: -1
  - name: StuckOrders
    kind: stuck_count
    process: order_to_cash
    threshold: -1
"""


class Surfaces:
    """The store, its DSN and configuration file, and the moment every surface is asked about."""

    def __init__(self, dsn: str, store: Store, config_file: Path) -> None:
        self.dsn = dsn
        self.store = store
        self.config_file = config_file

    @property
    def config(self) -> AlertsConfig:
        return biztrace_config.load(self.config_file)

    @staticmethod
    def moment() -> datetime:
        """The dashboard's moment (its refresh tick): the CLI and the rules are asked at the same one."""
        return ui.tick()


@pytest.fixture(scope="module")
def surfaces(store_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Surfaces]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    dsn = store_dsn(store_root, database)
    folder = tmp_path_factory.mktemp("consistency")
    now = datetime.now(UTC)
    simulate_into(dsn, Scenario(seed=23, days=2, orders_per_day=250, now=now, faults=RATES), folder / "truth.json")
    config_file = folder / "biztrace.yaml"
    config_file.write_text(RULES)
    store = connect(dsn)
    config = biztrace_config.load(config_file)
    try:
        _give_a_lifecycle(store, config, now)
        yield Surfaces(dsn, store, config_file)
    finally:
        store.client.command(f"DROP DATABASE IF EXISTS {database}")
        store.close()


def _give_a_lifecycle(store: Store, config: AlertsConfig, now: datetime) -> None:
    """The loop opened what it saw three hours ago; since then people resolved six exceptions (at
    different times) and acknowledged three."""
    earlier = (now - timedelta(hours=3)).replace(tzinfo=None)
    exceptions.sync(store, config, earlier)
    opened = exceptions.list_exceptions(store, config, earlier)
    by_kind: dict[str, list[exceptions.ExceptionItem]] = {}
    for item in opened:
        by_kind.setdefault(item.kind, []).append(item)
    chosen = [item for items in by_kind.values() for item in items[:4]]
    done: Counter[str] = Counter()
    for step, item in enumerate(chosen):
        action = "resolve" if done["resolve"] < 6 else "acknowledge"
        if done["acknowledge"] == 3:
            break
        try:  # a problem may have gone away by then (the order moved on): take the next one
            exceptions.act(store, config, earlier + timedelta(minutes=7 * (step + 1)), key=item.key,
                           kind=item.kind, process=item.process, action=action, actor="tester")  # fmt: skip
        except NotFound:
            continue
        done[action] += 1
    assert done == {"resolve": 6, "acknowledge": 3}, "the simulator injected every kind"


@pytest.fixture
def page(surfaces: Surfaces, users_file: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., AppTest]:
    """``page("overview", f_process="order_to_cash")``: that page run by an admin, sidebar set, window 7d."""
    monkeypatch.setenv("BIZTRACE_STORE", surfaces.dsn)
    monkeypatch.setenv("BIZTRACE_USERS_FILE", str(users_file))
    monkeypatch.setenv("BIZTRACE_CONFIG", str(surfaces.config_file))
    monkeypatch.setenv("BIZTRACE_REFRESH_S", "3600")
    data.share_store(None)

    def run(name: str, **sidebar: str) -> AppTest:
        import streamlit as st

        st.cache_data.clear()
        ui._config.clear()
        at = AppTest.from_file(APP, default_timeout=180)
        at.session_state["auto_refresh"] = False
        at.session_state["user"] = auth.User(name="admin", roles=["admin"], via="local")
        at.session_state["f_window"] = WINDOW
        for key, value in sidebar.items():
            at.session_state[key] = value
        at.run()
        at.switch_page(f"views/{name}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    yield run
    ui._config.clear()


@pytest.fixture(scope="session")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("users") / "users.yaml"
    auth.save_user(path, "admin", "a long enough password", ["admin"])
    return path
