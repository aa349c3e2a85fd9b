"""The dashboard's handle on the store and the configuration, and the time its queries take.

In ``biztrace up`` the dashboard runs in the process that holds the embedded store, and
:func:`share_store` hands it that store (chDB allows one engine per process). Run on its own
(``biztrace dashboard``), it opens the store named by ``BIZTRACE_STORE``; an embedded store
held by another process is refused with the holder's name (:class:`~biztrace.store.StoreBusy`)
and the page says so.

Every query goes through :func:`query_df`, which adds its time to the current script run's
total: the page footer and the benchmark read it to separate query time from the app's own.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pandas as pd

from biztrace import config as alerts_config
from biztrace.config import AlertsConfig
from biztrace.store import Store, connect

_shared: Store | None = None
_opened: dict[str, Store] = {}
_lock = threading.Lock()
_timing = threading.local()


def share_store(store: Store | None) -> None:
    """Make the dashboard use this process's already open store (``biztrace up``)."""
    global _shared
    _shared = store


def store() -> Store:
    """The store to read: the shared one, or one opened from ``BIZTRACE_STORE`` (once per process)."""
    if _shared is not None:
        return _shared
    dsn = os.environ.get("BIZTRACE_STORE", "chdb:data")
    with _lock:
        if dsn not in _opened:
            _opened[dsn] = connect(dsn)
        return _opened[dsn]


def config() -> AlertsConfig:
    """The processes, SLAs and rules (``BIZTRACE_CONFIG`` or the built-in defaults)."""
    path = os.environ.get("BIZTRACE_CONFIG")
    return alerts_config.load(Path(path) if path else None)


def query_df(sql: str, parameters: dict) -> pd.DataFrame:
    """Run one query and return a DataFrame, adding its time to this run's query total."""
    started = time.perf_counter()
    try:
        client = store().client
        result = client.query(sql, parameters=parameters)
        columns = list(result.column_names)
        if not columns:  # chDB names no columns for an empty result; ClickHouse can describe the query
            columns = [row[0] for row in client.query(f"DESCRIBE ({sql})", parameters=parameters).result_rows]
        return pd.DataFrame(result.result_rows, columns=columns)
    finally:
        add_query_time(time.perf_counter() - started)


def add_query_time(seconds: float) -> None:
    _timing.seconds = getattr(_timing, "seconds", 0.0) + seconds


def reset_query_time() -> None:
    """Called at the top of each script run."""
    _timing.seconds = 0.0


def query_time() -> float:
    """Seconds spent in queries in this thread's current script run."""
    return getattr(_timing, "seconds", 0.0)
