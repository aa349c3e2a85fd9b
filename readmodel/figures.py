"""Business figures that several surfaces show, each defined once: SQL plus a typed result.

The dashboard's Overview and Reconciliation pages, the alert rules (``sla_adherence``,
``mismatch_rate``) and the consistency tests call these functions and compute none of them
on their own.

**End-to-end SLA adherence** (the Overview's "End-to-end SLA adherence", the ``sla_adherence``
rule's value, ``sql/sla_adherence.sql``):

* *Population*: the transactions of every process that has an ``end_to_end`` SLA, started in
  the window ``[window_start, now]`` (the dashboard's time range; the rule's ``window``).
* *Numerator* (met): transactions completed within the end-to-end SLA of their process
  (``completed_at - started_at <= end_to_end.within``).
* *Denominator* (measured): met plus missed. Missed: completed later than the SLA; or **stuck**
  (a stage is overdue against its SLA at ``now``: counted as missed at once, because a stuck
  transaction has already broken its SLAs, and waiting for its end-to-end deadline would hide it
  for weeks); or not complete and past its end-to-end deadline (``started_at + SLA < now``),
  whatever its state.
* *Not counted* (pending): every other unfinished transaction, that is, **in flight**, failed or
  dead-lettered and still within its end-to-end deadline: its outcome is not known yet. Failures
  are the error-rate figure's business.
* Adherence = met / measured; none when nothing was measured.

**Mismatch rate** (the Reconciliation page's headline, the ``mismatch_rate`` rule's value): of
the pairs that the process's reconciliation rules judged in the window (every period and channel
together), the share that disagree: the sum of mismatched pairs over the sum of pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from string import Template
from typing import Any

from clickhouse_connect.driver.binding import quote_identifier
from pydantic import BaseModel, Field

from biztrace.config import AlertsConfig
from biztrace.readmodel import calendars
from biztrace.readmodel.reconcile import ParityRow
from biztrace.readmodel.transactions import process_parameters, sql
from biztrace.store import Store

SLA_LABELS = ("process", "stage", "system", "channel", "priority")
"""What SLA adherence may be grouped and filtered by (columns of ``sql/snapshot.sql``)."""


class SlaAdherence(BaseModel):
    """End-to-end SLA adherence of one group (see the module's definition)."""

    labels: dict[str, str] = Field(description="the group, e.g. {'process': 'order_to_cash'}")
    met: int = Field(description="completed within the end-to-end SLA")
    missed: int = Field(description="completed late, stuck, or unfinished past the end-to-end deadline")
    pending: int = Field(description="unfinished and within the deadline: not counted")
    measured: int = Field(description="met + missed")
    adherence: float | None = Field(description="met / measured; None when nothing was measured")
    missed_keys: list[str] = Field(description="up to 50 keys of missed transactions, the first in key order")


def sla_parameters(config: AlertsConfig) -> dict[str, Any]:
    """The end-to-end SLAs as ``sql/sla_adherence.sql``'s parameters."""
    timed = {name: p.end_to_end.within.total_seconds() for name, p in config.processes.items() if p.end_to_end}
    return {"e2e_processes": list(timed), "e2e_s": list(timed.values()), **calendars.end_to_end_parameters(config)}


def sla_adherence_sql(config: AlertsConfig, snapshot: str, group: Sequence[str], filters: str = "1") -> str:
    """``sql/sla_adherence.sql`` over ``snapshot`` grouped by the columns ``group``: the statement of
    :func:`sla_adherence`, for a statement that reads it as a subquery (the scorecards group it by a
    column of their own). Its parameters: ``now``, ``window_start`` and :func:`sla_parameters`."""
    return Template(sql("sla_adherence", config)).substitute(
        group=", ".join(quote_identifier(label) for label in group) or "tuple()", snapshot=snapshot, filters=filters
    )


def sla_adherence(
    store: Store,
    config: AlertsConfig,
    snapshot: str,
    now: datetime,
    window_start: datetime,
    *,
    group: Sequence[str] = ("process",),
    process: str | None = None,
    stage: str | None = None,
    system: str | None = None,
    channel: str | None = None,
    priority: str | None = None,
    snapshot_parameters: dict[str, Any] | None = None,
) -> list[SlaAdherence]:
    """End-to-end SLA adherence per ``group`` at ``now`` over the transactions started since
    ``window_start``, as the module defines it.

    Args:
        snapshot: a quoted table name, or a parenthesised subquery, shaped like ``sql/snapshot.sql``
            (the alert pass's snapshot, the dashboard's); ``snapshot_parameters``: what such a
            subquery takes (its ``now`` must be ``now``; its configuration ``config`` or one narrowed
            from it, as ``exceptions.narrowed`` does).
        group: labels of :data:`SLA_LABELS` to group by (empty: one group).
        process, stage, system, channel, priority: only those transactions.

    Raises:
        ValueError: a label outside :data:`SLA_LABELS`.
    """
    unknown = [label for label in group if label not in SLA_LABELS]
    if unknown:
        raise ValueError(f"SLA adherence groups by {', '.join(SLA_LABELS)}; not {unknown[0]!r}")
    wanted = {"process": process, "stage": stage, "system": system, "channel": channel, "priority": priority}
    filters = ["1"] + [f"{quote_identifier(label)} = {{f_{label}:String}}" for label, v in wanted.items() if v]
    query = sla_adherence_sql(config, snapshot, group, " AND ".join(filters))
    # a subquery's own parameters win (it may be of a narrowed configuration: its stage arrays are its own)
    parameters = {"now": now, "window_start": window_start, **sla_parameters(config), **(snapshot_parameters or {})}
    parameters.update({f"f_{label}": value for label, value in wanted.items() if value})
    found = []
    for row in store.client.query(query, parameters=parameters).named_results():
        adherence = row["adherence"]
        found.append(SlaAdherence(
            labels={label: str(row[label]) for label in group}, met=row["met"], missed=row["missed"],
            pending=row["pending"], measured=row["measured"], adherence=None if adherence is None else float(adherence),
            missed_keys=list(row["missed_keys"]),
        ))  # fmt: skip
    return found


def overall(groups: Sequence[SlaAdherence]) -> SlaAdherence:
    """The groups together (their counts summed): what one group over all of them would give."""
    met = sum(g.met for g in groups)
    missed = sum(g.missed for g in groups)
    return SlaAdherence(
        labels={}, met=met, missed=missed, pending=sum(g.pending for g in groups), measured=met + missed,
        adherence=met / (met + missed) if met + missed else None,
        missed_keys=sorted(k for g in groups for k in g.missed_keys)[:50],
    )  # fmt: skip


class StageSla(BaseModel):
    """How often one stage of one process, at one priority, was reached within its SLA."""

    process: str
    stage: str
    priority: str
    met: int = Field(description="reached within the stage's SLA (with its priority or channel override)")
    measured: int = Field(description="reached, or stuck waiting for it")
    adherence: float


def stage_sla(store: Store, config: AlertsConfig, snapshot: str, *, system: str | None = None) -> list[StageSla]:
    """Stage SLA adherence per process, stage and priority over ``snapshot`` (a quoted table shaped like
    the dashboard's snapshot), ``sql/stage_sla.sql``; only transactions whose system at fault is
    ``system``, when given."""
    filters = "system = {f_system:String}" if system else "1"
    query = Template(sql("stage_sla", config)).substitute(snapshot=snapshot, filters=filters)
    parameters = {**process_parameters(config), "f_system": system or ""}
    return [StageSla(**row) for row in store.client.query(query, parameters=parameters).named_results()]


class MismatchRate(BaseModel):
    """Of the pairs judged in the window, the share that disagree (see the module's definition)."""

    scope: str = Field(description="the process (or the rule) the pairs belong to")
    pairs: int
    mismatched: int
    rate: float = Field(description="mismatched / pairs (0 when there is no pair)")


def mismatch_rates(config: AlertsConfig, parity: Sequence[ParityRow], by: str = "process") -> list[MismatchRate]:
    """Mismatch rate per process (``by="process"``) or per reconciliation rule (``by="rule"``), every
    period and channel of ``parity`` (:func:`reconcile.parity` rows) together."""
    process_of = {rule.name: rule.process for rule in config.reconciliation}
    totals: dict[str, list[int]] = {}
    for row in parity:
        entry = totals.setdefault(process_of.get(row.rule, "") if by == "process" else row.rule, [0, 0])
        entry[0] += row.pairs
        entry[1] += row.mismatched
    return [
        MismatchRate(scope=scope, pairs=pairs, mismatched=mismatched, rate=mismatched / pairs if pairs else 0.0)
        for scope, (pairs, mismatched) in totals.items()
    ]


class Figures(BaseModel):
    """The headline figures of a window, as the Overview, the API, ``/metrics`` and ``biztrace figures`` show them."""

    window_start: datetime
    now: datetime
    sla_adherence: list[SlaAdherence] = Field(description="end-to-end SLA adherence per process")
    sla_adherence_overall: SlaAdherence
    mismatch_rates: list[MismatchRate] = Field(description="per process, over the window's judged pairs")


def headline(store: Store, config: AlertsConfig, now: datetime, window_start: datetime) -> Figures:
    """SLA adherence (per process and overall) and mismatch rates for the window ``[window_start, now]``.

    Beside the alert loop (``biztrace up``), the transactions are its kept snapshot's, brought to ``now``
    (:func:`snapshots.aged_sql`; the dashboard reads the same), instead of every one classified again."""
    from biztrace.readmodel import reconcile, rules, snapshots
    from biztrace.readmodel.transactions import query_parameters

    with snapshots.published(store, config, now) as kept:
        if kept is None:
            with rules.snapshot(store, config, now) as snapshot:
                groups = sla_adherence(store, config, snapshot, now, window_start)
        else:
            aged, parameters = f"({snapshots.aged_sql(config, kept.table)})", query_parameters(store, config, now)
            groups = sla_adherence(store, config, aged, now, window_start, snapshot_parameters=parameters)
    parity = reconcile.parity(store, config, now, since=window_start, period="month")
    return Figures(window_start=window_start, now=now, sla_adherence=groups, sla_adherence_overall=overall(groups),
                   mismatch_rates=mismatch_rates(config, parity))  # fmt: skip
