"""SLA scorecards: per customer, trading partner, channel or system, how a period went against the
one just before it (as long, ending where it starts).

Every figure is read model's own definition, computed in ClickHouse over one snapshot of the
transactions of both periods (``sql/scorecard_snapshot.sql`` over ``sql/transactions.sql``, the
Overview's columns), each judged at ``now``:

* *transactions*: started in the period, by state (``sql/scorecard_states.sql``);
* *end-to-end SLA adherence*: :func:`biztrace.readmodel.figures.sla_adherence` (the Overview's);
* *stage SLA adherence* per process and stage and over every stage, and the stage times' p50 and
  p90: ``sql/stage_sla_rows.sql``, the measurements the Overview's heat map counts
  (``sql/scorecard_stages.sql``);
* *exceptions* by kind and *mismatches* by field: the exception queue
  (:func:`biztrace.readmodel.exceptions.queue`, every state), whose mismatches are
  :func:`biztrace.readmodel.reconcile.mismatches`; *money affected*: the value
  (``transactions.sql``'s amount) of the transactions with at least one of them, per currency
  (``sql/scorecard_exceptions.sql``).

A row (*scope*) is the transaction's ``customer.id`` (any of its hops'), its trading partner (the
system that reported its capture stage: biz_hops keeps no other attribute naming a sender), its
channel, or its system at fault (the Overview's "by system"); ``(none)`` when it has none. The
rows are the ``limit`` scopes with the most transactions in the period.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from string import Template
from typing import Any, Literal

from pydantic import BaseModel, Field

from biztrace.config import AlertsConfig
from biztrace.readmodel import exceptions, figures, snapshots
from biztrace.readmodel.transactions import query_parameters, sql
from biztrace.store import Store

Dimension = Literal["customer", "partner", "channel", "system"]
DIMENSIONS: tuple[str, ...] = ("customer", "partner", "channel", "system")
NONE = "(none)"
"""The scope of transactions without a customer (partner, channel, system)."""


class StageFigures(BaseModel):
    """One stage's SLA in one period: how often it was reached in time, and how long it took."""

    process: str
    stage: str
    met: int
    measured: int = Field(description="reached, or stuck waiting for it")
    adherence: float | None = Field(description="met / measured")
    p50_s: float | None = Field(description="median time to reach it (from where its SLA counts), seconds")
    p90_s: float | None = Field(description="90th percentile of that time, seconds")


class EndToEnd(BaseModel):
    """End-to-end SLA adherence (:mod:`biztrace.readmodel.figures`' definition)."""

    met: int = 0
    missed: int = 0
    pending: int = 0
    measured: int = 0
    adherence: float | None = None


class PeriodFigures(BaseModel):
    """One scope's figures over one period."""

    transactions: int = 0
    complete: int = 0
    in_flight: int = 0
    stuck: int = 0
    failed: int = 0
    dead_letter: int = 0
    end_to_end: EndToEnd = Field(default_factory=EndToEnd)
    stage_met: int = Field(0, description="stage SLAs met, every stage together")
    stage_measured: int = 0
    stage_adherence: float | None = Field(None, description="stage_met / stage_measured")
    stages: list[StageFigures] = Field(default_factory=list)
    exceptions: dict[str, int] = Field(default_factory=dict, description="kind -> exceptions (every state)")
    mismatches: dict[str, int] = Field(default_factory=dict, description="field that disagrees -> mismatches")
    money_affected: dict[str, float] = Field(
        default_factory=dict, description="currency ('' none) -> the value of the transactions with an exception"
    )
    affected: int = Field(0, description="transactions with at least one exception")
    affected_without_amount: int = Field(0, description="of them, how many carried no amount")


class Trend(BaseModel):
    """This period against the previous one."""

    transactions: int = Field(description="difference in transactions")
    end_to_end: float | None = Field(description="difference in end-to-end adherence (0.05: 5 points better)")
    stage_sla: float | None = Field(description="difference in stage SLA adherence")
    exceptions: int = Field(description="difference in exceptions")
    money_affected: dict[str, float] = Field(description="difference in money affected, per currency")


class Scorecard(BaseModel):
    name: str = Field(description="the customer, partner, channel or system; '(none)' for those without")
    current: PeriodFigures
    previous: PeriodFigures
    trend: Trend


class Scorecards(BaseModel):
    by: Dimension
    process: str = Field("", description="only this process ('' : every one)")
    now: datetime
    start: datetime = Field(description="the period: transactions started from here to now")
    previous_start: datetime = Field(description="the previous period: from here to start")
    scopes: int = Field(description="how many customers (partners, ...) had a transaction in either period")
    rows: list[Scorecard] = Field(description="the `limit` with the most transactions in the period")


def _delta(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else now - before


def _trend(current: PeriodFigures, previous: PeriodFigures) -> Trend:
    currencies = sorted(set(current.money_affected) | set(previous.money_affected))
    return Trend(
        transactions=current.transactions - previous.transactions,
        end_to_end=_delta(current.end_to_end.adherence, previous.end_to_end.adherence),
        stage_sla=_delta(current.stage_adherence, previous.stage_adherence),
        exceptions=sum(current.exceptions.values()) - sum(previous.exceptions.values()),
        money_affected={c: current.money_affected.get(c, 0.0) - previous.money_affected.get(c, 0.0)
                        for c in currencies},
    )  # fmt: skip


def scorecards(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    period: timedelta = timedelta(days=7),
    by: Dimension = "customer",
    process: str = "",
    limit: int = 50,
    shared: bool = False,
) -> Scorecards:
    """The scorecards of the period ending at ``now`` (and of the one before), per ``by``.

    ``shared``: when the store's alert loop runs in this process (the holder's API asks so), the
    scorecards are those of its last pass: they read its kept snapshot (every transaction classified,
    :mod:`biztrace.readmodel.snapshots`) and its detection (:mod:`biztrace.readmodel.last_pass`)
    instead of classifying and detecting again, and are judged at the pass's time (``now`` of the
    answer: at most two evaluation intervals before the one asked; the lifecycle of the exceptions
    at the one asked). Without a usable pass they are computed at ``now``.

    Raises:
        ValueError: an unknown dimension or process, or a period that is not positive.
    """
    if by not in DIMENSIONS:
        raise ValueError(f"scorecards are by {', '.join(DIMENSIONS)}; not {by!r}")
    if process and process not in config.processes:
        raise ValueError(f"process {process!r} is not defined (one of {', '.join(config.processes)})")
    if period <= timedelta(0):
        raise ValueError("the period must be longer than 0s")
    scoped = exceptions.narrowed(config, process)
    with _collector_paused(), ExitStack() as stack:
        kept = stack.enter_context(snapshots.last_pass_of(store, config, now)) if shared else None
        asked, now = now, kept.now if kept is not None else now
        start, previous_start = now - period, now - 2 * period
        parameters = query_parameters(store, scoped, now, since=previous_start) | {"start": start, "by": by}
        if kept is None:
            transactions = sql("transactions", scoped, keys=False)
        else:  # the pass's rows of the transactions started in the window, as transactions.sql gives them
            transactions = snapshots.started_since_sql(scoped, kept.snapshot)
            parameters |= {"process": process}
        query = Template(sql("scorecard_snapshot")).substitute(
            transactions=transactions, system_at_fault=sql("system_at_fault", scoped)
        )
        table = stack.enter_context(store.memory_table(query, parameters, "biztrace_scorecard"))
        base: dict[str, Any] = {"db": store.database, "snapshot": table}
        found = list(store.client.query(sql("scorecard_scopes"), parameters=base | {"limit": limit}).named_results())
        names = [row["scope"] for row in found]
        total = int(found[0]["scopes"]) if found else 0
        periods: dict[tuple[str, str], PeriodFigures] = {}
        if names:
            if kept is None:  # the detection reads the transactions classified above: not classified a second time
                queue = exceptions.queue(store, scoped, now, since=previous_start, classified=store.table(table))
            else:  # the pass's detection, every process's (the snapshot's transactions pick theirs)
                queue = exceptions.pass_queue(store, config, asked, kept.found)
            periods = _figures(store, scoped, now, table, base | {"scopes": names}, parameters, previous_start,
                               stack.enter_context(queue))  # fmt: skip
        rows = []
        for name in names:
            current = periods.get((name, "current"), PeriodFigures())
            previous = periods.get((name, "previous"), PeriodFigures())
            rows.append(Scorecard(name=name, current=current, previous=previous, trend=_trend(current, previous)))
        return Scorecards(by=by, process=process, now=now, start=start, previous_start=previous_start,
                          scopes=total, rows=rows)  # fmt: skip


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while the scorecards are built: the collections that
    building ~200,000 small objects triggers traverse every live object of the process (measured: 1.5 s
    of 2.8 s in Python for 10,000 scorecards), and these objects make no cycles. Enabled again after,
    if it was (a thread that paused it meanwhile only pauses it for less time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _figures(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    table: str,
    base: dict[str, Any],
    parameters: dict[str, Any],
    previous_start: datetime,
    queue: str,
) -> dict[tuple[str, str], PeriodFigures]:
    """Every figure of the chosen scopes, per (scope, period); ``queue``: the exception queue's table."""
    # each scope's and period's figures gathered as plain values, each PeriodFigures built once at the end
    # (an attribute set on a model goes through pydantic: ~0.2 s of 10,000 scorecards)
    values: dict[tuple[str, str], dict[str, Any]] = {}

    def of(scope: str, period: str) -> dict[str, Any]:
        found = values.get((scope, period))
        if found is None:
            found = values[(scope, period)] = {
                "stage_met": 0, "stage_measured": 0, "stages": [], "exceptions": {}, "mismatches": {},
                "money_affected": {}, "affected": 0, "affected_without_amount": 0,
            }  # fmt: skip
        return found

    for row in store.client.query(sql("scorecard_states"), parameters=base).named_results():
        of(row.pop("scope"), row.pop("period")).update(row)
    chosen = f"(SELECT * FROM {store.table(table)} WHERE scope IN {{scopes:Array(String)}})"
    stages = Template(sql("scorecard_stages", config)).substitute(snapshot=chosen, filters="1")
    # rows as tuples, in scorecard_stages.sql's column order (a dict per row: ~0.3 s of 100,000 rows)
    for scope, period, process, stage, met, measured, p50_s, p90_s in store.client.query(
        stages, parameters=parameters | base
    ).result_rows:
        figure = of(scope, period)
        figure["stage_met"] += met  # over every stage: the sums of the stages' (scorecard_stages.sql)
        figure["stage_measured"] += measured
        figure["stages"].append(StageFigures(process=process, stage=stage, met=met, measured=measured,
                                             adherence=met / measured if measured else None,
                                             p50_s=_seconds(p50_s), p90_s=_seconds(p90_s)))  # fmt: skip
    # end to end: the Overview's definition, grouped by (period, scope) carried in the label it groups by
    # (every scope: figures.sla_adherence takes no parameter of ours; the groups not shown are dropped)
    labelled = f"(SELECT *, concat(period, '|', scope) AS stage FROM {store.table(table)})"
    groups = figures.sla_adherence(store, config, labelled, now, previous_start, group=("stage",))
    for group in groups:
        period, scope = group.labels["stage"].split("|", 1)
        if (scope, period) in values:
            values[(scope, period)]["end_to_end"] = EndToEnd(
                met=group.met, missed=group.missed, pending=group.pending, measured=group.measured,
                adherence=group.adherence,
            )  # fmt: skip
    rows = store.client.query(sql("scorecard_exceptions"), parameters=base | {"queue": queue}).named_results()
    for row in rows:
        figure = of(row["scope"], row["period"])
        if row["figure"] == "exceptions":
            figure["exceptions"][row["name"]] = int(row["value"])
        elif row["figure"] == "mismatches":
            figure["mismatches"][row["name"] or "(whole)"] = int(row["value"])
        else:
            figure["affected"] += int(row["transactions"])
            figure["affected_without_amount"] += int(row["without_amount"])
            if int(row["transactions"]) > int(row["without_amount"]):
                figure["money_affected"][row["name"]] = float(row["value"])
    for figure in values.values():
        measured = figure["stage_measured"]
        figure["stage_adherence"] = figure["stage_met"] / measured if measured else None
    return {place: PeriodFigures(**figure) for place, figure in values.items()}


def _seconds(value: object) -> float | None:
    return None if value is None or value != value else float(value)  # type: ignore[arg-type]


def csv_rows(cards: Scorecards) -> list[dict[str, Any]]:
    """One flat row per scorecard (``biztrace scorecards --csv``): the period's figures, the previous
    period's and the difference; per stage its adherence, p50 and p90; exceptions per kind, mismatches
    per field, money affected per currency."""
    stages = sorted({(s.process, s.stage) for row in cards.rows for s in row.current.stages + row.previous.stages})
    kinds = sorted({k for row in cards.rows for k in (*row.current.exceptions, *row.previous.exceptions)})
    fields = sorted({k for row in cards.rows for k in (*row.current.mismatches, *row.previous.mismatches)})
    currencies = sorted({c for row in cards.rows for c in (*row.current.money_affected, *row.previous.money_affected)})
    out = []
    for row in cards.rows:
        now, before = row.current, row.previous
        flat: dict[str, Any] = {
            cards.by: row.name, "transactions": now.transactions, "transactions_previous": before.transactions,
            "stuck": now.stuck, "failed": now.failed, "dead_letter": now.dead_letter, "complete": now.complete,
            "end_to_end_adherence": now.end_to_end.adherence,
            "end_to_end_adherence_previous": before.end_to_end.adherence, "end_to_end_trend": row.trend.end_to_end,
            "stage_sla_adherence": now.stage_adherence, "stage_sla_adherence_previous": before.stage_adherence,
            "stage_sla_trend": row.trend.stage_sla,
        }  # fmt: skip
        for process, stage in stages:
            figure = next((s for s in now.stages if (s.process, s.stage) == (process, stage)), None)
            flat[f"{process}/{stage} adherence"] = figure.adherence if figure else None
            flat[f"{process}/{stage} p50_s"] = figure.p50_s if figure else None
            flat[f"{process}/{stage} p90_s"] = figure.p90_s if figure else None
        for kind in kinds:
            flat[f"exceptions {kind}"] = now.exceptions.get(kind, 0)
        for field in fields:
            flat[f"mismatches {field}"] = now.mismatches.get(field, 0)
        for currency in currencies:
            flat[f"money affected {currency or '(none)'}"] = now.money_affected.get(currency, 0.0)
            flat[f"money affected {currency or '(none)'} previous"] = before.money_affected.get(currency, 0.0)
        out.append(flat)
    return out
