"""The dashboard's handle on the store and the configuration, and the time its queries take.

In ``biztrace up`` the dashboard runs in the process that holds the embedded store, and
:func:`share_store` hands it that store (chDB allows one engine per process). Run on its own
(``biztrace dashboard``), it opens the store named by ``BIZTRACE_STORE``; an embedded store
held by another process is refused with the holder's name (:class:`~biztrace.store.StoreBusy`)
and the page says so.

Each script run reads through a client of its own while it runs (:func:`script_lane`): one client
serializes its calls, so sessions sharing one would wait on each other (a leader's 7-day Overview
holding up on-call's order lookup).

Every query goes through :func:`query_df`, which adds its time to the current script run's
total: the page footer and the benchmark read it to separate query time from the app's own.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pandas as pd

from biztrace import config as alerts_config
from biztrace.config import AlertsConfig
from biztrace.store import Store, connect

T = TypeVar("T")

_shared: Store | None = None
_opened: dict[str, Store] = {}
_lock = threading.Lock()
_timing = threading.local()
_lane = threading.local()  # the store a script run (script_lane) or a call of side_by_side reads, in its thread


def share_store(store: Store | None) -> None:
    """Make the dashboard use this process's already open store (``biztrace up``)."""
    global _shared
    _shared = store


def store() -> Store:
    """The store to read: in a script run (:func:`script_lane`) or a call run by :func:`side_by_side`, its
    view of it; else the shared one, or one opened from ``BIZTRACE_STORE`` (once per process)."""
    lane = getattr(_lane, "store", None)
    if lane is not None:
        return lane
    if _shared is not None:
        return _shared
    dsn = os.environ.get("BIZTRACE_STORE", "chdb:data")
    with _lock:
        if dsn not in _opened:
            _opened[dsn] = connect(dsn)
        return _opened[dsn]


@contextmanager
def script_lane() -> Iterator[Store]:
    """While the block runs, :func:`store` in this thread is a view of the store with a client of its own
    (:meth:`Store.borrowed`): the statements of this script run do not wait on another session's;
    yields the view. Inside a run's block (a fragment drawn by the full run), the run's view."""
    current = getattr(_lane, "store", None)
    if current is not None:  # in this thread's run already (a fragment drawn by the full run): its view
        yield current
        return
    with store().borrowed() as view:
        _lane.store = view
        try:
            yield view
        finally:
            _lane.store = None


def side_by_side(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Each call's result, the calls run side by side (:meth:`Store.side_by_side`): in each, :func:`store`
    is its lane's view of the store (a client of its own), so their statements do not wait on one client.
    Their time, while they run, counts as this run's query time."""

    def on_lane(call: Callable[[], T]) -> Callable[[Store], T]:
        def run(view: Store) -> T:
            _lane.store = view
            try:
                return call()
            finally:
                _lane.store = None

        return run

    started = time.perf_counter()
    try:
        return store().side_by_side([on_lane(call) for call in calls])
    finally:
        add_query_time(time.perf_counter() - started)


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
