"""What each page asks ClickHouse, as DataFrames and models; SQL in ``dashboard/sql``.

The transaction figures (states, SLA adherence, trends, the process map) all read one
snapshot: the transactions started in the selected window, classified once by the alerts'
own query (``readmodel/sql/transactions.sql``) into a Memory table, so the dashboard and the
alert loop never disagree about what "stuck" means.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from string import Template
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from biztrace.config import SAMPLED, AlertsConfig
from biztrace.dashboard import data
from biztrace.readmodel import actions, alert_store, figures, reconcile, snapshots
from biztrace.readmodel import exceptions as alert_exceptions
from biztrace.readmodel import overview as alert_overview
from biztrace.readmodel.lookup import KeyHistory, key_history, tree_keys, tree_transactions
from biztrace.readmodel.transactions import Transaction, placement_parameters, query_parameters
from biztrace.readmodel.transactions import sql as alerts_sql

_SQL = resources.files("biztrace.dashboard") / "sql"

Window = Literal["1h", "6h", "24h", "7d", "30d", "90d", "custom"]
WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
_NICE_BUCKETS_S = (300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)


def sql(name: str) -> str:
    return (_SQL / f"{name}.sql").read_text()


class Filters(BaseModel):
    """The filters every page shares; empty means all. ``window="custom"``: the days ``start`` to ``end``
    (both included, UTC)."""

    model_config = ConfigDict(frozen=True)

    window: Window = "24h"
    process: str = ""
    channel: str = ""
    system: str = ""
    priority: str = ""
    start: date | None = None
    end: date | None = None

    def since(self, now: datetime) -> datetime:
        if self.window == "custom":
            first = self.start or (now - WINDOWS["7d"]).date()
            return datetime.combine(first, time(0), tzinfo=now.tzinfo)
        return now - WINDOWS[self.window]

    def until(self, now: datetime) -> datetime:
        """The window's end: now, or the day after a custom range's last day (whichever is first)."""
        if self.window == "custom" and self.end is not None:
            return min(now, datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=now.tzinfo))
        return now

    def span(self, now: datetime) -> timedelta:
        return max(self.until(now) - self.since(now), timedelta(minutes=5))

    def label(self, now: datetime | None = None) -> str:
        """The window as a phrase: "the last 24h", or "2026-11-01 to 2026-11-30"."""
        if self.window != "custom":
            return f"the last {self.window}"
        at = now or datetime.now(UTC)
        return f"{self.since(at):%Y-%m-%d} to {(self.until(at) - timedelta(seconds=1)):%Y-%m-%d}"

    def bucket_s(self, now: datetime | None = None) -> int:
        """Trend bucket: about 24–48 points whatever the window."""
        if self.window == "custom":
            wanted = self.span(now or datetime.now(UTC)).total_seconds() / 36
            return next((b for b in _NICE_BUCKETS_S if b >= wanted), _NICE_BUCKETS_S[-1])
        return {"1h": 300, "6h": 900, "24h": 3600, "7d": 6 * 3600, "30d": 86400, "90d": 86400}[self.window]


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def last_pass_time(config: AlertsConfig) -> datetime | None:
    """The time (aware UTC) of the alert loop's last pass this process can read (``biztrace up``), or None."""
    passed = snapshots.last_pass_time(data.store(), config)
    return passed.replace(tzinfo=UTC) if passed is not None else None


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
def snapshot(
    config: AlertsConfig,
    filters: Filters,
    at: datetime,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    columns: tuple[str, ...] = (),
) -> Iterator[str]:
    """A Memory table of the transactions started in the window (or ``since``..``until``), dropped on
    exit; yields its name. Their state is always the one at ``at``. ``columns``: only those (ClickHouse
    then computes and writes only what they need), for readers that read no other.

    Beside the alert loop (``biztrace up``), its kept snapshot answers instead of a classification of the
    window (:func:`snapshots.started_since_sql`): every transaction as of its last pass, brought to ``at``;
    one with a hop stored since that pass (at most two evaluation intervals ago) is as of the pass."""
    with _snapshot_query(config, filters, at, since=since, until=until) as (query, parameters):
        if columns:
            query = f"SELECT {', '.join(columns)} FROM ({query})"
        with _memory_table(query, parameters) as table:
            yield table


@contextmanager
def _snapshot_query(
    config: AlertsConfig, filters: Filters, at: datetime, *, since: datetime | None, until: datetime | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``sql/snapshot.sql`` and its parameters: :func:`snapshot`'s rows, for a table or a subquery, to run
    inside the block: beside the loop, the kept snapshot it reads is held until the block ends."""
    scoped = alert_exceptions.narrowed(config, filters.process)
    parameters = query_parameters(data.store(), scoped, at, since=since or filters.since(at))
    parameters.update(channel=filters.channel, priority=filters.priority, until=until or filters.until(at))
    with snapshots.published(data.store(), config, at) as kept:
        if kept is None:
            transactions = alerts_sql("transactions", scoped, keys=False)  # every transaction of the window
        else:
            transactions = snapshots.started_since_sql(scoped, kept.table)
            parameters["process"] = filters.process
        query = Template(sql("snapshot")).substitute(
            transactions=transactions,
            system_at_fault=alerts_sql("system_at_fault", scoped),
            exception_stage=alerts_sql("exception_stage", scoped),
        )
        yield query, parameters


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
    sla_trend: pd.DataFrame = Field(description="bucket, met, measured, adherence: SLA adherence per start bucket")
    by_channel: list[figures.SlaAdherence] = Field(description="SLA adherence per channel, worst first")
    by_system: list[figures.SlaAdherence] = Field(description="SLA adherence per system at fault, worst first")
    bucket_s: int
    partial_from: datetime | None = Field(description="the last bucket's start when it is not over yet")
    money: list[alert_overview.StuckMoney] = Field(description="money stuck per process and stage (the read model's)")


def _worst_first(groups: list[figures.SlaAdherence]) -> list[figures.SlaAdherence]:
    measured = [g for g in groups if g.adherence is not None]
    return sorted(measured, key=lambda g: (g.adherence, -g.measured))


def sla_by_bucket(
    config: AlertsConfig, table: str, at: datetime, since: datetime, bucket_s: int, system: str = "",
    parameters: dict[str, Any] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """End-to-end SLA adherence of the transactions of ``table`` (a snapshot, or its query in parentheses
    with its ``parameters``) started since ``since``, per ``bucket_s`` bucket of their start, judged at ``at``
    (:func:`figures.sla_adherence`, its one definition: the snapshot's ``stage`` column carries the bucket,
    the label it groups by)."""
    bucketed = (
        f"(SELECT *, toString(toStartOfInterval(started_at, toIntervalSecond({int(bucket_s)}))) AS stage "
        f"FROM {table})"
    )  # the dashboard's snapshot has no stage column and ends at the window's end already
    started = _clock()
    try:
        groups = figures.sla_adherence(data.store(), config, bucketed, at, since, group=("stage",),
                                       system=system or None, snapshot_parameters=parameters)  # fmt: skip
    finally:
        data.add_query_time(_clock() - started)
    frame = pd.DataFrame(
        [{"bucket": pd.Timestamp(g.labels["stage"]), "met": g.met, "measured": g.measured, "pending": g.pending,
          "adherence": g.adherence} for g in groups],
        columns=["bucket", "met", "measured", "pending", "adherence"],
    )  # fmt: skip
    return frame.sort_values("bucket").reset_index(drop=True)


def overview(config: AlertsConfig, filters: Filters, at: datetime) -> Overview:
    since, until, bucket_s = filters.since(at), filters.until(at), filters.bucket_s(at)
    with snapshot(config, filters, at) as table:
        states = _read("states", table, filters)
        trend = _read("trend", table, filters, bucket_s=bucket_s)
        started = _clock()
        try:
            system = filters.system or None
            store = data.store()
            adherence = figures.sla_adherence(store, config, _quoted(table), at, since, system=system)
            stages = figures.stage_sla(store, config, _quoted(table), system=system)
            by_channel = figures.sla_adherence(store, config, _quoted(table), at, since, group=("channel",),
                                               system=system)  # fmt: skip
            by_system = figures.sla_adherence(store, config, _quoted(table), at, since, group=("system",),
                                              system=system)  # fmt: skip
        finally:
            data.add_query_time(_clock() - started)
        sla_trend = sla_by_bucket(config, _quoted(table), at, since, bucket_s, filters.system)
        started = _clock()
        try:  # read from the same snapshot: one classification of the window per refresh
            money = alert_overview.money_stuck(
                data.store(), config, at, since=since, until=until, process=filters.process, system=filters.system,
                channel=filters.channel, priority=filters.priority, source=_quoted(table),
            )  # fmt: skip
        finally:
            data.add_query_time(_clock() - started)
    sla_table = pd.DataFrame([row.model_dump() for row in stages], columns=list(figures.StageSla.model_fields))
    latency = hop_latency(config, filters, since, until)
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
    last = (int(until.timestamp()) // bucket_s) * bucket_s
    partial = datetime.fromtimestamp(last, UTC).replace(tzinfo=None) if last + bucket_s > until.timestamp() else None
    return Overview(at=at, states=states, sla=sla_table, trend=trend, latency=latency, finance=finance,
                    adherence=adherence, adherence_overall=figures.overall(adherence), sla_trend=sla_trend,
                    by_channel=_worst_first(by_channel), by_system=_worst_first(by_system), bucket_s=bucket_s,
                    partial_from=partial, money=money)  # fmt: skip


def hop_latency(config: AlertsConfig, filters: Filters, since: datetime, until: datetime) -> pd.DataFrame:
    """Per system and stage, the hops of ``since``..``until`` with their p50/p95 duration and error rate
    (``sql/latency.sql``), each hop in the process it is placed in (``hop_process.sql``: a hop that leaves
    out ``biz.process`` counts for the process its stage belongs to; with mapping rules, the spans they make
    hops too). Placing costs nothing measurable here (10M hops: 0.020 s at 24 h, 0.069 s at 7 d, as the
    stored rows read as they are)."""
    hops = "(" + alerts_sql("hop_process", config).strip() + ")"
    parameters = placement_parameters(config) | {
        "db": data.store().database, "since": since, "now": until, "process": filters.process,
        "channel": filters.channel, "priority": filters.priority, "system": filters.system,
    }  # fmt: skip
    return data.query_df(sql("latency").replace("${hop_process}", hops), parameters)


DEFAULT_SLA_TARGET = 0.95


def sla_target(config: AlertsConfig, process: str = "") -> float:
    """The SLA adherence the charts hold figures against: the threshold of the ``sla_adherence`` rule
    for ``process`` (or for every process), the strictest when several apply; 95% without one."""
    thresholds = [
        rule.threshold
        for rule in config.rules
        if rule.kind == "sla_adherence" and (not process or rule.process in (None, process))
    ]
    return max(thresholds, default=DEFAULT_SLA_TARGET)


def overview_with_previous(config: AlertsConfig, filters: Filters, at: datetime) -> tuple[Overview, pd.DataFrame]:
    """The Overview's figures and the previous period's SLA trend (:func:`overview`, :func:`previous_sla_trend`),
    computed side by side: two classifications of independent windows."""
    figures, previous = data.side_by_side([lambda: overview(config, filters, at),
                                           lambda: previous_sla_trend(config, filters, at)])  # fmt: skip
    return figures, previous


def previous_sla_trend(config: AlertsConfig, filters: Filters, at: datetime) -> pd.DataFrame:
    """SLA adherence per bucket of the period just before the window (as long as it), judged at ``at``,
    its buckets shifted by one period so they line up with the window's."""
    span = filters.span(at)
    since, until = filters.since(at) - span, filters.since(at)
    # one reader of the previous period's transactions: their snapshot read as a subquery (ClickHouse then
    # computes only the columns the adherence reads), not written to a table first; beside the loop, from its
    # kept snapshot (as snapshot())
    scoped = alert_exceptions.narrowed(config, filters.process)  # the configuration the snapshot is of
    with _snapshot_query(config, filters, at, since=since, until=until) as (query, parameters):
        frame = sla_by_bucket(scoped, f"({query})", at, since, filters.bucket_s(at), filters.system, parameters)
    frame["bucket"] = frame["bucket"] + pd.Timedelta(span)
    return frame


class ProcessMap(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    transitions: pd.DataFrame = Field(description="process, from_stage, to_stage, transactions, median_s")
    variants: pd.DataFrame = Field(description="process, path, state, transactions, median_s")


_PATH_COLUMNS = ("process", "state", "system", "started_at", "last_at", "stages_reached", "stages_reached_at")
"""What the process map's readers (``sql/transitions.sql``, ``sql/variants.sql``) read of the snapshot."""


def process_map(config: AlertsConfig, filters: Filters, at: datetime, variants: int = 15) -> ProcessMap:
    with snapshot(config, filters, at, columns=_PATH_COLUMNS) as table:  # 1.10 -> 0.95 s at 10M hops, 7 d
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
        history = key_history(store, key, config=config)  # placed hops, mapped spans too: as the API shows them
        states = tree_transactions(store, config, at, history)  # the whole tree's, as the API answers them
        related = set(tree_keys(history))  # the alerts naming any of them are shown too
        # every transaction's of the tree, in one detection: a shipment id's page shows its order's exceptions
        tx_keys = sorted({t.key for t in states})
        items = alert_exceptions.list_exceptions(store, config, at, keys=tx_keys) if tx_keys else []
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


EXCEPTION_STATES = ("open", "acknowledged", "postponed", "resolved")
EXCEPTION_SORTS = alert_exceptions.SORTS
"""The queue's orders: by age, or by priority then age (the read model's)."""
_ROW_COLUMNS = [
    "process", "key", "kind", "stage", "system", "state", "priority", "channel", "amount", "currency", "since",
    "age_s", "opened_at",
    "assignee", "acknowledged_by", "resolved_by", "resolution_s", "note", "postponed_until", "postponed_by",
    "comments", "runbook",
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
    (:func:`readmodel.exceptions.queue_page`: the same queue as ``biztrace exceptions``). The window's
    detection is kept for the other pages, sorts and kinds of the same refresh (``keep``).

    Raises:
        ValueError: an unknown sort.
    """
    started = _clock()
    try:
        found = alert_exceptions.queue_page(
            data.store(), config, at, since=filters.since(at), process=filters.process or None,
            system=filters.system or None, channel=filters.channel or None, priority=filters.priority or None,
            states=states, kinds=kinds, sort=sort, page=page, page_size=page_size, keep=True,
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
    until: datetime | None = None,
) -> None:
    """Record a person's action on one exception, ``(process, key, kind)`` (audited in
    ``biztrace_exception_events``): acknowledge, assign, resolve, comment (its text in ``note``),
    postpone until ``until`` (see :func:`postpone_until`) or unpostpone.

    Raises:
        NotFound: that exception is no longer open or acknowledged (for unpostpone: postponed).
        ValueError: refused (an empty or too long comment, a time not after now, a resolved exception).
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
        until=until,
    )


def postpone_until(text: str) -> datetime:
    """When a postponement typed in the queue ends: an ISO time (UTC) or a duration from now (4h, 2d).

    Raises:
        ValueError: neither, or not after now (one line).
    """
    return actions.parse_until(text, now())


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
        period = "day" if filters.span(at) >= timedelta(days=1) else "hour"
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


FILTER_LABELS = ("process", "system", "channel", "priority")
"""The sidebar filters an alert's labels are held against (an alert without that label is kept)."""

RATE_KINDS = {"stuck_share", "error_rate", "sla_adherence", "duplicate_rate", "mismatch_rate"}
EXCEPTION_KIND = {
    "stuck_count": "stuck", "stuck_share": "stuck", "sla_adherence": "stuck", "error_rate": "failed",
    "dead_letters": "dead_letter", "duplicate_rate": "duplicate", "mismatch_rate": "mismatch",
}  # fmt: skip


class AlertRow(BaseModel):
    """One current alert as the Alerts page shows it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    fingerprint: str
    alert: Any = Field(description="the stored AlertInstance")
    since: datetime
    kind: str = Field(description="the rule's kind ('' for a rule no longer configured)")
    status: Any = Field(description="overview.AlertStatus")
    runbook: str = ""

    def value_text(self) -> str:
        return format_value(self.kind, self.alert.value)

    def sample_text(self) -> str:
        """What a share or percentile counted ("of 88 transactions measured"); '' for a count, or an alert
        recorded before its sample was kept."""
        what = SAMPLED.get(self.kind)
        return f"of {self.alert.sample:,} {what}" if what and self.alert.sample is not None else ""


def format_value(kind: str, value: float | None) -> str:
    """An alert's value as a person reads it: a percent for rates, ms for latency, a count otherwise."""
    if value is None:
        return ""
    if kind in RATE_KINDS:
        return f"{value:.1%}"
    if kind == "hop_latency_p95":
        return f"{value:,.0f} ms"
    return f"{value:,.0f}"


def alert_rows(config: AlertsConfig, filters: Filters) -> tuple[list[AlertRow], list[Any], int]:
    """The current alerts the sidebar filters keep (with their status now), every silence, and how
    many alerts the filters hid."""
    store = data.store()
    started = _clock()
    try:
        stored = alert_store.current_alerts(store)
        silences = alert_store.silences(store)
    finally:
        data.add_query_time(_clock() - started)
    at = now()
    firing = [s.alert for s in stored.values() if s.alert.state == "firing"]
    kinds = {rule.name: rule.kind for rule in config.rules}
    wanted = {label: getattr(filters, label) for label in FILTER_LABELS if getattr(filters, label)}
    rows, hidden = [], 0
    for fp, s in sorted(stored.items(), key=lambda item: (item[1].alert.state != "firing", item[1].alert.rule)):
        if any(s.alert.labels.get(label, value) != value for label, value in wanted.items()):
            hidden += 1
            continue
        kind = kinds.get(s.alert.rule, "")
        runbook = s.alert.annotations.get("runbook_url", "") or config.runbook(
            EXCEPTION_KIND.get(kind, ""), s.alert.labels.get("process")
        )
        status = alert_overview.alert_status(config, s.alert, firing, silences, at)
        rows.append(AlertRow(fingerprint=fp, alert=s.alert, since=s.since, kind=kind, status=status, runbook=runbook))
    return rows, silences, hidden


def alert_transactions(config: AlertsConfig, alert: Any, at: datetime, page: int, page_size: int):
    """One page of every transaction behind ``alert`` (``readmodel.overview``), or None when its rule's
    transactions are only those the alert recorded."""
    started = _clock()
    try:
        return alert_overview.alert_transactions(
            data.store(), config, alert, at, offset=page * page_size, limit=page_size
        )
    finally:
        data.add_query_time(_clock() - started)


def acknowledge_alert(alert: Any, duration: timedelta, actor: str, note: str = "") -> str:
    """Acknowledge an alert: a silence of exactly its labels, recorded with the person; returns its id."""
    comment = f"{alert_overview.ACK_PREFIX} by {actor}" + (f": {note}" if note else "")
    return save_silence(alert_overview.ack_silence_matchers(alert), duration, actor, comment)


def alerts_matching(matchers: dict[str, str]) -> list[str]:
    """The rules of the current (not resolved) alerts these matchers would silence."""
    from biztrace.config.silences import matches

    stored = alert_store.current_alerts(data.store())
    return sorted(
        {s.alert.rule for s in stored.values() if s.alert.state != "resolved" and matches(matchers, s.alert.labels)}
    )
