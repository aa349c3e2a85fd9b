"""The alert loop's snapshot, kept from one pass to the next and brought up to date (issue 18).

A full snapshot classifies every stored transaction (``sql/snapshot.sql`` over
``sql/transactions.sql``): its cost grows with retention. Between two passes a transaction's row
changes for two reasons only:

- a hop of it was stored (``biz_hops.Ingested``, the server's clock at insert; for a span a mapping rule
  makes a hop, the time its ``otel_traces`` part was written: ``sql/mapped_stored.sql``), or ``now`` reached
  a hop stamped ahead of the previous pass's time: the row is computed again, from all its hops,
  by the same keyed query the order page uses (``sql/snapshot_touched.sql`` finds the keys);
- time passed: an in-flight transaction whose next stage fell overdue is stuck now
  (``sql/snapshot_aged.sql``; nothing else in a row depends on the clock).

So a kept snapshot costs what changed, and holds the same rows as a full one at the same time (the
test compares them on late and out-of-order hops). A pass takes a full snapshot instead when an
incremental one cannot be trusted to match: the first pass, another configuration, a ``now``
before the previous pass's, more touched
transactions than :data:`FULL_SHARE` of the kept ones (one query is then cheaper), and at least
every :data:`FULL_EVERY` whatever happened, which bounds what no watermark sees (rows dropped by
retention; a link arriving late that moves an old hop from one transaction to another).

The loop publishes its kept snapshot (``Snapshots(publish=True)``) for the readers of the same
process: :func:`kept_transactions` answers a few keys' transactions (the API's key tree, the order
page) with a point read of it, aged to the reader's time as a pass would age it, when none of their
hops was stored or reached since (else the reader computes them: ~0.1 s, nearly all of it planning
``transactions.sql``); the dashboard's pages, the headline figures and the scorecards read it whole
(:func:`published`) while little has been stored since its pass (:func:`_settled`). A replaced snapshot
is dropped once no reader holds it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from string import Template
from typing import Literal

from biztrace.config import AlertsConfig
from biztrace.readmodel import last_pass
from biztrace.readmodel.last_pass import fingerprint
from biztrace.readmodel.models import naive_utc
from biztrace.readmodel.rules import snapshot_sql
from biztrace.readmodel.transactions import (
    Transaction,
    query_parameters,
    resolution_needed,
    sql,
    transactions_query,
    uncommented,
)
from biztrace.store import Store
from biztrace.store.schema import HOPS

logger = logging.getLogger(__name__)

SETTLE = timedelta(minutes=2)
"""How far before the previous pass's start a stored hop still counts as new: an insert's rows get
their time when they are written, and a long insert commits them later (recomputing a transaction
twice is harmless; missing one is not)."""

FULL_EVERY = timedelta(hours=1)
"""A full snapshot at least this often."""

FULL_SHARE = 0.2
"""More touched transactions than this share of the kept ones: one full snapshot instead."""

CHUNK = 5_000
"""Touched keys per keyed query (each one walks its keys' trees first)."""

Mode = Literal["full", "incremental"]


@dataclass
class Taken:
    """One pass's snapshot: its table (quoted name) and how it was made."""

    table: str
    mode: Mode
    touched: int  # transactions computed again (incremental), or every transaction (full)
    reason: str  # why a full one ('' for incremental)
    # incremental: the keys of the transactions computed again, and every other key their new hops carry
    changed: list[str] | None = None
    previous_now: datetime | None = None  # incremental: the time of the snapshot brought up to date
    stored_since: datetime | None = None  # incremental: that snapshot's watermark (the server's clock)


@dataclass
class _Kept:
    name: str  # unquoted
    fingerprint: str
    now: datetime
    stored_since: datetime  # the server's clock at the pass's start, less the settling time
    started: datetime  # the server's clock at the pass's start
    full_at: datetime
    rows: int
    readers: int = 0  # readers of the published snapshot holding it (kept_transactions)
    retired: bool = False  # replaced or closed: dropped by its last reader


_published_lock = threading.Lock()
_published: dict[str, _Kept] = {}
"""The snapshot each store's loop published (by store), for :func:`kept_transactions`."""


def _place(store: Store) -> str:
    return f"{store.address}|{store.database}"


class Snapshots:
    """The snapshot one alert loop keeps between passes (one per loop; not shared between threads)."""

    def __init__(self, *, settle: timedelta = SETTLE, full_share: float = FULL_SHARE, publish: bool = False) -> None:
        """``publish``: each snapshot taken is the one the store's readers of this process point-read
        (:func:`kept_transactions`); the alert loop's does."""
        self._kept: _Kept | None = None
        self._held: tuple[_Kept | None] | None = None  # taken with hold=True: (the snapshot readers still read,)
        self._lock = threading.Lock()
        self._settle = settle
        self._full_share = full_share
        self._publish = publish

    def take(
        self, store: Store, config: AlertsConfig, now: datetime, *, full: bool = False, hold: bool = False
    ) -> Taken:
        """Every transaction's state at ``now``: the kept snapshot brought up to date, or a full one
        (``full=True`` forces it). The previous snapshot's table is dropped; this one is kept until
        the next :meth:`take` or :meth:`close`. ``hold``: readers keep reading the previous snapshot
        until :meth:`publish` (the loop publishes its pass's snapshot once the pass's detection and
        reconciliation pairs are published too, so a reader at the pass's time finds all of them)."""
        now = naive_utc(now)
        with self._lock:
            # the clock biz_hops.Ingested is stamped with: the server's
            started = datetime.fromtimestamp(int(store.client.command("SELECT toUnixTimestamp(now())")), UTC)
            started = naive_utc(started)
            wanted = fingerprint(config)
            reason = "asked" if full else self._full_reason(config, wanted, now, started)
            touched: list[str] = []
            related: list[str] = []
            if not reason:
                assert self._kept is not None
                touched, related = self._touched(store, config, now)
                if len(touched) > self._full_share * max(self._kept.rows, 1):
                    reason = f"{len(touched)} transactions changed"
            if reason:
                name = store.create_memory_table(snapshot_sql(config, keys=False),
                                                 query_parameters(store, config, now), "biztrace_snapshot")  # fmt: skip
                full_at = started
            else:
                assert self._kept is not None
                name = self._bring_up_to_date(store, config, now, touched)
                full_at = self._kept.full_at
            rows = int(store.client.command(f"SELECT count() FROM {store.table(name)}"))
            previous_now = self._kept.now if self._kept is not None else None
            previous_since = self._kept.stored_since if self._kept is not None else None
            kept = _Kept(name, wanted, now, started - self._settle, started, full_at, rows)
            if self._held is not None:  # the last one taken was never published: readers still read the one before
                self._retire(store, self._kept)
                self._kept = kept
            else:
                self._held = (self._kept,)
                self._kept = kept
            if not (hold and self._publish):
                self.publish(store, locked=True)
            if reason:
                logger.debug("full snapshot at %s: %s", now, reason)
            if reason:
                return Taken(store.table(name), "full", rows, reason)
            return Taken(store.table(name), "incremental", len(touched), "", related, previous_now, previous_since)

    def publish(self, store: Store, *, locked: bool = False) -> None:
        """Publish the snapshot taken with ``hold=True`` (nothing to do otherwise): the one readers read until
        now is retired. ``locked``: the caller holds this loop's lock."""
        with nullcontext() if locked else self._lock:
            if self._held is None:
                return
            (old,), self._held = self._held, None
            if self._publish and self._kept is not None:
                with _published_lock:
                    _published[_place(store)] = self._kept
            self._retire(store, old)

    def close(self, store: Store) -> None:
        """Drop the kept snapshot (the loop's end)."""
        with self._lock:
            if self._held is not None:
                (old,), self._held = self._held, None
                self._retire(store, old)
            kept, self._kept = self._kept, None
            self._retire(store, kept)

    def _retire(self, store: Store, kept: _Kept | None) -> None:
        """Retire a snapshot: no longer published; dropped now, or by the last reader that holds it."""
        if kept is None:
            return
        with _published_lock:
            if _published.get(_place(store)) is kept:
                del _published[_place(store)]
            kept.retired = True
            drop_now = kept.readers == 0
        if drop_now:
            store.client.command(f"DROP TABLE IF EXISTS {store.table(kept.name)}")

    def _full_reason(self, config: AlertsConfig, wanted: str, now: datetime, started: datetime) -> str:
        kept = self._kept
        if kept is None:
            return "first pass"
        if kept.fingerprint != wanted:
            return "configuration changed"
        if now < kept.now:
            return "time went back"
        if started - kept.full_at >= FULL_EVERY:
            return f"every {FULL_EVERY}"
        return ""

    def _touched(self, store: Store, config: AlertsConfig, now: datetime) -> tuple[list[str], list[str]]:
        """The keys of the transactions with a new hop, and those with every key such a hop carries."""
        assert self._kept is not None
        parameters = query_parameters(store, config, now) | {
            "stored_since": self._kept.stored_since,
            "previous_now": self._kept.now,
        }
        # (no resolution planned when no hop lacks an order id: ~0.4 s of this statement with mapping rules)
        query = sql("snapshot_touched", config, keys=False, unresolved=not resolution_needed(store, config, None))
        query = query.replace("${mapped_stored}", uncommented(sql("mapped_stored")) if config.mappings else "")
        rows = store.client.query(query, parameters=parameters).result_rows
        return sorted(key for key, owned in rows if owned), sorted(key for key, _ in rows)

    def _bring_up_to_date(self, store: Store, config: AlertsConfig, now: datetime, touched: list[str]) -> str:
        """The kept rows no hop changed, aged to ``now``, then the touched transactions computed again."""
        assert self._kept is not None
        with store.columns_table({"key": "String"}, [touched], "biztrace_touched") as keys:
            aged = Template(sql("snapshot_aged", config, keys=False)).substitute(
                previous=store.table(self._kept.name), touched=store.table(keys)
            )
            name = store.create_memory_table(_over(config, aged), query_parameters(store, config, now),
                                             "biztrace_snapshot")  # fmt: skip
        try:
            for start in range(0, len(touched), CHUNK):
                query, parameters = transactions_query(store, config, now, keys=touched[start : start + CHUNK])
                store.client.command(f"INSERT INTO {store.table(name)} {_over(config, query)}", parameters=parameters)
        except BaseException:
            store.client.command(f"DROP TABLE IF EXISTS {store.table(name)}")
            raise
        return name


def _over(config: AlertsConfig, transactions: str) -> str:
    """``sql/snapshot.sql`` over these transaction rows."""
    return Template(sql("snapshot")).substitute(transactions=transactions,
                                                system_at_fault=sql("system_at_fault", config))  # fmt: skip


@dataclass(frozen=True)
class Published:
    """A snapshot the store's loop published: its table (quoted name) and the time its rows are judged at."""

    table: str
    now: datetime


@contextmanager
def published(store: Store, config: AlertsConfig, now: datetime) -> Iterator[Published | None]:
    """The snapshot the store's loop published, held while the block runs (a snapshot replaced meanwhile
    is dropped by its last reader), if it can answer at ``now`` under ``config``: same configuration, ``now``
    not before its time nor more than two evaluation intervals after, and little stored since
    (:func:`_settled`); else None."""
    with _holding(store, config, now) as kept:
        usable = kept is not None and _settled(store, kept)
        yield Published(store.table(kept.name), kept.now) if usable and kept is not None else None


def last_pass_time(store: Store, config: AlertsConfig) -> datetime | None:
    """The time of the snapshot the store's loop published, if one under ``config`` (same configuration) is
    published: a reader that takes its time from the clock rounded down (the dashboard's
    refresh tick) takes this one instead when the tick falls before it, so that it reads the pass (naive
    UTC). No statement: what :func:`published` then checks is not checked here."""
    with _published_lock:
        kept = _of(store, config)
    return kept.now if kept is not None else None


def _of(store: Store, config: AlertsConfig) -> _Kept | None:
    """The snapshot the store's loop published, if it is of ``config`` (same configuration). Called under
    ``_published_lock``."""
    kept = _published.get(_place(store))
    if kept is None or kept.fingerprint != fingerprint(config):
        return None
    return kept


def settled(store: Store) -> bool:
    """Whether the store's loop's last pass may answer its readers for what was stored since it
    (:func:`_settled`; the exception queue's shared readers ask); True when no snapshot is published."""
    with _published_lock:
        kept = _published.get(_place(store))
    return kept is None or _settled(store, kept)


def _settled(store: Store, kept: _Kept) -> bool:
    """Whether few enough hops were stored since ``kept``'s pass started for a reader to answer from it: no more
    than :data:`FULL_SHARE` of its transactions (the share past which the loop itself would take a full
    snapshot). A pass that ran while a backfill was arriving (``biztrace up`` starts its loop before the
    demo's history, a producer replays a day) holds a fraction of what the store holds a minute later:
    its readers compute until the next pass (what a steady minute of traffic brings waits for it). Stored hops
    only: a backfill of a service mapping rules read waits for the next pass."""
    limit = int(FULL_SHARE * max(kept.rows, 1))
    since = store.client.command(
        f"SELECT count() FROM (SELECT 1 FROM {store.table(HOPS)} WHERE Ingested > {{since:DateTime}} "
        f"LIMIT {limit + 1})",
        parameters={"since": kept.started},
    )
    return int(since) <= limit


@contextmanager
def _holding(store: Store, config: AlertsConfig, now: datetime) -> Iterator[_Kept | None]:
    now = naive_utc(now)
    with _published_lock:
        kept = _of(store, config)
        usable = kept is not None and kept.now <= now <= kept.now + 2 * config.evaluation_interval
        if usable:
            assert kept is not None
            kept.readers += 1
    if not usable:
        yield None
        return
    assert kept is not None
    try:
        yield kept
    finally:
        with _published_lock:
            kept.readers -= 1
            drop_now = kept.retired and kept.readers == 0
        if drop_now:
            store.client.command(f"DROP TABLE IF EXISTS {store.table(kept.name)}")


@dataclass(frozen=True)
class Pass:
    """The store's loop's last pass as a reader holds it: its kept snapshot and its detection, of one time."""

    snapshot: str  # the kept snapshot's table (quoted)
    found: last_pass.Pass  # the detection of the same pass (sql/exceptions_detected.sql's shape)
    now: datetime  # the pass's time


@contextmanager
def last_pass_of(store: Store, config: AlertsConfig, now: datetime) -> Iterator[Pass | None]:
    """The store's loop's last pass, its snapshot (:func:`published`) and its detection
    (:func:`biztrace.readmodel.last_pass.at`) of the same time, if it can answer at ``now`` under ``config``,
    both held while the block runs; else None (none, or between its snapshot and its detection)."""
    with published(store, config, now) as kept:
        if kept is None:
            yield None
            return
        with last_pass.at(store, config, kept.now) as found:
            yield Pass(kept.table, found, kept.now) if found is not None else None


def started_since_sql(config: AlertsConfig, kept: str) -> str:
    """The rows of the kept snapshot ``kept`` (its table, quoted) of the transactions a classification since
    ``{since}`` counts, as ``sql/transactions.sql`` gives them (its ``{since}`` and ``{process}``: only that
    process's, '' every one), brought to ``{now}`` (at or after the snapshot's time) as a pass brings the rows
    no hop touched: ``sql/kept_started.sql``. A transaction with a hop stored since the snapshot is as of it."""
    return Template(sql("kept_started")).substitute(aged=_aged(config, kept))


def aged_sql(config: AlertsConfig, kept: str) -> str:
    """Every row of the kept snapshot ``kept`` (its table, quoted) brought to ``{now}`` (at or after its time)
    as a pass brings the rows no hop touched, in ``sql/snapshot.sql``'s shape (what
    :func:`biztrace.readmodel.rules.snapshot` holds at ``{now}``, but for transactions with a hop stored since
    the snapshot: as of it)."""
    return _over(config, _aged(config, kept))


def _aged(config: AlertsConfig, kept: str) -> str:
    """``sql/snapshot_aged.sql`` over every row of ``kept`` (none touched): transactions.sql's columns."""
    none = "(SELECT '' AS key WHERE 0)"
    return Template(sql("snapshot_aged", config, keys=False)).substitute(previous=kept, touched=none)


def kept_transactions(
    store: Store, config: AlertsConfig, now: datetime, keys: list[str], *, stored_until: datetime, latest: datetime
) -> list[Transaction] | None:
    """The transactions of ``keys`` at ``now`` (as :func:`biztrace.readmodel.transactions.transactions`
    with ``keys``), read from the snapshot the store's loop published (:func:`published`) and brought to
    ``now`` as a pass brings the rows no hop touched (``sql/snapshot_kept.sql``), or None when it cannot
    answer for them: none published or usable at ``now``, or a hop of theirs it may not have seen:
    ``stored_until``, the latest time one was stored (``biz_hops.Ingested``), at or after its watermark,
    or ``latest``, the latest hop's time, after its time."""
    with _holding(store, config, now) as kept:
        if kept is None or naive_utc(stored_until) >= kept.stored_since or naive_utc(latest) > kept.now:
            return None
        query = Template(sql("snapshot_kept", config, keys=False)).substitute(kept=store.table(kept.name))
        rows = store.client.query(query, parameters={"now": naive_utc(now), "keys": keys}).named_results()
        return [Transaction(**row) for row in rows]
