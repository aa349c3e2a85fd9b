"""What the dashboard's on-call and leader views ask beyond the alert loop's own records.

* :func:`alert_transactions`: every transaction behind an alert (the alert itself keeps 50),
  paged and counted, for the rules that read the pass's snapshot.
* :func:`alert_status`: whether an alert is silenced, acknowledged or inhibited now, from the
  stored silences and the configuration's inhibit rules (the alert loop's own matchers).

An alert is *acknowledged* when a silence made by the dashboard's "Acknowledge" action
(:data:`ACK_PREFIX` in its comment) mutes it: Alertmanager's way to say "somebody took it"
without a second table, recorded with the person and expiring on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from string import Template
from typing import Any

from clickhouse_connect.driver.binding import quote_identifier
from pydantic import BaseModel, Field

from biztrace.config import AlertsConfig
from biztrace.config.silences import Silence
from biztrace.readmodel.models import AlertInstance, inhibitor
from biztrace.readmodel.rules import snapshot_sql
from biztrace.readmodel.transactions import query_parameters, sql, transactions
from biztrace.store import Store

ACK_PREFIX = "acknowledged"
"""The comment of a silence made by acknowledging an alert starts with this."""

CONDITIONS = {
    "stuck_count": "state = 'stuck'",
    "stuck_share": "state = 'stuck'",
    "error_rate": "state = 'failed' AND last_at >= {window_start:DateTime64(9)}",
}
"""The rule kinds whose affected transactions are all listed, and which transactions they count."""

_LABELS = ("process", "stage", "system", "channel", "priority")


class AffectedRow(BaseModel):
    process: str
    key: str
    state: str
    stage: str
    system: str
    channel: str
    priority: str
    since: datetime | None
    amount: float | None = Field(None, description="the transaction's value at risk (CONVENTIONS)")
    currency: str = ""


class AffectedPage(BaseModel):
    """One page of the transactions behind an alert, how many there are in all, and their value at risk."""

    total: int
    rows: list[AffectedRow]
    at_risk: dict[str, float] = Field(default_factory=dict, description="currency -> summed value of every one")
    at_risk_counted: int = Field(0, description="transactions whose value the sum holds (at most AT_RISK_LIMIT)")


AT_RISK_LIMIT = 10_000
"""The value at risk is summed over at most this many affected transactions."""


def alert_transactions(
    store: Store, config: AlertsConfig, alert: AlertInstance, now: datetime, *, offset: int = 0, limit: int = 50
) -> AffectedPage | None:
    """Every transaction behind ``alert`` at ``now``, one page of them; None for a rule kind whose
    transactions are not all listable (:data:`CONDITIONS`) or a rule no longer configured."""
    rule = next((r for r in config.rules if r.name == alert.rule), None)
    if rule is None or rule.kind not in CONDITIONS:
        return None
    wanted = {label: getattr(rule, label, None) for label in ("process", "stage", "system")}
    wanted.update({label: alert.labels[label] for label in _LABELS if label in alert.labels})
    filters = ["1"] + [f"{quote_identifier(label)} = {{f_{label}:String}}" for label, v in wanted.items() if v]
    query = Template(sql("alert_transactions")).substitute(
        snapshot=snapshot_sql(config), filters=" AND ".join(filters), condition=CONDITIONS[rule.kind]
    )
    parameters: dict[str, Any] = query_parameters(store, config, now)
    parameters.update({f"f_{label}": value for label, value in wanted.items() if value})
    parameters.update(window_start=now - rule.window, offset=0, limit=AT_RISK_LIMIT)
    # one pass over the snapshot: the first AT_RISK_LIMIT affected (their value summed), the page cut from them
    every = list(store.client.query(query, parameters=parameters).named_results())
    total = int(every[0]["total"]) if every else 0
    rows = every[offset : offset + limit]
    if offset + limit > AT_RISK_LIMIT and offset < total:  # a page past the summed ones: its own query
        parameters.update(offset=max(offset, 0), limit=limit)
        rows = list(store.client.query(query, parameters=parameters).named_results())
    page = [AffectedRow(**{k: v for k, v in r.items() if k != "total"}) for r in rows]
    # the value at risk, as CONVENTIONS defines a transaction's value (readmodel.transactions)
    keys = sorted({r["key"] for r in every} | {r.key for r in page})
    values = {(t.process, t.key): t for t in transactions(store, config, now, keys=keys)} if keys else {}
    at_risk: dict[str, float] = {}
    for tx in (values.get((r["process"], r["key"])) for r in every):
        if tx is not None and tx.amount is not None:
            at_risk[tx.currency] = at_risk.get(tx.currency, 0.0) + tx.amount
    for row in page:
        found = values.get((row.process, row.key))
        if found is not None:
            row.amount, row.currency = found.amount, found.currency
    return AffectedPage(total=total, rows=page, at_risk=at_risk, at_risk_counted=len(every))


class AlertStatus(BaseModel):
    """How the alert loop treats an alert now, beyond its rule state."""

    status: str = Field(description="firing | pending | resolved | silenced | acknowledged | inhibited")
    silence: Silence | None = Field(None, description="the silence that mutes it, when silenced or acknowledged")
    inhibited_by: str = Field("", description="the firing alert that inhibits it")


def alert_status(
    config: AlertsConfig, alert: AlertInstance, firing: Sequence[AlertInstance], silences: Sequence[Silence],
    now: datetime,
) -> AlertStatus:  # fmt: skip
    """An alert's status as on-call needs it: a silence or an acknowledgement that mutes it comes
    first (the alert loop sends nothing for it), then inhibition by another firing alert, then its
    rule state. A pending alert is never muted (the loop ignores it until it fires)."""
    if alert.state == "pending":
        return AlertStatus(status="pending")
    muting = next((s for s in silences if s.mutes(alert.labels, now)), None)
    if muting is not None:
        acknowledged = muting.comment.lower().startswith(ACK_PREFIX)
        return AlertStatus(status="acknowledged" if acknowledged else "silenced", silence=muting)
    if alert.state == "firing" and (source := inhibitor(alert, firing, config.inhibit_rules)) is not None:
        return AlertStatus(status="inhibited", inhibited_by=source.rule)
    return AlertStatus(status=alert.state)


def ack_silence_matchers(alert: AlertInstance) -> dict[str, str]:
    """The matchers of a silence that mutes exactly this alert (every label, so no other alert)."""
    return dict(alert.labels) or {"alertname": alert.rule}
