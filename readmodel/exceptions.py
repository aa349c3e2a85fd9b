"""Exception queues: every transaction in trouble, with its lifecycle.

One definition, in SQL, that every surface reads: ``sql/exceptions_detected.sql`` detects (the
caller adds the reconciliation mismatches) and ``sql/exceptions_queue.sql`` applies the
lifecycle. The CLI's and the API's list (:func:`list_exceptions`), the dashboard's queue and its
figures (:func:`queue_page`) and the alert loop's bookkeeping (:func:`sync`) all read them.
Detection is a query, not a job: the list is current whether or not the alert loop ever ran (the
holder's API may read the loop's last detection instead of detecting per request: ``last_pass.py``).
People's actions (acknowledge, assign, comment, resolve) and the loop's bookkeeping (open, reopen,
automatic resolve) are rows in ``biztrace_exception_events``, postponements (and un-postponements)
rows in ``biztrace_exception_postponements``; the state shown is derived from them at read time:

* ``open``: detected, nobody acted yet (or the problem came back after a resolve);
* ``acknowledged``: detected, somebody took it;
* ``postponed``: somebody postponed it until a time still to come; it is out of the open queue and
  of the "open" figures until then, and back (open or acknowledged, as before) once the time has
  passed, with no job involved. A later resolve ends the postponement;
* ``resolved``: resolved by a person, or no longer detected.

A comment changes no state: it is kept, with who and when, in the same audit trail and shown
with the exception (``comments``).

An exception is identified by (process, key, kind). Its system at fault is defined once per kind:
``sql/snapshot.sql``'s ``system`` for a stuck, failed or dead-lettered transaction, the system
that delivered a duplicate last (``sql/duplicates.sql``), :attr:`reconcile.Mismatch.system_at_fault`
for a mismatch. Its SLA (with the per-priority and per-channel overrides) is the one
``sql/transactions.sql`` applies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from datetime import datetime, timedelta
from string import Template
from typing import Literal

from pydantic import BaseModel, Field

from biztrace.config import AlertsConfig
from biztrace.readmodel import last_pass, reconcile, rules, snapshots
from biztrace.readmodel.errors import NotFound
from biztrace.readmodel.keygraph import key_tree
from biztrace.readmodel.models import naive_utc
from biztrace.readmodel.transactions import (
    KeysMode,
    Transaction,
    hops_scope,
    query_parameters,
    resolution,
    sql,
    transactions,
)
from biztrace.store import Store, schema

ExceptionState = Literal["open", "acknowledged", "postponed", "resolved"]
Action = Literal["open", "acknowledge", "assign", "resolve", "reopen", "comment", "postpone", "unpostpone"]
SYSTEM_ACTOR = "biztrace"
MAX_COMMENT = 2000
"""The longest comment, in characters."""


class Comment(BaseModel):
    """A person's comment on an exception, from the audit trail."""

    at: datetime
    by: str
    text: str = Field(description="plain text, shown as text (never markdown or HTML)")


class ExceptionItem(BaseModel):
    """One transaction in trouble, as the queue shows it."""

    process: str
    key: str
    kind: str = Field(description="stuck, failed, duplicate, dead_letter or mismatch")
    stage: str
    system: str = Field(description="the system at fault")
    since: datetime = Field(description="when the problem started (for stuck: when the SLA was breached)")
    age_s: int
    evidence: list[str] = Field(description="span ids")
    detail: dict[str, object] = Field(default_factory=dict)
    priority: str = ""
    channel: str = ""
    amount: float | None = Field(None, description="the transaction's value at risk (CONVENTIONS: for an order, "
                                 "the amount its system of record accepted; else the first amount seen)")  # fmt: skip
    currency: str = Field("", description="ISO 4217 code of amount")
    detected: bool = Field(True, description="false for a resolved exception no longer detected")
    state: ExceptionState = "open"
    opened_at: datetime | None = None
    acknowledged_by: str = ""
    assignee: str = ""
    resolved_by: str = ""
    resolved_at: datetime | None = None
    resolution_s: float | None = Field(None, description="resolved_at - opened_at: the resolution-time KPI")
    note: str = ""
    postponed_until: datetime | None = Field(None, description="while postponed: when it comes back to the queue")
    postponed_by: str = ""
    comments: list[Comment] = Field(default_factory=list, description="oldest first")
    runbook: str = ""

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.process, self.key, self.kind)


class Filters(BaseModel):
    """What ``biztrace exceptions`` (and the API, and the dashboard's sidebar) narrow the queue by."""

    process: str | None = None
    kind: str | None = None
    stage: str | None = None
    system: str | None = None
    state: ExceptionState | None = None
    min_age_s: int | None = None
    key: str | None = None
    channel: str | None = None
    priority: str | None = None


SORTS: dict[str, str] = {
    "oldest first": "since ASC, process, key, kind",
    "newest first": "since DESC, process, key, kind",
    "priority, then age": "transform(priority, ['high', 'normal', 'low'], [0, 1, 2], 3), since ASC, process, key, kind",
    "largest amount first": "amount IS NULL, amount DESC, since ASC, process, key, kind",
}
"""The queue's orders (``ORDER BY`` clauses of ``sql/exceptions_list.sql``): by age, or by priority then age."""
_RANK = {"high": 0, "normal": 1, "low": 2}
_IN_ORDER: dict[str, Callable[[ExceptionItem], tuple]] = {
    "oldest first": lambda i: (i.since, i.process, i.key, i.kind),
    "newest first": lambda i: (-i.since.timestamp(), i.process, i.key, i.kind),
    "priority, then age": lambda i: (_RANK.get(i.priority, 3), i.since, i.process, i.key, i.kind),
    "largest amount first": lambda i: (i.amount is None, -(i.amount or 0.0), i.since, i.process, i.key, i.kind),
}
""":data:`SORTS` in Python, for a whole list whose values were filled in after ClickHouse sorted it
(:func:`_with_values`: an exception whose transaction was not classified with it)."""


def in_order(items: list[ExceptionItem], sort: str) -> list[ExceptionItem]:
    """``items`` in ``sort``'s order (one of :data:`SORTS`), as ClickHouse sorts the queue."""
    return sorted(items, key=_IN_ORDER[sort])


TROUBLE = ["stuck", "failed", "dead_letter"]
"""The transaction states that are exceptions of the same kind."""
_EVERY_ROW = 2**62


class KindCount(BaseModel):
    """How many exceptions of one process and kind are in one state."""

    process: str
    kind: str
    state: ExceptionState
    exceptions: int


class StuckNow(BaseModel):
    """One process's stuck transactions now (``sql/exceptions_stuck.sql``)."""

    process: str
    transactions: int = Field(description="transactions past their next stage's SLA")
    oldest_breach_s: float = Field(description="how long ago the oldest one's SLA was breached, seconds")


class QueuePage(BaseModel):
    """One page of the exception queue with the whole queue's totals, all counted in ClickHouse."""

    counts: list[KindCount] = Field(description="per process, kind and state: the whole queue")
    matching: int = Field(description="rows of every page (the states and kinds asked for)")
    resolved: int = Field(description="resolved exceptions in the queue")
    median_resolution_s: float | None = Field(description="time to resolve (resolved_at - opened_at): median")
    p90_resolution_s: float | None = Field(description="time to resolve: 90th percentile")
    items: list[ExceptionItem]

    def count(self, state: str | None = None, kind: str | None = None) -> int:
        """Exceptions in ``state`` (and of ``kind``) over every page."""
        return sum(c.exceptions for c in self.counts if state in (None, c.state) and kind in (None, c.kind))


def narrowed(config: AlertsConfig, process: str | None) -> AlertsConfig:
    """The configuration of one process, with its reconciliation rules, so that queries read only its
    hops; the whole configuration when ``process`` is empty or not configured."""
    if not process or process not in config.processes:
        return config
    return config.model_copy(update={
        "processes": {process: config.processes[process]},
        "reconciliation": [rule for rule in config.reconciliation if rule.process == process],
    })  # fmt: skip


def detected_sql(
    classified: str,
    config: AlertsConfig | None = None,
    *,
    keys: KeysMode = True,
    resolved: bool = False,
    valued: bool = True,
) -> str:
    """``sql/exceptions_detected.sql`` over ``classified``: a table or subquery shaped like ``sql/snapshot.sql``;
    ``keys=False`` when read with ``{keys}`` empty, ``resolved`` (a reader's table of the key graph's answers):
    as :func:`biztrace.readmodel.transactions.sql`'s. ``valued``: a duplicate's value is read from
    ``classified`` (every transaction, in any state, in a table); False: left NULL (a few keys' detection,
    whose classification is a subquery: read twice, it would be planned twice; ``_with_values`` fills them)."""
    return Template(sql("exceptions_detected", config)).substitute(
        classified=classified,
        duplicates=sql("duplicates", config, keys=keys, resolved=resolved),
        values=classified if valued else reconcile.NO_VALUES,
    )


@contextmanager
def _detected(
    store: Store, config: AlertsConfig, now: datetime, *, since: datetime | None, keys: list[str] | None,
    classified: str | None = None,
) -> Iterator[str]:  # fmt: skip
    """A Memory table of what ``sql/exceptions_detected.sql`` and the reconciliation find at ``now``
    among transactions started since ``since`` (``classified``: those transactions, classified by the
    caller); dropped on exit; yields its name."""
    parameters = query_parameters(store, config, now, keys=keys, states=TROUBLE, since=since)
    # keys: their trees walked once here, for every query (in each, the walk would be read again and
    # planned again: ~0.1 s a query); without keys, the key graph's subqueries are left out
    with ExitStack() as stack:
        tree, scope = None, None
        if keys:  # their hops placed once, for a dozen queries (transactions.hops_scope)
            tree = key_tree(store, keys, config)
            scope = stack.enter_context(hops_scope(store, config, keys, tree))
            parameters |= {"tree": tree, "scope": scope}
        keyed: KeysMode = "scoped" if keys else False
        # the key graph's answers once for every statement below (none needed when the hops are placed already)
        resolved = stack.enter_context(resolution(store, config, parameters, keyed))
        parameters |= resolved
        if keys:  # a few keys' transactions, in trouble, classified in the detection's statement
            classified = f"({rules.snapshot_sql(config, keys=keyed, resolved=bool(resolved))})"
        elif classified is None:
            # every transaction of the window, in any state (a duplicate's value is its transaction's, healthy or
            # not: a page sorted by amount then puts it in its place), classified once in a table read twice
            everyone = (rules.snapshot_sql(config, keys=keyed, resolved=bool(resolved)), parameters | {"states": []})
            classified = store.table(stack.enter_context(store.memory_table(*everyone, "biztrace_classified")))
        judged = stack.enter_context(reconcile.judging(store, config, now, since=since, keys=keys, tree=tree,
                                                       scope=scope, resolved=resolved))  # fmt: skip
        # the detection and each reconciliation rule's judging, side by side (each statement plans alone)
        detection = (detected_sql(classified, config, keys=keyed, resolved=bool(resolved), valued=not keys),
                     parameters, "biztrace_detected")  # fmt: skip
        found, *flagged = stack.enter_context(store.memory_tables([detection, *judged.statements]))
        reconcile.insert_flagged(store, config, judged, flagged, found, classified if not keys else reconcile.NO_VALUES)
        yield found


@contextmanager
def queue(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    since: datetime | None = None,
    keys: list[str] | None = None,
    process: str | None = None,
    system: str | None = None,
    channel: str | None = None,
    priority: str | None = None,
    shared: bool = False,
    classified: str | None = None,
    keep: bool = False,
) -> Iterator[str]:
    """The exception queue at ``now`` (``sql/exceptions_queue.sql``) in a Memory table, dropped on
    exit; yields its name. Every reader of the queue (the list, the dashboard's page, its totals and
    its time to resolve) reads this table.

    ``since``: only exceptions of transactions started since then, and those resolved and no longer
    detected that were opened since then (the dashboard's window; None: all). ``process``,
    ``system``, ``channel``, ``priority``, ``keys``: only those. ``shared``: the alert loop's last
    detection may answer (``last_pass.py``: the whole queue as of the last pass, at most two
    evaluation intervals old, its lifecycle at ``now``); the holder's API asks for it. That queue is
    kept with the pass until the lifecycle changes (``sql/lifecycle_version.sql``): the readers
    between two actions share one. ``classified``: the transactions of the window (``since``) as a
    caller classified them already (a table or subquery with ``sql/exceptions_detected.sql``'s
    columns, in trouble or not; no ``keys``), instead of classifying them again. ``keep``: the
    detection of a window (``since``, no ``keys``) is kept in this process for the readers of the
    same window at the same ``now`` (the dashboard's pages, sorts and kind filters of one refresh),
    its queue as the loop's (one per version of the lifecycle, patched after an action); the next
    ``now`` replaces it.
    """
    filters = {"process": process or "", "system": system or "", "channel": channel or "", "priority": priority or ""}
    # the pass answers while little was stored since it (a pass during a backfill saw part of the store)
    if shared and since is None and not keys and snapshots.settled(store):
        with last_pass.shared(store, config, now) as found:
            if found is not None:
                with _kept_queue(store, config, now, found, filters) as table:
                    yield table
                return
    scoped = narrowed(config, process)
    if keep and since is not None and not keys and classified is None:
        window = ("window", naive_utc(now) - naive_utc(since), *filters.values())
        with last_pass.at(store, config, now, window=window) as found:
            if found is None:  # the first reader of this window and moment detects, and keeps what it found
                rows = _window_of_pass(store, config, now, since)
                if rows is None:
                    with _detected(store, scoped, now, since=since, keys=None) as detected:
                        rows = _found_table(store, detected)
                last_pass.publish(store, config, now, rows, {"found": rows}, window=window)
        with last_pass.at(store, config, now, window=window) as found:
            if found is not None:
                with _kept_queue(store, scoped, now, found, filters, since=since) as table:
                    yield table
                return
    with (
        _detected(store, scoped, now, since=since, keys=keys, classified=classified) as detected,
        _dropped(store, _found_table(store, detected)) as rows,
        _dropped(store, _queue_table(store, scoped, now, rows, filters, since=since, keys=keys)) as table,
    ):
        yield table


@contextmanager
def pass_queue(store: Store, config: AlertsConfig, now: datetime, found: last_pass.Pass) -> Iterator[str]:
    """The whole queue over a pass's detection (``found``, from :func:`last_pass.at`), its lifecycle at
    ``now``: the table the holder's readers share (``queue(shared=True)``), kept with the pass."""
    every = dict.fromkeys(("process", "system", "channel", "priority"), "")
    with _kept_queue(store, config, now, found, every) as table:
        yield table


def _window_of_pass(store: Store, config: AlertsConfig, now: datetime, since: datetime) -> str | None:
    """The exceptions of the transactions started since ``since`` (``sql/exceptions_found.sql``'s rows, as a
    detection of that window finds them), taken from the alert loop's last pass beside this reader: its kept
    snapshot and its detection, of the same time, usable at ``now`` (:func:`snapshots.last_pass_of`); the window
    is then as of the pass, at most two evaluation intervals old. A new table (the caller keeps or drops it),
    or None without such a pass."""
    with snapshots.last_pass_of(store, config, now) as held:
        if held is None:
            return None
        found = held.found
        with last_pass.derived(store, found, "found", None, lambda: _found_table(store, found.table)) as rows:
            query = Template(sql("exceptions_window")).substitute(kept=held.snapshot)
            parameters = {"db": store.database, "found": rows, "since": naive_utc(since)}
            return store.create_memory_table(query, parameters, "biztrace_found")


@contextmanager
def _kept_queue(
    store: Store, config: AlertsConfig, now: datetime, found: last_pass.Pass, filters: dict[str, str], *,
    since: datetime | None = None,
) -> Iterator[str]:  # fmt: skip
    """The queue over a kept detection (the loop's pass, or a reader's window), kept with it: its exceptions,
    and its queue for this version of the lifecycle (read before building it: last_pass.derived), patched
    from the one kept for an earlier version."""
    [version] = store.client.query(sql("lifecycle_version"), parameters={"db": store.database, "now": now}
                                   ).result_rows  # fmt: skip
    with (
        last_pass.derived(store, found, "found", None, lambda: _found_table(store, found.table)) as rows,
        last_pass.derived(
            store, found, ("queue", *filters.values()), version,
            lambda: _queue_table(store, config, now, rows, filters, since=since), at=now,
            patch=lambda kept: _patched(store, config, now, rows, filters, kept, version, since=since),
        ) as table,
    ):  # fmt: skip
        yield table


def prepare(store: Store, config: AlertsConfig, now: datetime) -> bool:
    """Build the whole queue over the pass just published at ``now`` and keep it with the pass (what
    the holder's API reads first: its page, list and export without filters), so no reader waits for
    it; the alert loop calls this after each pass. Whether there was such a pass: without one nothing
    is built (the queue would detect for itself, for no reader)."""
    with last_pass.shared(store, config, now) as found:
        if found is None:
            return False
        with pass_queue(store, config, now, found):
            return True


@contextmanager
def _dropped(store: Store, table: str) -> Iterator[str]:
    try:
        yield table
    finally:
        store.client.command(f"DROP TABLE IF EXISTS {store.table(table)}")


def _found_table(store: Store, detected: str) -> str:
    """A Memory table of ``sql/exceptions_found.sql``'s rows over ``detected`` (the caller drops it)."""
    return store.create_memory_table(*_found_statement(store, detected))


def _found_statement(store: Store, detected: str) -> tuple[str, dict, str]:
    """:func:`_found_table`'s statement, for :meth:`Store.create_memory_tables`."""
    return sql("exceptions_found"), {"db": store.database, "detected": detected}, "biztrace_found"


def _queue_table(
    store: Store, config: AlertsConfig, now: datetime, found: str, filters: dict[str, str], *,
    since: datetime | None = None, keys: list[str] | None = None,
) -> str:  # fmt: skip
    """A Memory table of ``sql/exceptions_queue.sql``'s rows over ``found`` (``sql/exceptions_found.sql``'s
    rows; the caller drops it)."""
    parameters = query_parameters(store, config, now, keys=keys, since=since) | {"found": found, "only": []} | filters
    with _lifecycle(store, parameters) as life:
        return store.create_memory_table(_over(_LIFE_TABLE), parameters | life, "biztrace_queue")


PATCH_KEYS = 10_000
"""At most this many keys' exceptions recomputed to patch a kept queue; more, and it is built whole."""


def _patched(
    store: Store, config: AlertsConfig, now: datetime, found: str, filters: dict[str, str],
    kept: last_pass.Derived, version: tuple[int, int, int], *, since: datetime | None = None,
) -> str | None:  # fmt: skip
    """The queue at ``version`` made from ``kept`` (the queue of an earlier version, built at ``kept.at``):
    its rows but those of the keys whose lifecycle changed since (``sql/lifecycle_changes.sql``),
    and theirs computed again. None when that cannot be trusted to equal a queue built whole: asked
    for an earlier time, a change recorded with a time before the kept queue's, too many keys."""
    if kept.at is None or now < kept.at or not isinstance(kept.version, tuple):
        return None
    changes = store.client.query(sql("lifecycle_changes"), parameters={"db": store.database, "built": kept.at,
                                                                       "now": now}).named_results()  # fmt: skip
    [changed] = list(changes)
    if (changed["actions"], changed["postponements"]) != (version[0] - kept.version[0], version[1] - kept.version[1]):
        return None
    keys = list(changed["keys"])
    if len(keys) > PATCH_KEYS:
        return None
    parameters = query_parameters(store, config, now, keys=keys or [""], since=since) | {
        "found": found, "only": keys or [""], "kept": kept.table} | filters  # fmt: skip
    query = (f"SELECT * FROM {{db:Identifier}}.{{kept:Identifier}} WHERE NOT has({{only:Array(String)}}, key) "
             f"UNION ALL SELECT * FROM ({_over(sql('lifecycle'))})")  # fmt: skip
    return store.create_memory_table(query, parameters, "biztrace_queue")


@contextmanager
def _lifecycle(store: Store, parameters: dict, columns: tuple[str, ...] = ()) -> Iterator[dict[str, str]]:
    """``sql/lifecycle.sql``'s rows in a Memory table while the block runs, for a statement that reads them
    more than once (a subquery is computed again at each reference); yields its parameter, ``life``.
    ``columns``: only these (ClickHouse then computes only the aggregates behind them); default all."""
    with store.memory_table(*_lifecycle_statement(parameters, columns)) as table:
        yield {"life": table}


def _lifecycle_statement(
    parameters: dict, columns: tuple[str, ...] = (), *, scoped: bool = False
) -> tuple[str, dict, str]:
    """:func:`_lifecycle`'s statement, for :meth:`Store.create_memory_tables`. ``scoped``: only the exceptions of
    the table ``{scope}`` (the condition reaches the events' primary key)."""
    query = sql("lifecycle")
    if columns or scoped:
        query = f"SELECT {', '.join(columns) or '*'} FROM ({query})" + (f" WHERE {_IN_SCOPE}" if scoped else "")
    return query, parameters, "biztrace_life"


_IN_SCOPE = "(process, key, kind) IN (SELECT process, key, kind FROM {db:Identifier}.{scope:Identifier})"
"""The condition that an exception is one of the table ``{scope}`` (``sql/exceptions_sync_scope.sql``)."""


_SYNC_READS = ("process", "key", "kind", "last_action", "resolve_at", "last_stage")
"""What ``sql/exceptions_sync.sql`` reads of the lifecycle (the whole one took twice as long to keep, 242k
exceptions: 0.19-0.25 s against 0.11-0.13)."""


_LIFE_TABLE = "SELECT * FROM {db:Identifier}.{life:Identifier}"
"""The lifecycle as read from the table :func:`_lifecycle` made."""


def _over(lifecycle: str, name: str = "exceptions_queue", **more: str) -> str:
    """The statement ``sql/<name>.sql`` reading the lifecycle from ``lifecycle`` (``sql/lifecycle.sql`` or
    :data:`_LIFE_TABLE`); ``more``: its other placeholders."""
    return Template(sql(name)).substitute(lifecycle=lifecycle, **more)


def _item(config: AlertsConfig, row: dict) -> ExceptionItem:
    row["detail"] = json.loads(row["detail"] or "{}")
    row["comments"] = [Comment(at=at, by=by, text=text) for at, by, text in row.get("comments") or []]
    return ExceptionItem(**row, runbook=config.runbook(row["kind"], row["process"]))


def _items(
    store: Store,
    config: AlertsConfig,
    table: str,
    now: datetime,
    *,
    states: list[str],
    kinds: list[str],
    stage: str | None = None,
    min_age_s: int | None = None,
    sort: str = "oldest first",
    limit: int = _EVERY_ROW,
    offset: int = 0,
    keyed: bool = False,
) -> list[ExceptionItem]:
    """The rows of the queue ``table`` in ``sort``'s order, their values filled (``keyed``: a few keys' queue,
    whose detection left its duplicates' and mismatches' priority and channel too: :func:`_with_values`)."""
    query = Template(sql("exceptions_list")).substitute(order=SORTS[sort])
    parameters = {"queue": table, "db": store.database, "now": now, "states": states, "kinds": kinds,
                  "stage": stage or "", "min_age_s": -_EVERY_ROW if min_age_s is None else min_age_s,
                  "limit": limit, "offset": offset}  # fmt: skip
    items = [_item(config, row) for row in store.client.query(query, parameters=parameters).named_results()]
    items = _with_values(store, config, now, items, context=keyed)
    # a whole list is sorted again once every value is in (a page keeps ClickHouse's order)
    return in_order(items, sort) if limit == _EVERY_ROW and offset == 0 else items


def _with_values(
    store: Store, config: AlertsConfig, now: datetime, items: list[ExceptionItem], *, context: bool = False
) -> list[ExceptionItem]:
    """Fill the value of exceptions whose transaction was not classified with them (a duplicate in a few keys'
    detection; a resolved one no longer detected) from the transaction itself; with ``context`` (a few keys'
    detection, which reads no classified transactions for its duplicates and mismatches), their priority
    and channel too. (A window's or the loop's detection has them: filling a transaction that has none
    would ask again for every such exception of the queue.)"""
    missing = sorted({item.key for item in items if item.amount is None
                      or (context and item.kind in ("duplicate", "mismatch") and not item.priority)})  # fmt: skip
    if not missing:
        return items
    found = {(tx.process, tx.key): tx for tx in transactions(store, config, now, keys=missing)}
    for item in items:
        tx = found.get((item.process, item.key))
        if tx is None:
            continue
        if item.amount is None:
            item.amount, item.currency = tx.amount, tx.currency
        item.priority, item.channel = item.priority or tx.priority, item.channel or tx.channel
    return items


def detect(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    keys: list[str] | None = None,
    started_since: datetime | None = None,
    known: list[Transaction] | None = None,
) -> list[ExceptionItem]:
    """Exceptions as the stored spans show them at ``now``, one per problem and no lifecycle applied
    (``sql/exceptions_detected.sql`` and the mismatches), optionally only of transactions started
    since ``started_since``. ``known`` is accepted for callers that hold these keys' transactions;
    the query narrows itself by ``keys``."""
    with _detected(store, config, now, since=started_since, keys=keys) as found:
        query = (f"SELECT *, dateDiff('second', since, {{now:DateTime64(9)}}) AS age_s FROM {store.table(found)} "
                 "ORDER BY since, process, key, kind")  # fmt: skip
        items = [_item(config, row) for row in store.client.query(query, parameters={"now": now}).named_results()]
    return _with_values(store, config, now, items, context=True) if keys else items


def list_exceptions(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    filters: Filters | None = None,
    since: datetime | None = None,
    known: list[Transaction] | None = None,
    shared: bool = False,
    keys: list[str] | None = None,
    sort: str = "oldest first",
) -> list[ExceptionItem]:
    """The exception queue at ``now`` (:func:`queue`, ``shared`` as there), filtered, in ``sort``'s order
    (one of :data:`SORTS`; oldest problem first by default).

    Without ``filters.state``, ``filters.key`` or ``keys`` the resolved exceptions are left out. ``since``
    limits the queue to transactions started since then (the dashboard's window). ``keys``: the
    exceptions of these transaction keys (instead of ``filters.key``'s), found in one detection (the
    order page asks for every transaction of its key's tree at once). ``known`` is accepted
    for callers that hold the key's transactions; the query narrows itself by the key.
    """
    filters = filters or Filters()
    keys = keys or ([filters.key] if filters.key else None)
    states = [filters.state] if filters.state else ([] if keys else ["open", "acknowledged"])
    with queue(store, config, now, since=since, keys=keys, process=filters.process, system=filters.system,
               channel=None if keys else filters.channel, priority=None if keys else filters.priority,
               shared=shared) as table:  # fmt: skip
        items = _items(store, config, table, now, states=states, kinds=[filters.kind] if filters.kind else [],
                       stage=filters.stage, min_age_s=filters.min_age_s, sort=sort, keyed=bool(keys))  # fmt: skip
    if not keys:
        return items
    # a few keys' detection fills its duplicates' and mismatches' priority and channel after ClickHouse
    # listed them (_with_values): those two filters apply once they are in
    return [item for item in items if (not filters.channel or item.channel == filters.channel)
            and (not filters.priority or item.priority == filters.priority)]  # fmt: skip


def queue_page(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    since: datetime | None = None,
    process: str | None = None,
    system: str | None = None,
    channel: str | None = None,
    priority: str | None = None,
    states: tuple[str, ...] = ("open", "acknowledged"),
    kinds: tuple[str, ...] = (),
    sort: str = "oldest first",
    page: int = 0,
    page_size: int = 50,
    shared: bool = False,
    keep: bool = False,
) -> QueuePage:
    """One page of :func:`queue` (the dashboard's), the whole queue's totals per process, kind and
    state, and the time to resolve its resolved exceptions (``sql/exceptions_resolution.sql``). Only
    the page's rows and the totals come back from ClickHouse. ``shared``, ``keep``: as :func:`queue`'s.

    Raises:
        ValueError: an unknown sort.
    """
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}: one of {', '.join(SORTS)}")
    with queue(store, config, now, since=since, process=process, system=system, channel=channel,
               priority=priority, shared=shared, keep=keep) as table:  # fmt: skip
        parameters = {"queue": table, "db": store.database}
        counts = _counts(store, parameters)
        [resolution] = store.client.query(sql("exceptions_resolution"), parameters=parameters).named_results()
        items = _items(store, config, table, now, states=list(states), kinds=list(kinds), sort=sort,
                       limit=page_size, offset=max(page, 0) * page_size)  # fmt: skip
    matching = sum(c.exceptions for c in counts if (not states or c.state in states) and (not kinds or c.kind in kinds))
    return QueuePage(counts=counts, matching=matching, resolved=int(resolution["resolved"]),
                     median_resolution_s=_number(resolution["median_s"]), p90_resolution_s=_number(resolution["p90_s"]),
                     items=items)  # fmt: skip


def totals(
    store: Store, config: AlertsConfig, now: datetime, *, shared: bool = False
) -> tuple[list[KindCount], list[StuckNow]]:
    """The whole queue at ``now`` (:func:`queue`, ``shared`` as there) counted in ClickHouse: per process,
    kind and state (``sql/exceptions_counts.sql``, the page's totals), and per process its stuck
    transactions and the age of the oldest SLA breach (``sql/exceptions_stuck.sql``)."""
    with queue(store, config, now, shared=shared) as table:
        parameters = {"queue": table, "db": store.database, "now": now}
        stuck = [StuckNow(**row) for row in store.client.query(sql("exceptions_stuck"), parameters=parameters)
                 .named_results()]  # fmt: skip
        return _counts(store, parameters), stuck


def _counts(store: Store, parameters: dict) -> list[KindCount]:
    """``sql/exceptions_counts.sql`` over the queue table of ``parameters``."""
    return [KindCount(**row) for row in store.client.query(sql("exceptions_counts"), parameters=parameters)
            .named_results()]  # fmt: skip


def _number(value: object) -> float | None:
    return None if value is None or value != value else float(value)  # type: ignore[arg-type]


def record(store: Store, rows: list[tuple[datetime, str, str, str, str, str, str, str, str]]) -> None:
    """Append lifecycle events: (at, process, key, kind, stage, action, actor, assignee, note)."""
    if rows:
        store.client.insert(
            schema.EXCEPTION_EVENTS,
            [list(row) for row in rows],
            column_names=["At", "Process", "Key", "Kind", "Stage", "Action", "Actor", "Assignee", "Note"],
            database=store.database,
        )


def act(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    key: str,
    action: Action,
    actor: str,
    kind: str | None = None,
    process: str | None = None,
    assignee: str = "",
    note: str = "",
    until: datetime | None = None,
) -> list[ExceptionItem]:
    """Acknowledge, assign, comment, postpone (until ``until``), unpostpone or resolve the exceptions
    of ``key`` (narrowed by kind/process). A comment (its text in ``note``) goes on every matching
    exception, resolved ones too; a postponement only on unresolved ones.

    Raises:
        NotFound: no exception matches (no open one; for unpostpone, no postponed one).
        ValueError: refused: an empty or too long comment, a postponement without a time to come,
            or of an exception that is resolved.
    """
    stamp = now.replace(tzinfo=None)
    if action == "comment":
        note = note.strip()
        if not note:
            raise ValueError("a comment needs some text")
        if len(note) > MAX_COMMENT:
            raise ValueError(f"a comment is at most {MAX_COMMENT} characters (this one has {len(note)})")
    if action == "postpone" and (until is None or until.replace(tzinfo=None) <= stamp):
        shown = "no time" if until is None else f"{until:%Y-%m-%d %H:%M:%S} UTC"
        raise ValueError(f"postpone until {shown}: the time must be after now ({stamp:%Y-%m-%d %H:%M:%S} UTC)")
    current = list_exceptions(store, config, now, Filters(key=key, kind=kind, process=process))
    what = " ".join(part for part in (process, kind) if part)
    if action == "comment" or action == "reopen":
        targets = current
    elif action == "unpostpone":
        targets = [item for item in current if item.state == "postponed"]
        if current and not targets:
            raise NotFound(f"no postponed {what + ' ' if what else ''}exception for {key!r}")
    else:
        targets = [item for item in current if item.state != "resolved"]
        if current and not targets and action == "postpone":
            raise ValueError(f"the {what + ' ' if what else ''}exception of {key!r} is resolved: "
                             "a resolved exception cannot be postponed")  # fmt: skip
    if not targets:
        raise NotFound(f"no open {what + ' ' if what else ''}exception for {key!r}")
    rows, postponements = [], []
    for item in targets:
        if item.opened_at is not None and not _has_open(store, item):
            rows.append((item.opened_at.replace(tzinfo=None), item.process, item.key, item.kind, item.stage, "open",
                         SYSTEM_ACTOR, "", ""))  # fmt: skip
        if action in ("postpone", "unpostpone"):  # an un-postponement ends it: until epoch 0, whenever read
            ends = until.replace(tzinfo=None) if action == "postpone" and until else datetime(1970, 1, 1)
            postponements.append([stamp, item.process, item.key, item.kind, ends, actor, note])
        else:
            rows.append((stamp, item.process, item.key, item.kind, item.stage, action, actor, assignee, note))
    record(store, rows)
    if postponements:
        store.client.insert(schema.POSTPONEMENTS, postponements, database=store.database,
                            column_names=["At", "Process", "Key", "Kind", "Until", "Actor", "Note"])  # fmt: skip
    return list_exceptions(store, config, now + timedelta(microseconds=1), Filters(key=key, kind=kind, process=process))


def _has_open(store: Store, item: ExceptionItem) -> bool:
    return bool(store.client.command(
        f"SELECT count() FROM {store.table(schema.EXCEPTION_EVENTS)} "
        "WHERE Process = {p:String} AND Key = {k:String} AND Kind = {kind:String} AND Action = 'open'",
        parameters={"p": item.process, "k": item.key, "kind": item.kind},
    ))  # fmt: skip


_RECOMPUTED = ("duplicate", "mismatch")
"""The kinds found from hops rather than from the snapshot: a pass that builds on the previous one
finds them again only for the transactions that changed."""


def with_mismatches(
    store: Store, config: AlertsConfig, judged: reconcile.Judging, detection: tuple[str, dict, str], values: str,
    pairs: dict[str, str] | None = None,
) -> str:  # fmt: skip
    """A Memory table of ``detection`` (``sql/exceptions_detected.sql``'s statement) with the mismatches of
    ``judged`` appended: the detection built beside each rule's judging (statements planned on one core
    each), then the flagged pairs made findings in ClickHouse (:func:`reconcile.insert_flagged`; no finding
    through Python; each takes its transaction's priority and channel from ``values``, the detection's
    classified transactions). The caller drops the table. ``pairs``: every pair each rule judged is kept as
    well (:attr:`reconcile.Judging.kept_statements`), a table per rule judged, by its name, which the
    caller then owns."""
    statements = judged.statements if pairs is None else judged.kept_statements
    detected, *made = store.create_memory_tables([detection, *statements])
    flagged = made if pairs is None else []
    try:
        if pairs is not None:
            flagged = [reconcile.flagged_of(store, table) for table in made]
        reconcile.insert_flagged(store, config, judged, flagged, detected, values)
    except BaseException:
        for table in [detected, *made]:
            store.client.command(f"DROP TABLE IF EXISTS {store.table(table)}")
        raise
    finally:
        for table in flagged:
            store.client.command(f"DROP TABLE IF EXISTS {store.table(table)}")
    if pairs is not None:
        pairs.update({check.name: table for (check, _), table in zip(judged.seen, made, strict=True)})
    return detected


def _detected_since(
    store: Store, config: AlertsConfig, now: datetime, classified: str, changed: list[str], previous_now: datetime
) -> tuple[str, last_pass.KeptPairs] | None:
    """What ``sql/exceptions_detected.sql`` and the mismatches find at ``now``, built on the pass at
    ``previous_now``: the stuck, failed and dead-lettered transactions of ``classified`` (the snapshot,
    up to date); the duplicates and mismatches of ``changed`` and of the transactions whose
    reconciliation the clock changed, found again; every other transaction's, the previous pass's
    (its hops did not change). A Memory table (the caller drops it), or None when the previous
    pass's detection is not at hand (the caller detects everything). With it, every pair of each
    reconciliation rule (:attr:`reconcile.Judging.kept_statements`) built the same way on the previous
    pass's (:class:`last_pass.KeptPairs`: its tables but the carried ones the caller owns as well)."""
    with last_pass.at(store, config, previous_now) as previous:
        before = last_pass.kept_pairs(previous) if previous is not None else None
        if before is None or set(before.base) != {check.name for check in config.reconciliation}:
            return None
        changed_keys = sorted(set(changed) | set(reconcile.due_keys(store, config, previous_now, now)))
        # every key of their trees: a new link (a shipment's hop naming its order) changes what the pairs
        # of the tree's other keys resolve to (an invoice's pair that no transaction owned before)
        keys = key_tree(store, changed_keys, config) if changed_keys else []
        # '' is no transaction's key: with nothing changed, nothing is found again (an empty list means every key)
        asked = keys or [""]
        # their hops placed once (transactions.hops_scope): the detection and each rule's judging read a table of a
        # few thousand rows instead of each planning business_hops.sql (most of each statement's time)
        with hops_scope(store, config, asked, asked) as scope:
            parameters = query_parameters(store, config, now, keys=asked)
            parameters |= {"process": "", "tree": asked, "scope": scope}
            fresh_pairs: dict[str, str] = {}
            with reconcile.judging(store, config, now, keys=asked, tree=asked, scope=scope) as judged:
                fresh = with_mismatches(store, config, judged, (detected_sql(classified, config, keys="scoped"),
                                                                parameters, "biztrace_fresh"), classified,
                                        pairs=fresh_pairs)  # fmt: skip
        listed = store.create_columns_table({"key": "String"}, prefix="biztrace_changed")
        detected = None
        try:
            if keys:
                store.client.insert(listed, [keys], column_names=["key"], database=store.database, column_oriented=True)
            # a finding no transaction owns yet (a reconciliation pair, key '') goes by its match key
            again = (f"if(key != '', key, JSONExtractString(detail, 'match_key')) "
                     f"IN (SELECT key FROM {store.table(listed)})")  # fmt: skip
            detected = store.create_memory_table(
                f"SELECT * FROM {store.table(fresh)} WHERE kind NOT IN {_RECOMPUTED} OR {again} "
                f"UNION ALL SELECT * FROM {store.table(previous.table)} WHERE kind IN {_RECOMPUTED} AND NOT {again}",
                prefix="biztrace_detected",
            )  # fmt: skip
            # each rule's pairs: the previous pass's but those of the trees judged again, and theirs
            return detected, reconcile.kept_after(store, before, listed, fresh_pairs)
        except BaseException:
            if detected is not None:
                store.client.command(f"DROP TABLE IF EXISTS {store.table(detected)}")
            raise
        finally:
            for table in (fresh, listed, *fresh_pairs.values()):
                store.client.command(f"DROP TABLE IF EXISTS {store.table(table)}")


def _sync_scope(
    store: Store, config: AlertsConfig, found: str, previous_now: datetime | None, stored_since: datetime
) -> str | None:
    """A Memory table of the exceptions whose bookkeeping may change (``sql/exceptions_sync_scope.sql``), ``found``
    the exceptions found now; None when the previous pass's exceptions are not at hand (every one is compared)."""
    with last_pass.at(store, config, previous_now) if previous_now is not None else nullcontext() as previous:
        if previous is None:
            return None
        with last_pass.derived(store, previous, "found", None, lambda: _found_table(store, previous.table)) as before:
            parameters = {"db": store.database, "found": found, "previous": before, "stored_since": stored_since,
                          "system_actor": SYSTEM_ACTOR}  # fmt: skip
            return store.create_memory_table(sql("exceptions_sync_scope"), parameters, "biztrace_sync_scope")


def sync(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    classified: str | None = None,
    *,
    changed: list[str] | None = None,
    previous_now: datetime | None = None,
    stored_since: datetime | None = None,
) -> dict[str, int]:
    """The loop's bookkeeping: record opens, reopens, and automatic resolves; counts per action.

    Done in ClickHouse (``sql/exceptions_sync.sql``): the exceptions detected now
    (``sql/exceptions_found.sql``) are compared with the stored lifecycle there, and only the counts
    come back. The detection and those exceptions are then published for the readers of this
    process (``last_pass.py``). ``classified``: the pass's snapshot table (``alerts.rules.snapshot``),
    so transactions are not classified twice.

    ``changed`` and ``previous_now`` (a snapshot brought up to date, :mod:`snapshots`): only the
    transactions of ``changed`` have new hops since the pass at ``previous_now``. Their duplicates
    and mismatches are found again, with those whose reconciliation the clock changed
    (:func:`reconcile.due_keys`); every other transaction's are the previous pass's
    (:func:`_detected_since`). Without the previous pass's detection, everything is detected again.
    ``stored_since`` (that pass's watermark, the server's clock): built on it, only the exceptions the two
    passes' detections disagree on, or a person acted on since, are compared with their stored lifecycle
    (``sql/exceptions_sync_scope.sql``; every other one would have no event).
    """
    if classified is None:  # every transaction classified once, in a table (the detection reads it twice)
        with rules.snapshot(store, config, now) as snapshot:
            return sync(store, config, now, snapshot, changed=changed, previous_now=previous_now,
                        stored_since=stored_since)  # fmt: skip
    parameters = query_parameters(store, config, now) | {"process": ""}
    built = None
    if changed is not None and previous_now is not None:
        built = _detected_since(store, config, now, classified, changed, previous_now)
    if built is None:  # everything: the detection and each reconciliation rule's judging side by side
        base: dict[str, str] = {}
        with reconcile.judging(store, config, now) as judged:
            detection = (detected_sql(classified, config, keys=False), parameters, "biztrace_detected")
            detected = with_mismatches(store, config, judged, detection, classified, pairs=base)
        try:
            pairs = reconcile.kept_full(store, config, base)
        except BaseException:
            for table in (detected, *base.values()):
                store.client.command(f"DROP TABLE IF EXISTS {store.table(table)}")
            raise
    else:
        detected, pairs = built
    # the pairs carried over from the previous pass (KeptPairs.base) are that pass's until published below
    owned = [table for table in pairs.named().values() if built is None or table not in pairs.base.values()]
    found = scope = None
    try:
        if built is not None and stored_since is not None:
            # the exceptions found (kept with the pass below: the queue its readers build reads them), then only
            # those this pass and the previous one disagree on, or a person acted on since, compared with their
            # stored lifecycle: the bookkeeping's cost follows what changed, not every exception ever recorded
            found = store.create_memory_table(*_found_statement(store, detected))
            scope = _sync_scope(store, config, found, previous_now, stored_since)
        if found is None:  # every exception: found and the stored lifecycle side by side (neither reads the other)
            found, life = store.create_memory_tables([_found_statement(store, detected),
                                                      _lifecycle_statement(parameters, _SYNC_READS)])  # fmt: skip
        else:  # the lifecycle of the scope's exceptions (of every one without the previous pass's at hand)
            parameters |= {"scope": scope} if scope is not None else {}
            life = store.create_memory_table(*_lifecycle_statement(parameters, _SYNC_READS, scoped=scope is not None))
        statement = _over(_LIFE_TABLE, "exceptions_sync", in_scope=_IN_SCOPE if scope is not None else "true")
        with (
            _dropped(store, life),
            store.memory_table(statement, parameters | {"life": life, "found": found}, "biztrace_sync") as events,
        ):
            rows = store.table(events)
            store.client.command(
                f"INSERT INTO {store.table(schema.EXCEPTION_EVENTS)} (At, Process, Key, Kind, Stage, Action, Actor, "
                f"Assignee, Note, System, Priority, Channel) SELECT At, Process, Key, Kind, Stage, Action, "
                f"{{actor:String}}, '', Note, System, Priority, Channel FROM {rows}",
                parameters={"actor": SYSTEM_ACTOR},
            )  # fmt: skip
            counted = store.client.query(f"SELECT Action, count() FROM {rows} GROUP BY Action").result_rows
    except BaseException:
        for table in (detected, found, *owned):
            if table is not None:
                store.client.command(f"DROP TABLE IF EXISTS {store.table(table)}")
        raise
    finally:
        if scope is not None:
            store.client.command(f"DROP TABLE IF EXISTS {store.table(scope)}")
    # the readers of this process share them (last_pass.py): the detection, its exceptions, and every
    # reconciliation pair (the next pass builds on them, a report at the pass's time reads them)
    last_pass.publish(store, config, now, detected, derived={"found": found} | pairs.named())
    return {action: int(count) for action, count in counted}
