"""One store per module, filled by a producer written with the plain OpenTelemetry SDK through a real
collector (scorecard_data.ORDERS)."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from biztrace import config as alerts_config
from biztrace.collector.service import Collector
from biztrace.collector.settings import CollectorSettings
from biztrace.readmodel.lookup import key_history
from biztrace.store import Store, connect
from support import Producers, store_dsn

sys.path.insert(0, str(Path(__file__).parent))  # scorecard_data, beside this file
from scorecard_data import CONFIG, ORDERS  # noqa: E402


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> alerts_config.AlertsConfig:
    path = tmp_path_factory.mktemp("config") / "scorecards.yaml"
    path.write_text(CONFIG)
    return alerts_config.load(str(path))


@pytest.fixture(scope="module")
def filled(store_root: Path) -> Iterator[tuple[str, Store]]:
    """The orders of :data:`ORDERS`, sent through a real collector: (DSN, open store)."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    dsn = store_dsn(store_root, database)
    collector = Collector(CollectorSettings(store=dsn, host="127.0.0.1", http_port=0, grpc_port=0), lookup=key_history)
    collector.start()
    producers = Producers(collector)
    try:
        for order in ORDERS:
            for number, (stage, minute, system) in enumerate(order.hops):
                attributes = {"order.id": order.key, "biz.stage": stage, "biz.system": system}
                if order.customer and number == order.customer_on:
                    attributes["customer.id"] = order.customer
                if number == 0:
                    attributes |= {"biz.amount": order.amount, "biz.currency": order.currency,
                                   "biz.event_id": f"{order.key}-capture"}  # fmt: skip
                failed = stage == order.failed_at
                producers.span(system, f"{stage} {order.key}", minute, error=failed, **attributes)
                if number == 0 and order.duplicate:
                    producers.span(system, f"{stage} {order.key}", minute + 1, **attributes)
        store = producers.flush()
        expected = sum(len(o.hops) + o.duplicate for o in ORDERS)
        deadline = time.monotonic() + 30
        while store.client.command(f"SELECT count() FROM {store.table('biz_hops')}") < expected:
            assert time.monotonic() < deadline, "the hops did not arrive"
            time.sleep(0.2)
    finally:
        producers.shutdown()
        collector.stop()
    store = connect(dsn)
    try:
        yield dsn, store
    finally:
        store.client.command(f"DROP DATABASE IF EXISTS {database}")
        store.close()
