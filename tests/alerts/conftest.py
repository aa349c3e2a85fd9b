"""A store filled once per module by the simulator, with its ground truth."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from biztrace.simulator.run import GroundTruth
from biztrace.simulator.scenario import FaultRates, Scenario
from biztrace.store import connect
from support import simulate_into, store_dsn

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RATES = FaultRates(stuck=0.05, failed=0.03, dead_letter=0.02, duplicate=0.03, amount_mismatch=0.03,
                   quantity_mismatch=0.02, missing_hop=0.02)  # fmt: skip


class Simulated:
    """A store holding one simulated scenario, and what the simulator says it did."""

    def __init__(self, store, truth: GroundTruth, scenario: Scenario) -> None:
        self.store = store
        self.truth = truth
        self.scenario = scenario


@pytest.fixture(scope="module")
def simulated(store_root: Path, tmp_path_factory: pytest.TempPathFactory):
    database = f"t_{uuid.uuid4().hex[:12]}"
    scenario = Scenario(seed=11, days=4, orders_per_day=400, now=NOW, faults=RATES)
    truth_file = tmp_path_factory.mktemp("truth") / "truth.json"
    simulate_into(store_dsn(store_root, database), scenario, truth_file)
    store = connect(store_dsn(store_root, database))
    try:
        yield Simulated(store, GroundTruth.load(truth_file), scenario)
    finally:
        store.client.command(f"DROP DATABASE IF EXISTS {database}")
        store.close()
