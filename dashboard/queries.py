"""What each page asks ClickHouse, as DataFrames and models; SQL in ``dashboard/sql``.

The transaction figures (states, SLA adherence, trends, the process map) all read one
snapshot: the transactions started in the selected window, classified once by the alerts'
own query (``readmodel/sql/transactions.sql``) into a Memory table, so the dashboard and the
alert loop never disagree about what "stuck" means.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from importlib import resources
from string import Template
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from biztrace.config import AlertsConfig
from biztrace.dashboard import data
from biztrace.readmodel import alert_store, reconcile
from biztrace.readmodel import exceptions as alert_exceptions
from biztrace.readmodel import rules as alert_rules
from biztrace.readmodel.lookup import KeyHistory, key_history
from biztrace.readmodel.transactions import Transaction, query_parameters, transactions
from biztrace.readmodel.transactions import sql as alerts_sql

_SQL = resources.files("biztrace.dashboard") / "sql"

Window = Literal["1h", "6h", "24h", "7d", "30d", "90d"]
WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}


def sql(name: str) -> str:
    return (_SQL / f"{name}.sql").read_text()


class Filters(BaseModel):
    """The filters every page shares; empty means all."""

    model_config = ConfigDict(frozen=True)

    window: Window = "24h"
    process: str = ""
    channel: str = ""
    system: str = ""
    priority: str = ""

    def since(self, now: datetime) -> datetime:
        return now - WINDOWS[self.window]

    def bucket_s(self) -> int:
        """Trend bucket: about 24–48 points whatever the window."""
        return {"1h": 300, "6h": 900, "24h": 3600, "7d": 6 * 3600, "30d": 86400, "90d": 86400}[self.window]


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _config_for(config: AlertsConfig, process: str) -> AlertsConfig:
    """The configuration narrowed to one process, so the classification reads only its hops."""
    if not process or process not in config.processes:
        return config
    return config.model_copy(update={"processes": {process: config.processes[process]}})


def _stage_sla_parameters(config: AlertsConfig) -> dict[str, list[Any]]:
    """Per-stage SLAs keyed by ``process|stage`` (and ``|priority``, ``|channel``) for ``sla.sql``."""
    p: dict[str, list[Any]] = {
        key: []
        for key in (
            "stage_keys",
            "stage_sla_s",
            "stage_since_start",
            "priority_keys",
            "priority_sla_s",
            "channel_keys",
            "channel_sla_s",
        )
    }
    for name, process in config.processes.items():
        for stage in process.stages:
            if stage.sla is None:
                continue
            key = f"{name}|{stage.name}"
            p["stage_keys"].append(key)
            p["stage_sla_s"].append(stage.sla.within.total_seconds())
            p["stage_since_start"].append(1 if stage.sla.since == "start" else 0)
            for priority, within in stage.sla.by_priority.items():
                p["priority_keys"].append(f"{key}|{priority}")
                p["priority_sla_s"].append(within.total_seconds())
            for channel, within in stage.sla.by_channel.items():
                p["channel_keys"].append(f"{key}|{channel}")
                p["channel_sla_s"].append(within.total_seconds())
    return p


@contextmanager
def _memory_table(query: str, parameters: dict[str, Any]) -> Iterator[str]:
    """:meth:`Store.memory_table`, its creation and its drop counted as query time; yields ``database.name``."""
    store = data.store()
    started = _clock()
    try:
        with store.memory_table(query, parameters, "biztrace_dash") as name:
            data.add_query_time(_clock() - started)
            try:
                yield f"{store.database}.{name}"
            finally:
                started = _clock()  # from here on: the drop
    finally:
        data.add_query_time(_clock() - started)


@contextmanager
def snapshot(config: AlertsConfig, filters: Filters, at: datetime) -> Iterator[str]:
    """A Memory table of the window's transactions, dropped on exit; yields its name."""
    scoped = _config_for(config, filters.process)
    parameters = query_parameters(data.store(), scoped, at, since=filters.since(at))
    parameters.update(channel=filters.channel, priority=filters.priority)
    query = Template(sql("snapshot")).substitute(transactions=alerts_sql("transactions"))
    with _memory_table(query, parameters) as table:
        yield table


def _clock() -> float:
    import time

    return time.perf_counter()


def _read(name: str, table: str, filters: Filters, **extra: Any) -> pd.DataFrame:
    database, snapshot_name = table.split(".", 1)
    parameters = {"snapshot": snapshot_name, "db": database, "system": filters.system, **extra}
    store = data.store()
    query = sql(name).replace("{snapshot:Identifier}", store.table(snapshot_name))
    return data.query_df(query, parameters)


class Overview(BaseModel):
    """The figures of the Overview page."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    at: datetime
    states: pd.DataFrame = Field(description="process, state, waiting_for, system, priority, transactions")
    sla: pd.DataFrame = Field(description="process, stage, priority, met, measured, adherence")
    trend: pd.DataFrame = Field(description="bucket, process, started, complete, in_flight, stuck, failed")
    latency: pd.DataFrame = Field(description="system, stage, hops, p50_ms, p95_ms, error_rate")
    finance: list[dict[str, Any]] = Field(description="per reconciliation rule: the right side's SLA adherence")


def overview(config: AlertsConfig, filters: Filters, at: datetime) -> Overview:
    with snapshot(config, filters, at) as table:
        states = _read("states", table, filters)
        sla_table = _read("sla", table, filters, **_stage_sla_parameters(config))
        trend = _read("trend", table, filters, bucket_s=filters.bucket_s())
    latency = data.query_df(
        sql("latency"),
        {
            "db": data.store().database,
            "since": filters.since(at),
            "now": at,
            "process": filters.process,
            "channel": filters.channel,
            "priority": filters.priority,
            "system": filters.system,
        },
    )
    finance = []
    for rule in config.reconciliation:
        rows = sla_table[(sla_table["process"] == rule.process) & (sla_table["stage"] == rule.right.stage)]
        if len(rows):
            finance.append(
                {
                    "rule": rule.name,
                    "left": rule.left.stage,
                    "right": rule.right.stage,
                    "met": int(rows["met"].sum()),
                    "measured": int(rows["measured"].sum()),
                    "share": float(rows["met"].sum() / rows["measured"].sum()),
                }
            )
    return Overview(at=at, states=states, sla=sla_table, trend=trend, latency=latency, finance=finance)


class ProcessMap(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    transitions: pd.DataFrame = Field(description="process, from_stage, to_stage, transactions, median_s")
    variants: pd.DataFrame = Field(description="process, path, state, transactions, median_s")


def process_map(config: AlertsConfig, filters: Filters, at: datetime, variants: int = 15) -> ProcessMap:
    with snapshot(config, filters, at) as table:
        return ProcessMap(
            transitions=_read("transitions", table, filters),
            variants=_read("variants", table, filters, limit=variants),
        )


def dimensions() -> dict[str, list[str]]:
    """Channels, systems and priorities seen recently, for the filters."""
    frame = data.query_df(sql("dimensions"), {"db": data.store().database})
    row = frame.iloc[0] if len(frame) else {}
    return {name: sorted(row.get(name, []) or []) for name in ("channels", "systems", "priorities")}


def search_keys(prefix: str, limit: int = 20) -> pd.DataFrame:
    """Ids starting with ``prefix`` (any kind), most recently seen first."""
    if not prefix:
        return pd.DataFrame(columns=["key", "kind", "last_seen", "orders"])
    return data.query_df(sql("key_prefix"), {"db": data.store().database, "prefix": prefix, "limit": limit})


class OrderView(BaseModel):
    """Everything support sees about one key."""

    key: str
    history: KeyHistory
    transactions: list[Transaction]
    exceptions: list[alert_exceptions.ExceptionItem]
    alerts: list[dict[str, Any]]


def order_view(config: AlertsConfig, key: str, at: datetime) -> OrderView:
    """The key's hops, its transactions' state, and the exceptions and alerts naming it."""
    store = data.store()
    started = _clock()
    try:
        history = key_history(store, key)
        related = sorted({key} | {hop.order_id for hop in history.hops if hop.order_id})
        states = transactions(store, config, at, keys=related) if history.found else []
        items = [  # per transaction key: a shipment id's page shows its order's exceptions
            item
            for tx_key in sorted({t.key for t in states})
            for item in alert_exceptions.list_exceptions(
                store, config, at, alert_exceptions.Filters(key=tx_key), known=[t for t in states if t.key == tx_key]
            )
        ]
        firing = []
        for fingerprint, stored in alert_store.current_alerts(store).items():
            if any(ref.key in related for ref in stored.alert.transactions):
                firing.append(
                    {
                        "alert": stored.alert.rule,
                        "state": stored.alert.state,
                        "since": stored.since,
                        "summary": stored.alert.annotations.get("summary", ""),
                        "fingerprint": fingerprint,
                    }
                )
    finally:
        data.add_query_time(_clock() - started)
    return OrderView(key=key, history=history, transactions=states, exceptions=items, alerts=firing)


def span(trace_id: str, span_id: str) -> dict[str, Any] | None:
    """One span's whole stored record (attributes, events), or None."""
    frame = data.query_df(sql("span"), {"db": data.store().database, "trace_id": trace_id, "span_id": span_id})
    if frame.empty:
        return None
    return frame.iloc[0].to_dict()


EXCEPTION_STATES = ("open", "acknowledged", "resolved")
EXCEPTION_SORTS: dict[str, str] = {
    "oldest first": "since ASC, process, key, kind",
    "newest first": "since DESC, process, key, kind",
    "priority, then age": "transform(priority, ['high', 'normal', 'low'], [0, 1, 2], 3), since ASC, process, key, kind",
}
"""The queue's orders (ClickHouse ``ORDER BY`` clauses): by age, or by priority then age."""
_TROUBLE = ["stuck", "failed", "dead_letter"]


class ExceptionPage(BaseModel):
    """One page of the exception queue and the queue's totals, all counted in ClickHouse."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    counts: pd.DataFrame = Field(description="process, kind, state, exceptions: the whole queue")
    median_resolution_s: float | None = Field(description="over the resolved exceptions opened in the window")
    p90_resolution_s: float | None
    matching: int = Field(description="rows of every page (the states and kinds asked for)")
    rows: pd.DataFrame = Field(
        description="process, key, kind, stage, system, state, priority, channel, since, age_s, opened_at, "
        "assignee, acknowledged_by, resolved_by, resolution_s, note, runbook"
    )

    def count(self, state: str) -> int:
        return int(self.counts.loc[self.counts["state"] == state, "exceptions"].sum()) if len(self.counts) else 0


def exception_page(
    config: AlertsConfig,
    filters: Filters,
    at: datetime,
    *,
    states: tuple[str, ...] = ("open", "acknowledged"),
    kinds: tuple[str, ...] = (),
    sort: str = "oldest first",
    page: int = 0,
    page_size: int = 50,
) -> ExceptionPage:
    """The queue of the window's transactions, lifecycle applied, with one page of it.

    The exceptions are detected and their lifecycle joined in ClickHouse (two Memory tables,
    dropped on return); only the page's rows and the totals per process, kind and state come
    back to Python. The mismatches come from :func:`alerts.reconcile.mismatches`.

    Raises:
        ValueError: an unknown sort.
    """
    if sort not in EXCEPTION_SORTS:
        raise ValueError(f"unknown sort {sort!r}: one of {', '.join(EXCEPTION_SORTS)}")
    order = EXCEPTION_SORTS[sort]
    store = data.store()
    scoped = _config_for(config, filters.process)
    since = filters.since(at)
    parameters = query_parameters(store, scoped, at, states=_TROUBLE, since=since)
    parameters.update(
        process=filters.process if filters.process in config.processes else "",
        system=filters.system,
        channel=filters.channel,
        priority=filters.priority,
    )
    detect = alert_exceptions.detected_sql(f"({alert_rules.snapshot_sql()})")
    with _memory_table(detect, parameters) as detected:
        _add_mismatches(detected, scoped, at, since)
        queue_sql = Template(sql("exceptions_queue")).substitute(lifecycle=alerts_sql("lifecycle"))
        queue_sql = queue_sql.replace("{detected:Identifier}", _quoted(detected))
        with _memory_table(queue_sql, parameters) as queue:
            counts = data.query_df(sql("exceptions_counts").replace("{queue:Identifier}", _quoted(queue)), {})
            resolution = data.query_df(sql("exceptions_resolution").replace("{queue:Identifier}", _quoted(queue)), {})
            page_sql = Template(sql("exceptions_page")).substitute(order=order)
            rows = data.query_df(
                page_sql.replace("{queue:Identifier}", _quoted(queue)),
                {"now": at, "states": list(states), "kinds": list(kinds), "limit": page_size,
                 "offset": max(page, 0) * page_size},
            )  # fmt: skip
    shown = counts[counts["state"].isin(states) & (counts["kind"].isin(kinds) if kinds else True)]
    rows["runbook"] = [config.runbook(k, p) for k, p in zip(rows["kind"], rows["process"], strict=True)]
    first = resolution.iloc[0] if len(resolution) else {}
    return ExceptionPage(
        counts=counts,
        median_resolution_s=_number(first.get("median_s")),
        p90_resolution_s=_number(first.get("p90_s")),
        matching=int(shown["exceptions"].sum()),
        rows=rows,
    )


def _number(value: Any) -> float | None:
    return None if value is None or value != value else float(value)


def _quoted(table: str) -> str:
    """A ``database.name`` from :func:`_memory_table`, quoted for a query (always the store's database)."""
    return data.store().table(table.split(".", 1)[1])


def _add_mismatches(table: str, config: AlertsConfig, at: datetime, since: datetime) -> None:
    """Append the window's reconciliation mismatches to a table of detected exceptions."""
    store = data.store()
    started = _clock()
    try:
        found = reconcile.mismatches(store, config, at, since=since)
        alert_exceptions.add_mismatches(store, table.split(".", 1)[1], found)
    finally:
        data.add_query_time(_clock() - started)


def act_on_exception(
    config: AlertsConfig,
    identity: tuple[str, str, str],
    action: alert_exceptions.Action,
    actor: str,
    assignee: str = "",
    note: str = "",
) -> None:
    """Record a person's action on one exception, ``(process, key, kind)`` (audited in
    ``biztrace_exception_events``).

    Raises:
        NotFound: that exception is no longer open or acknowledged.
    """
    process, key, kind = identity
    alert_exceptions.act(
        data.store(),
        config,
        now(),
        key=key,
        kind=kind,
        process=process,
        action=action,
        actor=actor,
        assignee=assignee,
        note=note,
    )


def save_silence(matchers: dict[str, str], duration: timedelta, actor: str, comment: str) -> str:
    """Create a silence recorded with the person who made it; returns its id."""
    from biztrace.config.silences import Silence

    at = now()
    silence = Silence(
        id=alert_store.new_silence_id(),
        matchers=matchers,
        starts_at=at,
        ends_at=at + duration,
        created_by=actor,
        comment=comment,
        created_at=at,
    )
    alert_store.save_silence(data.store(), silence)
    return silence.id


def expire_silence(silence_id: str) -> bool:
    """End a silence now; False if there is no such silence."""
    store = data.store()
    found = {s.id: s for s in alert_store.silences(store)}
    if silence_id not in found:
        return False
    at = now().replace(tzinfo=None)
    current = found[silence_id]
    alert_store.save_silence(
        store, current.model_copy(update={"ends_at": min(at, current.ends_at.replace(tzinfo=None))})
    )
    return True


def reconciliation(config: AlertsConfig, filters: Filters, at: datetime) -> dict[str, list]:
    started = _clock()
    try:
        period = "day" if WINDOWS[filters.window] >= timedelta(days=1) else "hour"
        return reconcile.report(
            data.store(),
            config,
            at,
            since=filters.since(at),
            period=period,
            process=filters.process or None,
            channel=filters.channel or None,
            system=filters.system or None,
        )
    finally:
        data.add_query_time(_clock() - started)


def alerts_now() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
    """Current alerts, recent history and silences."""
    store = data.store()
    started = _clock()
    try:
        current = [
            {
                "fingerprint": fp,
                "alert": s.alert.rule,
                "state": s.alert.state,
                "since": s.since,
                "value": s.alert.value,
                "severity": s.alert.labels.get("severity", ""),
                "labels": ", ".join(f"{k}={v}" for k, v in sorted(s.alert.labels.items())),
                "summary": s.alert.annotations.get("summary", ""),
                "transactions": len(s.alert.transactions),
            }
            for fp, s in alert_store.current_alerts(store).items()
        ]
        history = alert_store.history(store, limit=200)
        silences = alert_store.silences(store)
    finally:
        data.add_query_time(_clock() - started)
    return current, history, silences
