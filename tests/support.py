"""Helpers shared by test modules (importable as ``support``; fixtures live in conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

SERVER_URL = os.environ.get("BIZTRACE_TEST_CLICKHOUSE_URL")
"""A ClickHouse server (http://user:pass@host:8123) to run the store tests against instead of chDB."""


def store_dsn(root: Path, database: str) -> str:
    """The DSN of a test database: in the session's embedded store, or on the test server."""
    if SERVER_URL:
        return f"{SERVER_URL.rstrip('/')}/{database}"
    return f"chdb://{root}?database={database}"
