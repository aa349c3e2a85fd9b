"""Cross-system reconciliation from the traces, computed in ClickHouse.

Each rule of the configuration's ``reconciliation:`` pairs two systems' observations
(``sql/reconcile.sql``) and flags what disagrees beyond tolerance. The mismatches become
``mismatch`` exceptions and feed the ``mismatch_rate`` rule; the parity report sums the
pairs per period and channel (counts, totals, variance, share posted within SLA).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from string import Template
from typing import Literal

from pydantic import BaseModel, Field

from alerts.config import AlertsConfig, Reconciliation
from alerts.transactions import sql
from biztrace.store import Store

_COLUMNS = {"order.id": 1, "customer.id": 2, "invoice.id": 3, "shipment.id": 4, "return.id": 5}
Period = Literal["hour", "day", "week", "month"]
BUCKETS: dict[str, str] = {
    "hour": "toStartOfHour",
    "day": "toStartOfDay",
    "week": "toMonday",
    "month": "toStartOfMonth",
}
"""The ClickHouse function that truncates a time to each period."""


class Mismatch(BaseModel):
    """Two systems disagreeing about one transaction."""

    rule: str
    process: str
    key: str = Field(description="the transaction's key (the process key)")
    match_key: str = Field(description="what the observations were paired by, e.g. the shipment id")
    field: Literal["amount", "quantity", "status", "presence"]
    stage: str = Field(description="the right side's stage (where the disagreement shows)")
    left_system: str
    right_system: str
    left: float | str | None = Field(description="the left system's value (None when absent)")
    right: float | str | None
    currency: str
    channel: str
    since: datetime
    evidence: list[str]


def _parameters(store: Store, config: AlertsConfig, rule: Reconciliation, now: datetime, since: datetime) -> dict:
    process = config.processes[rule.process]
    right_stage = next(s for s in process.stages if s.name == rule.right.stage)
    currencies = sorted(rule.tolerance_by_currency)
    return {
        "db": store.database,
        "now": now,
        "since": since,
        "process": rule.process,
        "key_column": _COLUMNS[process.key],
        "match_column": _COLUMNS[rule.match_on or process.key],
        "left_stage": rule.left.stage,
        "left_system": rule.left.system or "",
        "right_stage": rule.right.stage,
        "right_system": rule.right.system or "",
        "compare": rule.compare,
        "amount_abs": rule.tolerance.amount_abs,
        "amount_rel": rule.tolerance.amount_rel,
        "quantity_abs": rule.tolerance.quantity_abs,
        "quantity_rel": rule.tolerance.quantity_rel,
        "currencies": currencies,
        "amount_abs_by_currency": [rule.tolerance_by_currency[c].amount_abs for c in currencies],
        "status_from": list(rule.status_map),
        "status_to": list(rule.status_map.values()),
        "presence": rule.presence,
        "grace_s": int(rule.grace.total_seconds()),
        "right_sla_s": int(right_stage.sla.within.total_seconds()) if right_stage.sla else 2**31,
        "lookback_s": _lookback_s(right_stage),
        "keys": [],
    }


def _lookback_s(right_stage) -> int:
    """How far before ``since`` to look for the left side of a pair whose right side is in the window:
    twice the right side's SLA (at least an hour, at most 90 days). Without it an invoice posted just
    inside the window would look like it had no shipment; one later than twice its SLA is flagged."""
    sla_s = right_stage.sla.within.total_seconds() if right_stage.sla else 90 * 86400
    return int(min(max(2 * sla_s, 3600), 90 * 86400))


def _rules(config: AlertsConfig, rule: str | None, process: str | None) -> list[Reconciliation]:
    return [r for r in config.reconciliation if (rule is None or r.name == rule) and (process is None or
                                                                                    r.process == process)]  # fmt: skip


def mismatches(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    since: datetime | None = None,
    rule: str | None = None,
    process: str | None = None,
    keys: list[str] | None = None,
) -> list[Mismatch]:
    """Every disagreement at ``now`` among observations since ``since`` (default: 90 days)."""
    since = since or now - timedelta(days=90)
    found = []
    for check in _rules(config, rule, process):
        query = f"SELECT * FROM ({sql('reconcile')}) WHERE mismatched"
        if keys:  # the query reads only these keys' hops; the pairs are then narrowed to them
            query += " AND has({keys:Array(String)}, key)"
        parameters = _parameters(store, config, check, now, since) | {"keys": keys or []}
        rows = list(store.client.query(query, parameters=parameters).named_results())
        evidence: dict[str, list[str]] = {}
        if rows:
            parameters["match_keys"] = [row["match_key"] for row in rows]
            evidence = dict(store.client.query(sql("evidence"), parameters=parameters).result_rows)
        for row in rows:
            field = row["field"]
            value = {"amount": ("left_amount", "right_amount"), "quantity": ("left_quantity", "right_quantity"),
                     "status": ("left_status", "right_status")}.get(field)  # fmt: skip
            left = row[value[0]] if value and row["has_left"] else None
            right = row[value[1]] if value and row["has_right"] else None
            found.append(Mismatch(
                rule=check.name, process=check.process, key=row["key"], match_key=row["match_key"], field=field,
                stage=check.right.stage, left_system=row["left_system"] or (check.left.system or ""),
                right_system=row["right_system"] or (check.right.system or ""), left=left, right=right,
                currency=row["currency"], channel=row["channel"], since=row["last_at"],
                evidence=list(evidence.get(row["match_key"], [])),
            ))  # fmt: skip
    return found


class ParityRow(BaseModel):
    """One rule's pairs in one period and channel."""

    rule: str
    period: datetime
    channel: str
    left_system: str
    right_system: str
    pairs: int
    left_count: int = Field(description="observations on the left (e.g. shipments)")
    right_count: int = Field(description="observations on the right (e.g. invoices)")
    left_total: float
    right_total: float
    variance: float = Field(description="right_total - left_total")
    left_quantity: float
    right_quantity: float
    mismatched: int
    mismatch_rate: float
    right_within_sla_share: float | None = Field(description="e.g. shipped orders posted to finance within SLA")


def parity(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    since: datetime | None = None,
    period: Period = "day",
    rule: str | None = None,
    process: str | None = None,
    channel: str | None = None,
) -> list[ParityRow]:
    """Per period and channel, each rule's counts, totals, variance and mismatch rate."""
    since = since or now - timedelta(days=30)
    bucket = BUCKETS[period]
    rows: list[ParityRow] = []
    for check in _rules(config, rule, process):
        query = f"""
            SELECT toDateTime({bucket}(observed_at)) AS period, channel, count() AS pairs,
                   countIf(has_left) AS left_count, countIf(has_right) AS right_count,
                   sumIf(ifNull(left_amount, 0), has_left) AS left_total,
                   sumIf(ifNull(right_amount, 0), has_right) AS right_total,
                   sumIf(ifNull(left_quantity, 0), has_left) AS left_quantity,
                   sumIf(ifNull(right_quantity, 0), has_right) AS right_quantity,
                   countIf(mismatched) AS mismatched,
                   if(countIf(has_left) > 0, countIf(right_within_sla) / countIf(has_left), NULL) AS within_sla
            FROM ({sql("reconcile")})
            WHERE {{channel_filter:String}} = '' OR channel = {{channel_filter:String}}
            GROUP BY period, channel ORDER BY period, channel
        """
        parameters = _parameters(store, config, check, now, since) | {"channel_filter": channel or ""}
        for row in store.client.query(query, parameters=parameters).named_results():
            rows.append(ParityRow(
                rule=check.name, period=row["period"], channel=row["channel"],
                left_system=check.left.system or check.left.stage, right_system=check.right.system or check.right.stage,
                pairs=row["pairs"], left_count=row["left_count"], right_count=row["right_count"],
                left_total=round(row["left_total"], 2), right_total=round(row["right_total"], 2),
                variance=round(row["right_total"] - row["left_total"], 2), left_quantity=row["left_quantity"],
                right_quantity=row["right_quantity"], mismatched=row["mismatched"],
                mismatch_rate=row["mismatched"] / row["pairs"] if row["pairs"] else 0.0,
                right_within_sla_share=row["within_sla"],
            ))  # fmt: skip
    return rows


class SystemParityRow(BaseModel):
    """What one system saw in one period and channel."""

    process: str
    period: datetime
    system: str
    channel: str
    transactions: int = Field(description="distinct transactions the system reported (order-count parity)")
    events: int
    duplicate_events: int
    duplicate_rate: float


def system_parity(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    since: datetime | None = None,
    period: Period = "day",
    process: str | None = None,
    channel: str | None = None,
    system: str | None = None,
) -> list[SystemParityRow]:
    """Per period, system and channel: transactions seen and duplicate message rate."""
    since = since or now - timedelta(days=30)
    bucket = BUCKETS[period]
    query = Template(sql("system_parity")).substitute(bucket=bucket)
    rows = []
    for name, definition in config.processes.items():
        if process is not None and name != process:
            continue
        parameters = {"db": store.database, "now": now, "since": since, "process": name,
                      "key_column": _COLUMNS[definition.key], "channel_filter": channel or "",
                      "system_filter": system or ""}  # fmt: skip
        for row in store.client.query(query, parameters=parameters).named_results():
            rows.append(SystemParityRow(process=name, **row))
    return rows


def report(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    since: datetime | None = None,
    period: Period = "day",
    rule: str | None = None,
    process: str | None = None,
    channel: str | None = None,
    system: str | None = None,
) -> dict[str, list]:
    """The parity table, what each system saw, and the mismatched transactions.

    (Judging the pairs once into a Memory table for both was measured slower than judging twice.)
    """
    since = since or now - timedelta(days=30)
    table = parity(store, config, now, since=since, period=period, rule=rule, process=process, channel=channel)
    found = [m for m in mismatches(store, config, now, since=since, rule=rule, process=process)
             if channel is None or m.channel == channel]  # fmt: skip
    systems = system_parity(store, config, now, since=since, period=period, process=process, channel=channel,
                            system=system)  # fmt: skip
    return {"parity": table, "systems": systems, "mismatches": found}
