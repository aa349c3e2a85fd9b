"""Alert rules evaluated as SQL in ClickHouse: each rule kind is a file in ``sql/rules``.

A pass snapshots every transaction's state once (a Memory table), then runs each rule's
query: over the snapshot for transaction rules, over ``biz_hops`` for hop rules. A rule
returns one row per label group with its value and up to 50 transaction keys behind it: the first 50
in key order, so that every pass over the same data records the same ones (the alert's affected
transactions, its value at risk).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from string import Template
from typing import Any

from clickhouse_connect.driver.binding import quote_identifier
from pydantic import BaseModel, Field

from biztrace.config import REPORTED_LABELS, AlertsConfig, Rule
from biztrace.readmodel import figures
from biztrace.readmodel.errors import QueryError
from biztrace.readmodel.transactions import KeysMode, process_parameters, query_parameters, resolution, sql
from biztrace.store import Store

logger = logging.getLogger(__name__)


class RuleResult(BaseModel):
    """One label group's value for one rule at one pass."""

    rule: str
    labels: dict[str, str]
    value: float
    active: bool
    keys: list[str]
    sample: int | None = Field(None, description="what a share or percentile counted (config.SAMPLED says what); "
                               "None for a count")  # fmt: skip


def snapshot_sql(config: AlertsConfig | None = None, *, keys: KeysMode = True, resolved: bool = False) -> str:
    """Every transaction's state as the rules read it (``sql/snapshot.sql`` over ``sql/transactions.sql``);
    ``keys``: how it reads ``{keys}`` (:data:`biztrace.readmodel.transactions.KeysMode`); ``resolved``: as
    :func:`biztrace.readmodel.transactions.sql`'s."""
    return Template(sql("snapshot")).substitute(
        transactions=sql("transactions", config, keys=keys, resolved=resolved),
        system_at_fault=sql("system_at_fault", config),
    )


@contextmanager
def snapshot(store: Store, config: AlertsConfig, now: datetime) -> Iterator[str]:
    """A Memory table with every transaction's state at ``now``, dropped on exit; yields its quoted name."""
    query = snapshot_sql(config, keys=False)
    with store.memory_table(query, query_parameters(store, config, now), "biztrace_snapshot") as name:
        yield store.table(name)


READS_HOPS = ("duplicate_rate", "dead_letters", "hop_latency_p95", "mismatch_rate")
"""The rule kinds that read the hops (placed through the key graph: ``sql/business_hops.sql``), not the snapshot."""


@contextmanager
def shared_resolution(store: Store, config: AlertsConfig) -> Iterator[dict]:
    """The key graph's answers for the hops lacking their process's key (:func:`transactions.resolution`), in
    a table every rule of a pass that reads the hops joins instead of computing them in its own statement
    (planning them cost ~50 ms a statement, ~0.35 s with mapping rules); yields the parameters naming it
    (``{}`` when no rule reads the hops)."""
    if not any(rule.kind in READS_HOPS for rule in config.rules):
        yield {}
        return
    base = process_parameters(config) | {"db": store.database, "keys": []}
    with ExitStack() as stack:
        try:
            resolved = stack.enter_context(resolution(store, config, base, False))
        except Exception as exc:  # noqa: BLE001 - each rule then computes them itself (and fails alone if it must)
            logger.warning("the key graph's answers not shared by the rules: %s", str(exc).splitlines()[0])
            resolved = {}
        yield resolved


def _query(rule: Rule, snapshot_table: str, config: AlertsConfig | None = None, *, resolved: bool = False) -> str:
    group = rule.grouping()
    allowed = REPORTED_LABELS[rule.kind]  # checked at load too; kept here for rules built in code
    if unknown := sorted(set(group) - set(allowed)):
        raise QueryError(f"rule {rule.name}: cannot group by {', '.join(map(repr, unknown))}; a {rule.kind} rule "
                         f"groups by {', '.join(sorted(allowed))} only")  # fmt: skip
    columns = ", ".join(quote_identifier(label) for label in group) or "tuple()"
    filters = ["1"]
    for label in ("process", "stage", "system"):
        if getattr(rule, label) is not None:
            filters.append(f"{quote_identifier(label)} = {{{label}:String}}")
    return Template(sql(f"rules/{rule.kind}", config, keys=False, resolved=resolved)).substitute(
        group=columns, snapshot=snapshot_table, filters=" AND ".join(filters)
    )


def _mismatch_rate(
    store: Store, config: AlertsConfig, rule: Rule, now: datetime, resolved: dict | None = None
) -> list[RuleResult]:
    """Share of reconciled pairs that disagree, per process (:func:`figures.mismatch_rates`)."""
    from biztrace.readmodel import reconcile

    # the parity and the mismatched pairs of the window: in the loop's pass, read from the pairs its bookkeeping
    # judged and kept just before (reconcile.report), else one judging pass per reconciliation rule
    found = reconcile.report(store, config, now, since=now - rule.window, process=rule.process, period="day",
                             systems=False, resolved=resolved)  # fmt: skip
    parity = found["parity"]
    # each process's transactions with a finding, each once, in key order (as every rule's keys: distinct,
    # and never '' for a pair no transaction owns yet)
    keys: dict[str, set[str]] = {}
    for mismatch in found["mismatches"]:
        if mismatch.key:
            keys.setdefault(mismatch.process, set()).add(mismatch.key)
    return [
        RuleResult(
            rule=rule.name,
            labels={"process": rate.scope},
            value=rate.rate,
            active=rate.rate > rule.threshold and rate.pairs >= rule.min_sample,
            keys=sorted(keys.get(rate.scope, set()))[:50],
            sample=rate.pairs,
        )  # fmt: skip
        for rate in figures.mismatch_rates(config, parity, by="process")
    ]


def _sla_adherence(
    store: Store, config: AlertsConfig, rule: Rule, now: datetime, snapshot_table: str
) -> list[RuleResult]:
    """End-to-end SLA adherence per group (:func:`figures.sla_adherence`); groups with nothing measured
    have no value."""
    found = figures.sla_adherence(store, config, snapshot_table, now, now - rule.window, group=rule.grouping(),
                                  process=rule.process, stage=rule.stage, system=rule.system)  # fmt: skip
    return [
        RuleResult(
            rule=rule.name,
            labels=group.labels,
            value=group.adherence,
            active=group.adherence < rule.threshold and group.measured >= rule.min_sample,
            keys=group.missed_keys,
            sample=group.measured,
        )  # fmt: skip
        for group in found
        if group.adherence is not None
    ]


def evaluate_rule(
    store: Store, config: AlertsConfig, rule: Rule, now: datetime, snapshot_table: str, resolved: dict | None = None
) -> list[RuleResult]:
    """One rule's groups and values at ``now``; ``resolved``: the pass's :func:`shared_resolution`.

    Raises:
        QueryError: the rule cannot be evaluated (the message names the rule).
    """
    parameters: dict[str, Any] = {
        **process_parameters(config),
        "db": store.database,
        "now": now,
        "window_start": now - rule.window,
        "process": rule.process or "",
        "stage": rule.stage or "",
        "system": rule.system or "",
    }
    if rule.kind in ("mismatch_rate", "sla_adherence"):
        try:
            if rule.kind == "mismatch_rate":
                return _mismatch_rate(store, config, rule, now, resolved or None)
            return _sla_adherence(store, config, rule, now, snapshot_table)
        except Exception as exc:  # name the rule, keep the first line
            raise QueryError(f"rule {rule.name} ({rule.kind}) failed: {str(exc).splitlines()[0]}") from exc
    try:
        result = store.client.query(_query(rule, snapshot_table, config, resolved=bool(resolved)),
                                    parameters=parameters | (resolved or {}))  # fmt: skip
    except QueryError:
        raise
    except Exception as exc:  # ClickHouse errors: name the rule, keep the first line
        raise QueryError(f"rule {rule.name} ({rule.kind}) failed in ClickHouse: {str(exc).splitlines()[0]}") from exc
    group = rule.grouping()
    found = []
    for row in result.named_results():
        value = float(row["value"])
        sample = int(row["sample"]) if "sample" in row else None  # the rates' and percentiles' count
        active = value < rule.threshold if rule.fires_below else value > rule.threshold
        active = active and (sample is None or sample >= rule.min_sample)
        labels = {label: str(row[label]) for label in group}
        found.append(RuleResult(rule=rule.name, labels=labels, value=value, active=active, keys=list(row["keys"]),
                                sample=sample))  # fmt: skip
    return found


def evaluate(
    store: Store, config: AlertsConfig, now: datetime, snapshot_table: str | None = None
) -> tuple[list[RuleResult], list[str]]:
    """Every rule at ``now``; returns results and, separately, the rules that failed (with why).

    A failing rule never stops the others. ``snapshot_table``: the pass's :func:`snapshot`, if
    the caller holds one (otherwise one is made for this call).
    """
    if snapshot_table is None:
        with snapshot(store, config, now) as table:
            return evaluate(store, config, now, table)

    def judged(rule: Rule, resolved: dict) -> Callable[[Store], tuple[list[RuleResult], str | None]]:
        def judge(lane: Store) -> tuple[list[RuleResult], str | None]:
            try:
                return evaluate_rule(lane, config, rule, now, snapshot_table, resolved), None
            except QueryError as exc:
                return [], str(exc)

        return judge

    # side by side (each rule's statement is planned alone), answered in the configuration's order
    with shared_resolution(store, config) as resolved:
        answers = store.side_by_side([judged(rule, resolved) for rule in config.rules])
    results = [result for found, _ in answers for result in found]
    return results, [error for _, error in answers if error is not None]
