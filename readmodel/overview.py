"""What the dashboard's on-call and leader views ask beyond the alert loop's own records.

* :func:`alert_transactions`: every transaction behind an alert (the alert itself keeps 50),
  paged and counted, for the rules that read the pass's snapshot.
* :func:`money_stuck`: per process and stage, the value of the stuck, failed and dead-lettered
  transactions per currency (the Overview's "money stuck per stage").
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

from pydantic import BaseModel, Field

from biztrace.config import AlertsConfig
from biztrace.config.silences import Silence
from biztrace.readmodel import at_risk
from biztrace.readmodel.exceptions import narrowed
from biztrace.readmodel.models import AlertInstance, AtRisk, inhibitor
from biztrace.readmodel.rules import snapshot, snapshot_sql
from biztrace.readmodel.transactions import process_parameters, query_parameters, sql
from biztrace.store import Store

ACK_PREFIX = "acknowledged"
"""The comment of a silence made by acknowledging an alert starts with this."""

CONDITIONS = at_risk.CONDITIONS
"""The rule kinds whose affected transactions are all listed, and which transactions they count."""


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
    at_risk: AtRisk = Field(default_factory=AtRisk, description="the summed value of every one, per currency")


def alert_transactions(
    store: Store, config: AlertsConfig, alert: AlertInstance, now: datetime, *, offset: int = 0, limit: int = 50
) -> AffectedPage | None:
    """Every transaction behind ``alert`` at ``now``, one page of them, and the value at risk of all of them
    (:mod:`biztrace.readmodel.at_risk`: the same snapshot, filters and condition as the list); None for a rule
    kind whose transactions are not all listable (:data:`CONDITIONS`) or a rule no longer configured."""
    rule = next((r for r in config.rules if r.name == alert.rule), None)
    if rule is None or rule.kind not in CONDITIONS:
        return None
    where, values = at_risk.filters(rule, alert.labels)
    with snapshot(store, config, now) as table:  # classified once, read by the page and by the sum
        parameters: dict[str, Any] = {**process_parameters(config), "db": store.database, **values}
        query = Template(sql("alert_transactions")).substitute(
            snapshot=f"SELECT * FROM {table}", filters=where, condition=CONDITIONS[rule.kind]
        )
        page = store.client.query(
            query, parameters={**parameters, "window_start": now - rule.window, "offset": offset, "limit": limit}
        )
        rows = list(page.named_results())
        summed = at_risk.of_alert(store, rule, alert.labels, table, parameters, now) or AtRisk()
    total = int(rows[0]["total"]) if rows else summed.transactions
    return AffectedPage(
        total=total, rows=[AffectedRow(**{k: v for k, v in r.items() if k != "total"}) for r in rows], at_risk=summed
    )


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


TROUBLE = ("stuck", "failed", "dead_letter")
"""The states whose transactions' money is stuck at a stage."""


class StuckMoney(BaseModel):
    """The value of the transactions of one process stopped at one stage in one state, in one currency."""

    process: str
    stage: str = Field(description="where they stopped: a stuck one's last stage, a failed one's failing stage")
    state: str = Field(description="stuck, failed or dead_letter")
    currency: str = Field(description="'' when the amounts carried none (or there was no amount: see without_amount)")
    amount: float = Field(description="the summed value (CONVENTIONS: amount)")
    transactions: int
    without_amount: int = Field(description="of the transactions, how many carried no amount")


def money_stuck(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    process: str = "",
    system: str = "",
    channel: str = "",
    priority: str = "",
    source: str | None = None,
) -> list[StuckMoney]:
    """Money stuck per process and stage at ``now`` (``sql/money_stuck.sql``): the stuck, failed and
    dead-lettered transactions started since ``since`` (and by ``until``), their value per currency.

    ``source``: a table (quoted name) of these transactions already classified at ``now`` with
    ``sql/snapshot.sql``'s columns that ``money_stuck.sql`` reads (the dashboard's window snapshot), read
    instead of classifying them again; the same filters apply to it."""
    scoped = narrowed(config, process)
    parameters = query_parameters(store, scoped, now, states=list(TROUBLE), since=since)
    parameters.update(until=until or now, system=system, channel=channel, priority=priority)
    rows = f"SELECT * FROM {source} WHERE started_at >= {{since:DateTime64(9)}}" if source else None
    query = Template(sql("money_stuck")).substitute(snapshot=rows or snapshot_sql(scoped, keys=False))
    found = []
    for row in store.client.query(query, parameters=parameters).named_results():
        if process and row["process"] != process:
            continue
        value = row.pop("value")
        found.append(StuckMoney(**row, amount=float(value) if value is not None else 0.0))
    return found


def money_totals(rows: Sequence[StuckMoney]) -> dict[str, float]:
    """Currency -> the summed value of ``rows`` (the transactions with no amount left out)."""
    totals: dict[str, float] = {}
    for row in rows:
        if row.transactions > row.without_amount:
            totals[row.currency] = totals.get(row.currency, 0.0) + row.amount
    return totals
