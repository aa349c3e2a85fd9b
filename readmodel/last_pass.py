"""The exceptions the alert loop's last pass detected, shared with the readers of the same process.

Detecting exceptions (classifying every transaction, finding duplicates, reconciling) is the
expensive part of every read of the exception queue: seconds at a million transactions, for a page
of fifty rows. The alert loop detects them anyway on each pass (:func:`exceptions.sync`, its
bookkeeping). Instead of dropping that table, the pass publishes it here, and the readers of the
same process (the API's list, page and export, the CLI through the holder's API) read it while it
is fresh: one detection per evaluation interval instead of one per request.

What a reader gets is the same definition (``sql/exceptions_detected.sql`` and the mismatches) at
the pass's time instead of the request's: at most ``2 × evaluation_interval`` old (older, or a
pass under another configuration, and the reader detects for itself). The lifecycle (who
acknowledged, resolved, postponed until when) is always applied at the request's time, so an
action shows at once. Readers that ask for keys or a window (the order page, the dashboard's
window) detect for themselves. A table is dropped once it is replaced and no reader holds it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from biztrace.config import AlertsConfig
from biztrace.readmodel.models import naive_utc
from biztrace.store import Store


@dataclass
class Pass:
    """One published detection: its table (``sql/exceptions_detected.sql``'s shape), when it was detected
    and under which configuration."""

    table: str
    at: datetime
    fingerprint: str
    readers: int = 0
    replaced: bool = False


_lock = threading.Lock()
_passes: dict[str, Pass] = {}


def fingerprint(config: AlertsConfig) -> str:
    """What identifies a configuration: a pass under another one is not shared (one that cannot be
    serialized, built in code, is identified by the object itself)."""
    try:
        text = config.model_dump_json(warnings=False)
    except Exception:  # noqa: BLE001 - never let sharing break a pass
        return f"object:{id(config)}"
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def _place(store: Store) -> str:
    return f"{store.address}|{store.database}"


def _drop(store: Store, table: str) -> None:
    store.client.command(f"DROP TABLE IF EXISTS {store.table(table)}")


def publish(store: Store, config: AlertsConfig, at: datetime, table: str) -> None:
    """Make ``table`` (detected at ``at``) the one readers share; the one it replaces is dropped once
    no reader holds it. The caller hands the table over: it must not drop it."""
    with _lock:
        old = _passes.get(_place(store))
        _passes[_place(store)] = Pass(table=table, at=naive_utc(at), fingerprint=fingerprint(config))
        drop_now = old is not None and old.readers == 0
        if old is not None:
            old.replaced = True
    if drop_now:
        _drop(store, old.table)


def forget(store: Store) -> None:
    """Stop sharing the store's last pass (its table is dropped once no reader holds it)."""
    with _lock:
        old = _passes.pop(_place(store), None)
        drop_now = old is not None and old.readers == 0
        if old is not None:
            old.replaced = True
    if drop_now:
        _drop(store, old.table)


@contextmanager
def shared(store: Store, config: AlertsConfig, now: datetime) -> Iterator[Pass | None]:
    """The last pass's detection if it can answer a question asked at ``now`` under ``config``:
    same configuration, detected at or before ``now`` and at most two evaluation intervals earlier.
    Yields None otherwise (the caller detects for itself). Held until the block ends."""
    now = naive_utc(now)
    with _held(store, config, lambda at: at <= now and now - at <= 2 * config.evaluation_interval) as found:
        yield found


@contextmanager
def at(store: Store, config: AlertsConfig, moment: datetime) -> Iterator[Pass | None]:
    """The last pass's detection if it was detected at exactly ``moment`` under ``config`` (the pass a
    later one builds on: :func:`biztrace.readmodel.exceptions.sync`), else None. Held until the block ends."""
    moment = naive_utc(moment)
    with _held(store, config, lambda detected_at: detected_at == moment) as found:
        yield found


@contextmanager
def _held(store: Store, config: AlertsConfig, when) -> Iterator[Pass | None]:
    wanted = fingerprint(config)
    with _lock:
        found = _passes.get(_place(store))
        usable = found is not None and when(found.at) and found.fingerprint == wanted
        if usable:
            found.readers += 1
    if not usable:
        yield None
        return
    try:
        yield found
    finally:
        with _lock:
            found.readers -= 1
            drop_now = found.replaced and found.readers == 0
        if drop_now:
            _drop(store, found.table)
