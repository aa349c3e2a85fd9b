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
from biztrace.readmodel import alert_store, figures, reconcile
from biztrace.readmodel import exceptions as alert_exceptions
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
    scoped = alert_exceptions.narrowed(config, filters.process)
    parameters = query_parameters(data.store(), scoped, at, since=filters.since(at))
    parameters.update(channel=filters.channel, priority=filters.priority)
    query = Template(sql("snapshot")).substitute(
        transactions=alerts_sql("transactions"), system_at_fault=alerts_sql("system_at_fault")
    )
    with _memory_table(query, parameters) as table:
        yield table


def _quoted(table: str) -> str:
    """A ``database.name`` from :func:`_memory_table`, quoted for a query (always the store's database)."""
    return data.store().table(table.split(".", 1)[1])


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
    adherence: list[figures.SlaAdherence] = Field(description="end-to-end SLA adherence per process")
    adherence_overall: figures.SlaAdherence = Field(description="end-to-end SLA adherence, every process together")


def overview(config: AlertsConfig, filters: Filters, at: datetime) -> Overview:
    with snapshot(config, filters, at) as table:
        states = _read("states", table, filters)
        trend = _read("trend", table, filters, bucket_s=filters.bucket_s())
        started = _clock()
        try:
            system = filters.system or None
            adherence = figures.sla_adherence(
                data.store(), config, _quoted(table), at, filters.since(at), system=system
            )
            stages = figures.stage_sla(data.store(), config, _quoted(table), system=system)
        finally:
            data.add_query_time(_clock() - started)
    sla_table = pd.DataFrame([row.model_dump() for row in stages], columns=list(figures.StageSla.model_fields))
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
    return Overview(at=at, states=states, sla=sla_table, trend=trend, latency=latency, finance=finance,
                    adherence=adherence, adherence_overall=figures.overall(adherence))  # fmt: skip


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
EXCEPTION_SORTS = alert_exceptions.SORTS
"""The queue's orders: by age, or by priority then age (the read model's)."""
_ROW_COLUMNS = [
    "process", "key", "kind", "stage", "system", "state", "priority", "channel", "since", "age_s", "opened_at",
    "assignee", "acknowledged_by", "resolved_by", "resolution_s", "note", "runbook",
]  # fmt: skip


class ExceptionPage(BaseModel):
    """One page of the exception queue and the queue's totals, all counted in ClickHouse by the read model."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    counts: pd.DataFrame = Field(description="process, kind, state, exceptions: the whole queue")
    resolved: int = Field(description="resolved exceptions in the queue (opened in the window)")
    median_resolution_s: float | None = Field(description="over the resolved exceptions opened in the window")
    p90_resolution_s: float | None
    matching: int = Field(description="rows of every page (the states and kinds asked for)")
    rows: pd.DataFrame = Field(description=", ".join(_ROW_COLUMNS))

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
    """The queue of the window's transactions, lifecycle applied, with one page of it
    (:func:`readmodel.exceptions.queue_page`: the same queue as ``biztrace exceptions``).

    Raises:
        ValueError: an unknown sort.
    """
    started = _clock()
    try:
        found = alert_exceptions.queue_page(
            data.store(), config, at, since=filters.since(at), process=filters.process or None,
            system=filters.system or None, channel=filters.channel or None, priority=filters.priority or None,
            states=states, kinds=kinds, sort=sort, page=page, page_size=page_size,
        )  # fmt: skip
    finally:
        data.add_query_time(_clock() - started)
    counts = pd.DataFrame([c.model_dump() for c in found.counts], columns=["process", "kind", "state", "exceptions"])
    rows = pd.DataFrame([item.model_dump() for item in found.items], columns=_ROW_COLUMNS)
    return ExceptionPage(counts=counts, resolved=found.resolved, median_resolution_s=found.median_resolution_s,
                         p90_resolution_s=found.p90_resolution_s, matching=found.matching, rows=rows)  # fmt: skip


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
