"""SLA scorecards: per customer, trading partner, channel or system, how a period went against the
one just before it (as long, ending where it starts).

Every figure is read model's own definition, computed in ClickHouse over one snapshot of the
transactions of both periods (``sql/scorecard_snapshot.sql`` over ``sql/transactions.sql``, the
Overview's columns), each judged at ``now``, in one statement (``sql/scorecard_rows.sql``) that
writes the scorecards as JSON:

* *transactions*: started in the period, by state;
* *end-to-end SLA adherence*: :func:`biztrace.readmodel.figures.sla_adherence` (the Overview's);
* *stage SLA adherence* per process and stage and over every stage, and the stage times' p50 and
  p90: ``sql/stage_sla_rows.sql``, the measurements the Overview's heat map counts
  (``sql/scorecard_stages.sql``);
* *exceptions* by kind and *mismatches* by field: the exception queue
  (:func:`biztrace.readmodel.exceptions.queue`, every state), whose mismatches are
  :func:`biztrace.readmodel.reconcile.mismatches`; *money affected*: the value
  (``transactions.sql``'s amount) of the transactions with at least one of them, per currency;
* *trend*: this period's figures less the previous period's.

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

from pydantic import BaseModel, Field, TypeAdapter

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


_ROWS = TypeAdapter(list[Scorecard])
"""The rows as ``sql/scorecard_rows.sql`` writes them (a JSON array of scorecards)."""


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
        base: dict[str, Any] = {"db": store.database, "snapshot": table, "limit": limit}
        total = int(store.client.command(f"SELECT any(scopes) FROM ({sql('scorecard_scopes')})", parameters=base))
        rows: list[Scorecard] = []
        if total:
            if kept is None:  # the detection reads the transactions classified above: not classified a second time
                queue = exceptions.queue(store, scoped, now, since=previous_start, classified=store.table(table))
            else:  # the pass's detection, every process's (the snapshot's transactions pick theirs)
                queue = exceptions.pass_queue(store, config, asked, kept.found)
            rows = _rows(store, scoped, table, parameters | base, previous_start, stack.enter_context(queue))
        return Scorecards(by=by, process=process, now=now, start=start, previous_start=previous_start,
                          scopes=total, rows=rows)  # fmt: skip


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while the scorecards are built, and what was built moved
    to its oldest generation after: the collections that building ~250,000 small objects triggers
    traverse every live object of the process (measured: 1.5 s of 2.8 s in Python for 10,000
    scorecards), and the first young collection once it is enabled again traversed them all (~0.15 s).
    These objects make no cycles: reference counting frees them when the answer is dropped; what else
    was young then (a cycle of garbage included) is collected at the next full collection. Enabled
    again after, if it was (a thread that paused it meanwhile only pauses it for less time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()  # every tracked object to the permanent generation, and back to the oldest one
            gc.unfreeze()
            gc.enable()


def _rows(
    store: Store, config: AlertsConfig, table: str, parameters: dict[str, Any], previous_start: datetime, queue: str
) -> list[Scorecard]:
    """The scorecards of the chosen scopes, in their order, from one statement, ``sql/scorecard_rows.sql``,
    read as JSON and validated at once (``queue``: the exception queue's table). Assembled in Python, one
    model per stage and period, 10,000 scorecards took ~1.3 s of the ~3 s they cost; validated from JSON,
    ~0.3 s."""
    # end to end: the Overview's definition, grouped by (scope, period) in the label it groups by
    labelled = "(SELECT *, tuple(scope, period) AS stage FROM chosen)"
    query = Template(sql("scorecard_rows")).substitute(
        scopes=sql("scorecard_scopes"),
        stages=Template(sql("scorecard_stages", config)).substitute(snapshot="chosen", filters="1"),
        end_to_end=figures.sla_adherence_sql(config, labelled, ("stage",)),
    )
    found = store.client.raw_query(
        query,
        parameters=parameters | figures.sla_parameters(config) | {"queue": queue, "window_start": previous_start},
        fmt="JSONEachRow",
        # one JSON array; 64-bit integers as numbers (ClickHouse quotes them by default); tuples as objects; a
        # name that is not UTF-8 (a producer's bytes) with its bad sequences replaced, as JSON requires
        settings={
            "output_format_json_array_of_rows": 1,
            "output_format_json_quote_64bit_integers": 0,
            "output_format_json_named_tuples_as_objects": 1,
            "output_format_json_validate_utf8": 1,
        },
    )
    return _ROWS.validate_json(found)


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
