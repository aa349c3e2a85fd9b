"""Exception queues: every transaction in trouble, with its lifecycle.

Detection is a query, not a job: :func:`detect` asks ClickHouse at the moment it is called,
so the list is current whether or not the alert loop ever ran. People's actions
(acknowledge, assign, resolve) and the loop's bookkeeping (open, reopen, automatic resolve)
are rows in ``biztrace_exception_events``; the state shown is derived from them:

* ``open``: detected, nobody acted yet (or the problem came back after a resolve);
* ``acknowledged``: detected, somebody took it;
* ``resolved``: resolved by a person, or no longer detected.

An exception is identified by (process, key, kind).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from string import Template
from typing import Literal

from pydantic import BaseModel, Field

from biztrace.config import AlertsConfig
from biztrace.readmodel import reconcile, rules
from biztrace.readmodel.errors import NotFound
from biztrace.readmodel.transactions import Transaction, query_parameters, sql, transactions
from biztrace.store import Store, schema

ExceptionState = Literal["open", "acknowledged", "resolved"]
Action = Literal["open", "acknowledge", "assign", "resolve", "reopen"]
SYSTEM_ACTOR = "biztrace"


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
    detected: bool = Field(True, description="false for a resolved exception no longer detected")
    state: ExceptionState = "open"
    opened_at: datetime | None = None
    acknowledged_by: str = ""
    assignee: str = ""
    resolved_by: str = ""
    resolved_at: datetime | None = None
    resolution_s: float | None = Field(None, description="resolved_at - opened_at: the resolution-time KPI")
    note: str = ""
    runbook: str = ""

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.process, self.key, self.kind)


class Filters(BaseModel):
    """What ``biztrace exceptions`` narrows the queue by."""

    process: str | None = None
    kind: str | None = None
    stage: str | None = None
    system: str | None = None
    state: ExceptionState | None = None
    min_age_s: int | None = None
    key: str | None = None


def detect(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    keys: list[str] | None = None,
    started_since: datetime | None = None,
    known: list[Transaction] | None = None,
) -> list[ExceptionItem]:
    """Exceptions as the stored spans show them at ``now`` (no lifecycle), optionally only of
    transactions started since ``started_since``. ``known``: these keys' transactions, already
    classified at ``now`` by the caller (the order page), so they are not classified twice and
    only their processes' reconciliation rules run."""
    found: list[ExceptionItem] = []
    trouble = ("stuck", "failed", "dead_letter")
    if known is not None:
        troubled = [t for t in known if t.state in trouble and (keys is None or t.key in keys)]
    else:
        troubled = transactions(store, config, now, keys=keys, states=list(trouble), since=started_since)
    for tx in troubled:
        if tx.state == "stuck":
            assert tx.due_at is not None
            since, stage = tx.due_at, tx.current_stage
            system = tx.next_system or tx.last_system
            detail = {"next_stage": tx.next_stage, "due_at": tx.due_at.isoformat(), "stage_reached_at":
                      tx.current_stage_at.isoformat()}  # fmt: skip
            evidence = [tx.last_span]
        else:
            assert tx.trouble_at is not None
            since, stage, system = tx.trouble_at, tx.trouble_stage or tx.current_stage, tx.trouble_system
            detail = {"error_type": tx.error_type} if tx.state == "failed" else {}
            evidence = [tx.trouble_span]
        found.append(ExceptionItem(
            process=tx.process, key=tx.key, kind=tx.state, stage=stage, system=system, since=since,
            age_s=int((now.replace(tzinfo=None) - since).total_seconds()), evidence=evidence, detail=detail,
            priority=tx.priority, channel=tx.channel, runbook=config.runbook(tx.state, tx.process),
        ))  # fmt: skip
    processes = sorted({t.process for t in known}) if known is not None else [None]
    mismatches = [
        m for process in processes
        for m in reconcile.mismatches(store, config, now, keys=keys, since=started_since, process=process)
    ]  # fmt: skip
    for mismatch in mismatches:
        found.append(ExceptionItem(
            process=mismatch.process, key=mismatch.key, kind="mismatch", stage=mismatch.stage,
            system=mismatch.system_at_fault,
            since=mismatch.since, age_s=int((now.replace(tzinfo=None) - mismatch.since).total_seconds()),
            evidence=mismatch.evidence, runbook=config.runbook("mismatch", mismatch.process),
            detail={"rule": mismatch.rule, "field": mismatch.field, "match_key": mismatch.match_key,
                    "left": mismatch.left, "right": mismatch.right, "currency": mismatch.currency},
        ))  # fmt: skip
    parameters = query_parameters(store, config, now, keys=keys, since=started_since)
    for row in store.client.query(sql("duplicates"), parameters=parameters).named_results():
        found.append(ExceptionItem(
            process=row["process"], key=row["key"], kind="duplicate", stage=row["stage"], system=row["system"],
            since=row["last_at"], age_s=int((now.replace(tzinfo=None) - row["last_at"]).total_seconds()),
            evidence=list(row["span_ids"]), detail={"event_id": row["event_id"], "deliveries": row["deliveries"]},
            runbook=config.runbook("duplicate", row["process"]),
        ))  # fmt: skip
    return found


class _Lifecycle(BaseModel):
    last_action: str
    last_action_at: datetime
    stage: str
    opened_at: datetime | None
    acknowledged_by: str
    assignee: str
    resolved_by: str
    resolved_at: datetime | None
    note: str


def _lifecycles(store: Store, keys: list[str] | None = None) -> dict[tuple[str, str, str], _Lifecycle]:
    rows = store.client.query(
        sql("lifecycle"), parameters={"db": store.database, "keys": keys or [], "process": ""}
    ).named_results()
    result = {}
    epoch = datetime(1970, 1, 1)
    for row in rows:
        result[(row["process"], row["key"], row["kind"])] = _Lifecycle(
            last_action=row["last_action"] or "open",
            last_action_at=row["last_action_at"],
            stage=row["last_stage"],
            opened_at=row["first_open"] if row["opens"] else None,
            acknowledged_by=row["acknowledged_by"],
            assignee=row["assignee"],
            resolved_by=row["resolver"],
            resolved_at=row["resolve_at"] if row["resolve_at"] > epoch else None,
            note=row["note"],
        )
    return result


def _apply(item: ExceptionItem, life: _Lifecycle | None) -> ExceptionItem:
    if life is None:
        item.opened_at = item.since
        return item
    item.opened_at = life.opened_at or item.since
    item.acknowledged_by = life.acknowledged_by
    item.assignee = life.assignee
    item.resolved_by = life.resolved_by
    item.note = life.note
    if life.last_action == "resolve" and life.resolved_at is not None:
        returned = item.detected and item.since.replace(tzinfo=None) > life.resolved_at
        if returned:
            item.state = "open"  # the problem came back after the resolve: reopened
        else:
            item.state = "resolved"
            item.resolved_at = life.resolved_at
    elif life.last_action == "acknowledge":
        item.state = "acknowledged"
    else:
        item.state = "open"
    if item.resolved_at and item.opened_at:
        item.resolution_s = (item.resolved_at - item.opened_at.replace(tzinfo=None)).total_seconds()
    return item


def list_exceptions(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    filters: Filters | None = None,
    since: datetime | None = None,
    known: list[Transaction] | None = None,
) -> list[ExceptionItem]:
    """The exception queue at ``now``, lifecycle applied, filtered; oldest problem first.

    ``since`` limits detection to transactions started since then (the dashboard's window).
    """
    filters = filters or Filters()
    keys = [filters.key] if filters.key else None
    detected = detect(store, config, now, keys, since, known)
    lifecycles = _lifecycles(store, keys)
    items = {item.identity: _apply(item, lifecycles.get(item.identity)) for item in detected}
    for identity, life in lifecycles.items():  # resolved, and no longer detected
        if identity in items or life.opened_at is None:
            continue
        process, key, kind = identity
        resolved_at = life.resolved_at or life.last_action_at
        item = ExceptionItem(
            process=process, key=key, kind=kind, stage=life.stage, system="", since=life.opened_at,
            age_s=int((now.replace(tzinfo=None) - life.opened_at).total_seconds()), evidence=[], detected=False,
            state="resolved", opened_at=life.opened_at, acknowledged_by=life.acknowledged_by, assignee=life.assignee,
            resolved_by=life.resolved_by or SYSTEM_ACTOR, resolved_at=resolved_at, note=life.note,
            resolution_s=(resolved_at - life.opened_at).total_seconds(), runbook=config.runbook(kind, process),
        )  # fmt: skip
        items[identity] = item
    selected = [item for item in items.values() if _matches(item, filters)]
    return sorted(selected, key=lambda item: (item.since.replace(tzinfo=None), item.process, item.key, item.kind))


def _matches(item: ExceptionItem, f: Filters) -> bool:
    return (
        (f.process is None or item.process == f.process)
        and (f.kind is None or item.kind == f.kind)
        and (f.stage is None or item.stage == f.stage)
        and (f.system is None or item.system == f.system)
        and (f.state is None or item.state == f.state)
        and (f.min_age_s is None or item.age_s >= f.min_age_s)
        and (f.state is not None or f.key is not None or item.state != "resolved")  # the queue hides resolved
    )


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
) -> list[ExceptionItem]:
    """Acknowledge, assign or resolve the exceptions of ``key`` (narrowed by kind/process).

    Raises:
        NotFound: no open or acknowledged exception matches.
    """
    current = list_exceptions(store, config, now, Filters(key=key, kind=kind, process=process))
    targets = [item for item in current if item.state != "resolved" or action == "reopen"]
    if not targets:
        what = " ".join(part for part in (process, kind) if part)
        raise NotFound(f"no open {what + ' ' if what else ''}exception for {key!r}")
    stamp = now.replace(tzinfo=None)
    rows = []
    for item in targets:
        if item.opened_at is not None and not _has_open(store, item):
            rows.append((item.opened_at.replace(tzinfo=None), item.process, item.key, item.kind, item.stage, "open",
                         SYSTEM_ACTOR, "", ""))  # fmt: skip
        rows.append((stamp, item.process, item.key, item.kind, item.stage, action, actor, assignee, note))
    record(store, rows)
    return list_exceptions(store, config, now + timedelta(microseconds=1), Filters(key=key, kind=kind, process=process))


def _has_open(store: Store, item: ExceptionItem) -> bool:
    return bool(store.client.command(
        f"SELECT count() FROM {store.table(schema.EXCEPTION_EVENTS)} "
        "WHERE Process = {p:String} AND Key = {k:String} AND Kind = {kind:String} AND Action = 'open'",
        parameters={"p": item.process, "k": item.key, "kind": item.kind},
    ))  # fmt: skip


def detected_sql(classified: str) -> str:
    """``sql/exceptions_detected.sql`` over ``classified``: a table or subquery shaped like ``sql/snapshot.sql``."""
    return Template(sql("exceptions_detected")).substitute(classified=classified, duplicates=sql("duplicates"))


def add_mismatches(store: Store, table: str, mismatches: list[reconcile.Mismatch]) -> None:
    """Append reconciliation mismatches to a table (by name) of ``sql/exceptions_detected.sql``'s shape."""
    if not mismatches:
        return
    rows = [[m.process, m.key, "mismatch", m.stage, m.system_at_fault, m.since, "", m.channel] for m in mismatches]
    store.client.insert(table, rows, column_names=["process", "key", "kind", "stage", "system", "since", "priority",
                                                   "channel"], database=store.database)  # fmt: skip


def sync(store: Store, config: AlertsConfig, now: datetime, classified: str | None = None) -> dict[str, int]:
    """The loop's bookkeeping: record opens, reopens, and automatic resolves; counts per action.

    Done in ClickHouse (``sql/exceptions_sync.sql``): the exceptions detected now are compared
    with the stored lifecycle there, and only the counts come back. ``classified``: the pass's
    snapshot table (``alerts.rules.snapshot``), so transactions are not classified twice.
    """
    parameters = query_parameters(store, config, now) | {"process": ""}
    classified = classified or f"({rules.snapshot_sql()})"
    with store.memory_table(detected_sql(classified), parameters, "biztrace_detected") as found:
        add_mismatches(store, found, reconcile.mismatches(store, config, now))
        parameters["detected"] = found
        events_sql = Template(sql("exceptions_sync")).substitute(lifecycle=sql("lifecycle"))
        with store.memory_table(events_sql, parameters, "biztrace_sync") as events:
            rows = store.table(events)
            store.client.command(
                f"INSERT INTO {store.table(schema.EXCEPTION_EVENTS)} (At, Process, Key, Kind, Stage, Action, Actor, "
                f"Assignee, Note) SELECT At, Process, Key, Kind, Stage, Action, {{actor:String}}, '', Note FROM {rows}",
                parameters={"actor": SYSTEM_ACTOR},
            )  # fmt: skip
            counted = store.client.query(f"SELECT Action, count() FROM {rows} GROUP BY Action").result_rows
    return {action: int(count) for action, count in counted}
