"""Shared fixtures: the real embedded ClickHouse (chDB), a fresh database per test.

chDB hosts one engine per process, so the whole session shares one data directory and
each test gets its own database in it. With BIZTRACE_TEST_CLICKHOUSE_URL set
(http://user:pass@host:8123), the same tests run against that server instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from biztrace.collector.service import Collector
from biztrace.collector.settings import CollectorSettings
from biztrace.readmodel.lookup import key_history
from biztrace.store import Store, connect, schema
from support import CollectorProcess, store_dsn


@pytest.fixture(scope="session")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb-store")


@pytest.fixture
def empty_store(store_root: Path) -> Iterator[Store]:
    """A connected store with a fresh, empty database (no schema)."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    store = connect(store_dsn(store_root, database))
    try:
        yield store
    finally:
        store.client.command(f"DROP DATABASE IF EXISTS {database}")
        store.close()


@pytest.fixture
def store(empty_store: Store) -> Store:
    """A fresh database with biztrace's schema applied."""
    schema.apply(empty_store, schema.SchemaOptions())
    return empty_store


@pytest.fixture
def start_collector(store_root: Path) -> Iterator[Callable[..., Collector]]:
    """Start an in-process collector on a fresh database; options override the settings."""
    started: list[Collector] = []

    def start(**options: object) -> Collector:
        database = f"t_{uuid.uuid4().hex[:12]}"
        settings = CollectorSettings(
            store=store_dsn(store_root, database), host="127.0.0.1", http_port=0, grpc_port=0, **options
        )
        collector = Collector(settings, lookup=key_history)
        collector.start()
        started.append(collector)
        return collector

    yield start
    for collector in started:
        database = collector.store.database
        collector.stop(timeout_s=10)
        with connect(collector.settings.store) as store:
            store.client.command(f"DROP DATABASE IF EXISTS {database}")


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
