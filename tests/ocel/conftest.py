"""A store filled once per session by the simulator, its OCEL 2.0 exports, and the export command."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from biztrace.readmodel.ocel import export_ocel
from biztrace.simulator.run import GroundTruth
from biztrace.simulator.scenario import FaultRates, Scenario
from biztrace.store import connect
from support import simulate_into, store_dsn

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SINCE = datetime(2026, 11, 1)
UNTIL = datetime(2026, 11, 21)


class Simulated:
    """A store holding one simulated scenario, and what the simulator says it did."""

    def __init__(self, store, truth: GroundTruth, dsn: str) -> None:
        self.store = store
        self.truth = truth
        self.dsn = dsn

    def scalar(self, sql: str) -> int:
        return int(self.store.client.command(sql, parameters={"db": self.store.database}))


@pytest.fixture(scope="session")
def simulated(store_root: Path, tmp_path_factory: pytest.TempPathFactory):
    database = f"t_{uuid.uuid4().hex[:12]}"
    scenario = Scenario(seed=19, days=3, orders_per_day=150, now=NOW, return_rate=0.3, backorder_rate=0.2,
                        faults=FaultRates(stuck=0.04, failed=0.04, dead_letter=0.03, duplicate=0.04,
                                          amount_mismatch=0.03, quantity_mismatch=0.02, missing_hop=0.02))  # fmt: skip
    truth_file = tmp_path_factory.mktemp("truth") / "truth.json"
    dsn = store_dsn(store_root, database)
    simulate_into(dsn, scenario, truth_file)
    store = connect(dsn)
    try:
        yield Simulated(store, GroundTruth.load(truth_file), dsn)
    finally:
        store.client.command(f"DROP DATABASE IF EXISTS {database}")
        store.close()


@pytest.fixture(scope="session")
def exported(simulated: Simulated, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The whole simulated window exported once in each form: {"json": path, "sqlite": path}."""
    folder = tmp_path_factory.mktemp("ocel")
    paths = {"json": folder / "log.jsonocel", "sqlite": folder / "log.sqlite"}
    for path in paths.values():
        export_ocel(simulated.store, SINCE, UNTIL, path)
    return paths


@pytest.fixture
def run_export() -> Callable[..., int]:
    """``biztrace export ARGS...`` through the command's own entry point."""
    from biztrace.cli.main import main

    def run(*args: str) -> int:
        return main(["export", *args])

    return run
