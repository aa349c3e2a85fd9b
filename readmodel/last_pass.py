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

What readers derive from the pass's detection is kept with it (:func:`derived`): its exceptions,
one row each (published with the pass: the bookkeeping builds them), and the queue with its
lifecycle applied, which the loop builds after the pass (``exceptions.prepare``) for a version of
the lifecycle (an action, a postponement made or running out: a new version), read by every request
until the next version and patched then from the kept one, where each request built it (~1 s at a
million transactions, for a page of fifty rows).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from biztrace.config import AlertsConfig
from biztrace.readmodel.models import naive_utc
from biztrace.store import Store


@dataclass
class Derived:
    """A table built from a pass's detection, for one version of what else it reads, at a time."""

    table: str
    version: Hashable
    at: datetime | None = None
    readers: int = 0
    replaced: bool = False


@dataclass
class Pass:
    """One published detection: its table (``sql/exceptions_detected.sql``'s shape), when it was detected
    and under which configuration; the tables derived from it (:func:`derived`) by name."""

    table: str
    at: datetime
    fingerprint: str
    readers: int = 0
    replaced: bool = False
    derived: dict[Hashable, Derived] = field(default_factory=dict)


WINDOWS = 8
"""At most this many readers' windows kept per store (:func:`publish`); publishing another drops the oldest."""

_lock = threading.Lock()
_passes: dict[tuple[str, Hashable], Pass] = {}


def fingerprint(config: AlertsConfig) -> str:
    """What identifies a configuration: a pass under another one is not shared (one that cannot be
    serialized, built in code, is identified by the object itself)."""
    try:
        text = config.model_dump_json(warnings=False)
    except Exception:  # noqa: BLE001 - never let sharing break a pass
        return f"object:{id(config)}"
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def _place(store: Store, window: Hashable = None) -> tuple[str, Hashable]:
    """Where a pass is kept: the store, and for a reader's window (:func:`publish`) its name."""
    return f"{store.address}|{store.database}", window


def _drop(store: Store, table: str) -> None:
    store.client.command(f"DROP TABLE IF EXISTS {store.table(table)}")


def _drop_pass(store: Store, done: Pass) -> None:
    """Drop a replaced pass's table and its derived tables (no reader holds the pass, so none holds them)."""
    for kept in done.derived.values():
        _drop(store, kept.table)
    _drop(store, done.table)


def publish(
    store: Store, config: AlertsConfig, at: datetime, table: str, derived: dict[Hashable, str] | None = None, *,
    window: Hashable = None,
) -> None:  # fmt: skip
    """Make ``table`` (detected at ``at``) the one readers share, with tables already derived from it by
    name (:func:`derived`, version None); the one it replaces is dropped once no reader holds it. The
    caller hands the tables over: it must not drop them. ``window``: not the loop's pass but a reader's
    detection of a window (its name: the dashboard's queue of one window and refresh), kept beside it for
    the readers of the same window and moment (:func:`at`), one per name. A derived table of the pass
    replaced that ``derived`` names again is carried over: dropped with this pass, not with that one."""
    kept = {name: Derived(table=name_of, version=None) for name, name_of in (derived or {}).items()}
    carried = set((derived or {}).values())
    with _lock:
        replaced = [_passes.pop(_place(store, window), None)]
        if replaced[0] is not None:  # a table carried over from the pass replaced goes with this one (KeptPairs.base)
            replaced[0].derived = {name: d for name, d in replaced[0].derived.items() if d.table not in carried}
        _passes[_place(store, window)] = Pass(table=table, at=naive_utc(at), fingerprint=fingerprint(config),
                                              derived=kept)  # fmt: skip
        windows = [key for key in _passes if key[0] == _place(store)[0] and key[1] is not None]
        replaced += [_passes.pop(key) for key in windows[: max(0, len(windows) - WINDOWS)]]  # the oldest published
        dropped = [old for old in replaced if old is not None and old.readers == 0]
        for old in replaced:
            if old is not None:
                old.replaced = True
    for old in dropped:
        _drop_pass(store, old)


def forget(store: Store, *, window: Hashable = None) -> None:
    """Stop sharing the store's last pass (``window``: that window's detection); its tables are dropped
    once no reader holds them."""
    with _lock:
        old = _passes.pop(_place(store, window), None)
        drop_now = old is not None and old.readers == 0
        if old is not None:
            old.replaced = True
    if drop_now:
        _drop_pass(store, old)


def forget_all(store: Store, *, keep_loop: bool = False) -> None:
    """Stop sharing every kept pass of the store: the loop's (unless ``keep_loop``) and every reader's window
    (a benchmark's first view of a page; a reader never needs it)."""
    with _lock:
        windows = [window for place, window in _passes
                   if place == _place(store)[0] and not (keep_loop and window is None)]  # fmt: skip
    for window in windows:
        forget(store, window=window)


@contextmanager
def shared(store: Store, config: AlertsConfig, now: datetime) -> Iterator[Pass | None]:
    """The last pass's detection if it can answer a question asked at ``now`` under ``config``:
    same configuration, detected at or before ``now`` and at most two evaluation intervals earlier.
    Yields None otherwise (the caller detects for itself). Held until the block ends."""
    now = naive_utc(now)
    with _held(store, config, lambda at: at <= now and now - at <= 2 * config.evaluation_interval) as found:
        yield found


@contextmanager
def at(store: Store, config: AlertsConfig, moment: datetime, *, window: Hashable = None) -> Iterator[Pass | None]:
    """The last pass's detection if it was detected at exactly ``moment`` under ``config`` (the pass a
    later one builds on: :func:`biztrace.readmodel.exceptions.sync`; ``window``: the window's of that
    name), else None. Held until the block ends."""
    moment = naive_utc(moment)
    with _held(store, config, lambda detected_at: detected_at == moment, window) as found:
        yield found


@contextmanager
def _held(store: Store, config: AlertsConfig, when, window: Hashable = None) -> Iterator[Pass | None]:
    wanted = fingerprint(config)
    with _lock:
        found = _passes.get(_place(store, window))
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
            _drop_pass(store, found)


@contextmanager
def derived(
    store: Store, found: Pass, name: Hashable, version: Hashable, build: Callable[[], str], *,
    at: datetime | None = None, patch: Callable[[Derived], str | None] | None = None,
) -> Iterator[str]:  # fmt: skip
    """A table derived from ``found`` (a pass the caller holds) and from what else is at ``version``:
    the one kept under ``name`` if it was built for that version, else a new one, kept for the next
    reader: ``patch(kept)``'s, made from the kept table of another version (None when it cannot
    be), else ``build()``'s (each creates the table and returns its name); ``at``, the time it is
    built for, is kept with it (``kept.at``, for the patch). Held until the block
    ends; one replaced by another version is dropped once no reader holds it, and every one with the
    pass.

    The caller reads ``version`` before building, so a table is never older than its version says.
    """
    with _lock:
        kept = found.derived.get(name)
        if kept is not None:
            kept.readers += 1  # the table to read, or to patch from
    usable = kept is not None and kept.version == version
    if not usable:
        made = None
        try:
            if kept is not None and patch is not None:
                made = patch(kept)
        finally:
            if kept is not None:
                _release(store, kept)
        kept = Derived(table=made or build(), version=version, at=at, readers=1)
        stale = None
        with _lock:
            current = found.derived.get(name)
            if found.replaced or (current is not None and current.version == version):
                kept.replaced = True  # the pass is gone, or a reader built this version meanwhile: not kept
            else:
                found.derived[name] = kept
                if current is not None:
                    current.replaced = True
                    stale = current.table if current.readers == 0 else None  # else its last reader drops it
        if stale is not None:
            _drop(store, stale)
    try:
        yield kept.table
    finally:
        _release(store, kept)


PAIRS = "pairs"
"""The derived tables of a pass that hold the reconciliation pairs it judged (:class:`KeptPairs`)."""


@dataclass(frozen=True)
class KeptPairs:
    """Every reconciliation pair a pass judged and kept, by rule: the last full pass's (``base``, carried from
    pass to pass, not copied) but those of the transactions' trees judged again since (``removed``: a table of
    their keys), and theirs (``delta``). :meth:`source` reads one rule's."""

    base: dict[str, str]
    delta: dict[str, str]
    removed: str

    def named(self) -> dict[Hashable, str]:
        """The tables by name, as :func:`publish`'s ``derived``."""
        return ({(PAIRS, "base", rule): table for rule, table in self.base.items()}
                | {(PAIRS, "delta", rule): table for rule, table in self.delta.items()}
                | {(PAIRS, "removed"): self.removed})  # fmt: skip

    def source(self, store: Store, rule: str, where: str = "true") -> str:
        """One rule's pairs (those ``where`` holds for, a condition read first), as a subquery (a pair no
        transaction owns yet goes by its match key)."""
        return (f"(SELECT * FROM {store.table(self.base[rule])} WHERE ({where}) AND if(key != '', key, match_key) "
                f"NOT IN (SELECT key FROM {store.table(self.removed)}) "
                f"UNION ALL SELECT * FROM {store.table(self.delta[rule])} WHERE {where})")  # fmt: skip


def kept_pairs(found: Pass) -> KeptPairs | None:
    """The reconciliation pairs ``found`` (a pass the caller holds) was published with; None when it was
    published without them (or its carried tables went to the pass that replaced it)."""
    with _lock:
        names = {name: kept.table for name, kept in found.derived.items()
                 if isinstance(name, tuple) and name[0] == PAIRS}  # fmt: skip
    base = {name[2]: table for name, table in names.items() if name[1] == "base"}
    delta = {name[2]: table for name, table in names.items() if name[1] == "delta"}
    removed = names.get((PAIRS, "removed"))
    if removed is None or set(base) != set(delta):
        return None
    return KeptPairs(base, delta, removed)


def _release(store: Store, kept: Derived) -> None:
    with _lock:
        kept.readers -= 1
        drop_now = kept.replaced and kept.readers == 0
    if drop_now:
        _drop(store, kept.table)
