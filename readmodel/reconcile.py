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

from biztrace.config import KEY_COLUMNS, AlertsConfig, Reconciliation
from biztrace.readmodel.transactions import sql
from biztrace.store import Store

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

    @property
    def system_at_fault(self) -> str:
        """The left system when it never reported its side, otherwise the right one."""
        return self.left_system if self.field == "presence" and self.left is None else self.right_system


def _parameters(store: Store, config: AlertsConfig, rule: Reconciliation, now: datetime, since: datetime) -> dict:
    process = config.processes[rule.process]
    right_stage = next(s for s in process.stages if s.name == rule.right.stage)
    currencies = sorted(rule.tolerance_by_currency)
    return {
        "db": store.database,
        "now": now,
        "since": since,
        "process": rule.process,
        "key_col": KEY_COLUMNS[process.key],
        "match_col": KEY_COLUMNS[rule.match_on or process.key],
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
        "match_keys": [],
        "channel_filter": "",
        "flag": False,
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


def _judge(store: Store, parameters: dict, period: Period) -> list[dict]:
    """One pass over the rule's hops: its parity rows, each with the match keys of its mismatched pairs
    when ``parameters["flag"]`` is set."""
    query = Template(sql("reconcile_parity")).substitute(bucket=BUCKETS[period], pairs=sql("reconcile"))
    return list(store.client.query(query, parameters=parameters).named_results())


def _details(store: Store, check: Reconciliation, parameters: dict, flagged: list[str]) -> list[Mismatch]:
    """The flagged pairs judged again on their own hops, with both values and the evidence spans."""
    query = Template(sql("reconcile_mismatches")).substitute(pairs=sql("reconcile"))
    found = []
    for row in store.client.query(query, parameters=parameters | {"match_keys": flagged}).named_results():
        field = row["field"]
        value = {"amount": ("left_amount", "right_amount"), "quantity": ("left_quantity", "right_quantity"),
                 "status": ("left_status", "right_status")}.get(field)  # fmt: skip
        left = row[value[0]] if value and row["has_left"] else None
        right = row[value[1]] if value and row["has_right"] else None
        found.append(Mismatch(
            rule=check.name, process=check.process, key=row["key"], match_key=row["match_key"], field=field,
            stage=check.right.stage, left_system=row["left_system"] or (check.left.system or ""),
            right_system=row["right_system"] or (check.right.system or ""), left=left, right=right,
            currency=row["currency"], channel=row["channel"], since=row["last_at"], evidence=list(row["evidence"]),
        ))  # fmt: skip
    return found


def _flagged(rows: list[dict]) -> list[str]:
    return [match_key for row in rows for match_key in row["flagged"]]


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
    """Every disagreement at ``now`` among observations since ``since`` (default: 90 days).

    Per rule, one pass over its hops finds the mismatched pairs (reading only what judging needs);
    a second pass reads the hops of those pairs alone for their keys, systems and evidence.
    """
    since = since or now - timedelta(days=90)
    found = []
    for check in _rules(config, rule, process):
        parameters = _parameters(store, config, check, now, since) | {"keys": keys or [], "flag": True}
        flagged = _flagged(_judge(store, parameters, "month"))
        if flagged:
            found.extend(_details(store, check, parameters, flagged))
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
    rows: list[ParityRow] = []
    for check in _rules(config, rule, process):
        parameters = _parameters(store, config, check, now, since) | {"channel_filter": channel or ""}
        rows.extend(_parity_row(check, row) for row in _judge(store, parameters, period))
    return rows


def _parity_row(check: Reconciliation, row: dict) -> ParityRow:
    return ParityRow(
        rule=check.name, period=row["period"], channel=row["channel"],
        left_system=check.left.system or check.left.stage, right_system=check.right.system or check.right.stage,
        pairs=row["pairs"], left_count=row["left_count"], right_count=row["right_count"],
        left_total=round(row["left_total"], 2), right_total=round(row["right_total"], 2),
        variance=round(row["right_total"] - row["left_total"], 2), left_quantity=row["left_quantity"],
        right_quantity=row["right_quantity"], mismatched=row["mismatched_pairs"],
        mismatch_rate=row["mismatched_pairs"] / row["pairs"] if row["pairs"] else 0.0,
        right_within_sla_share=row["within_sla"],
    )  # fmt: skip


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
                      "key_col": KEY_COLUMNS[definition.key], "channel_filter": channel or "",
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

    Each rule's hops are judged once for both the parity table and the mismatch list (the parity
    pass flags the mismatched pairs; only their hops are read again, for the details).
    """
    since = since or now - timedelta(days=30)
    table: list[ParityRow] = []
    found: list[Mismatch] = []
    for check in _rules(config, rule, process):
        parameters = _parameters(store, config, check, now, since) | {"channel_filter": channel or "", "flag": True}
        judged = _judge(store, parameters, period)
        table.extend(_parity_row(check, row) for row in judged)
        if flagged := _flagged(judged):
            found.extend(
                m for m in _details(store, check, parameters, flagged) if channel is None or m.channel == channel
            )
    systems = system_parity(store, config, now, since=since, period=period, process=process, channel=channel,
                            system=system)  # fmt: skip
    return {"parity": table, "systems": systems, "mismatches": found}
