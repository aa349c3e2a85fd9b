"""Shared fixtures: the real embedded ClickHouse (chDB), a fresh database per test.

chDB hosts one engine per process, so the whole session shares one data directory and
each test gets its own database in it. With BIZTRACE_TEST_CLICKHOUSE_URL set
(http://user:pass@host:8123), the same tests run against that server instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import store_dsn

from biztrace.store import Store, connect
from collector import schema


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
