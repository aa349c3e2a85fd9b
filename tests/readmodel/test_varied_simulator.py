"""The varied simulator (no biz.process or biz.system, keys linked on separate hops, payments with
only invoice.id, a return's later hops with only return.id) reads as the conventional one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from biztrace.config import load
from biztrace.readmodel.transactions import transactions
from biztrace.simulator.scenario import Scenario
from biztrace.store import connect
from support import simulate_into, store_dsn

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_every_transaction_has_the_same_state_with_varied_producers(store_root: Path, tmp_path: Path) -> None:
    config = load()
    states = {}
    for varied in (False, True):
        database = f"t_{uuid.uuid4().hex[:12]}"
        dsn = store_dsn(store_root, database)
        simulate_into(dsn, Scenario(seed=5, days=1.5, orders_per_day=150, now=NOW, varied=varied), tmp_path / "t.json")
        store = connect(dsn)
        try:
            orderless = store.client.command(
                f"SELECT count() FROM {store.table('biz_hops')} WHERE OrderId = '' AND InvoiceId != ''"
            )
            assert int(orderless) > 0 or not varied  # the varied producers do leave order.id out
            states[varied] = {(t.process, t.key): (t.state, t.stages_reached) for t in transactions(store, config, NOW)}
        finally:
            store.client.command(f"DROP DATABASE IF EXISTS {database}")
            store.close()
    assert len(states[False]) > 200
    assert states[True] == states[False]
