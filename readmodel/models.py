"""What the alert loop hands to notification channels, and what they answer.

Alerts follow Prometheus and Alertmanager: an alert instance is a rule's finding for one
label set, in state ``pending``, ``firing`` or ``resolved``; a notification carries one
group of instances (grouped by labels) to one receiver.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from biztrace.config import InhibitRule
from biztrace.config.silences import matches

AlertState = Literal["pending", "firing", "resolved"]
Severity = Literal["critical", "error", "warning", "info"]


def naive_utc(moment: datetime) -> datetime:
    """Times inside alerts are naive UTC, as ClickHouse returns them; convert at the edges."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def fingerprint(labels: dict[str, str]) -> str:
    """Stable identity of a label set (as Alertmanager's fingerprint): 16 hex chars."""
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


class TransactionRef(BaseModel):
    """One business transaction behind an alert, with the evidence span ids."""

    process: str
    key: str
    kind: str = Field(description="exception kind: stuck, failed, duplicate, dead_letter, mismatch")
    stage: str = ""
    system: str = ""
    since: datetime | None = None
    span_ids: list[str] = Field(default_factory=list)


CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CNY": "¥", "INR": "₹"}
"""Currencies written with their symbol before the amount; any other code follows the amount."""


def format_money(amount: float, currency: str) -> str:
    """``€12,400.00``, ``12,400.00 CHF``, or ``12,400.00`` for an amount with no currency."""
    if currency in CURRENCY_SYMBOLS:
        sign = "-" if amount < 0 else ""
        return f"{sign}{CURRENCY_SYMBOLS[currency]}{abs(amount):,.2f}"
    return f"{amount:,.2f} {currency}".rstrip()


class AtRisk(BaseModel):
    """The value of the transactions behind an alert (CONVENTIONS: a transaction's ``amount`` and
    ``currency``), summed per currency in ClickHouse (``readmodel/sql/alert_at_risk.sql``)."""

    amounts: dict[str, float] = Field(default_factory=dict, description="currency -> summed amount")
    transactions: int = Field(0, description="affected transactions counted, with or without an amount")
    without_amount: int = Field(0, description="of them, how many carried no amount")
    basis: Literal["all", "recorded"] = Field(
        "all",
        description="all: every transaction the rule counts now; recorded: the transactions recorded with "
        "the alert (a hop or reconciliation rule, at most 50)",
    )

    def money(self) -> str:
        """``€12,400.00 + $310.00``, largest first; empty when no transaction carried an amount."""
        ordered = sorted(self.amounts.items(), key=lambda item: (-abs(item[1]), item[0]))
        return " + ".join(format_money(amount, currency) for currency, amount in ordered)

    def headline(self) -> str:
        """The money, or ``no amount known`` when no transaction carried one: how :meth:`text` begins, and
        what a page shows as the value at risk."""
        return self.money() or "no amount known"

    def text(self, noun: str = "transactions") -> str:
        """``€12,400.00 at risk (31 orders, 2 without an amount)``: what every notification and page states."""
        money = self.headline()
        detail = f"{self.transactions:,} {noun}"
        if self.basis == "recorded":
            detail = f"the {detail} recorded with the alert"
        if self.without_amount:
            detail += f", {self.without_amount:,} without an amount"
        return f"{money} at risk ({detail})"


def total_at_risk(alerts: list[AlertInstance]) -> AtRisk | None:
    """The value at risk of several alerts, summed per currency (a transaction behind two of them
    counts twice); None when none of them has one."""
    found = [alert.at_risk for alert in alerts if alert.at_risk is not None]
    if not found:
        return None
    amounts: dict[str, float] = {}
    for item in found:
        for currency, amount in item.amounts.items():
            amounts[currency] = amounts.get(currency, 0.0) + amount
    basis = "recorded" if any(item.basis == "recorded" for item in found) else "all"
    return AtRisk(amounts=amounts, transactions=sum(i.transactions for i in found),
                  without_amount=sum(i.without_amount for i in found), basis=basis)  # fmt: skip


class AlertInstance(BaseModel):
    """One rule's finding for one label set."""

    rule: str
    labels: dict[str, str] = Field(description="includes alertname and severity")
    annotations: dict[str, str] = Field(default_factory=dict, description="summary, description, runbook_url")
    state: AlertState
    value: float
    sample: int | None = Field(None, description="what a share or percentile counted (e.g. transactions measured; "
                               "None for a count): a value of a handful reads differently")  # fmt: skip
    active_since: datetime | None = None
    resolved_at: datetime | None = None
    transactions: list[TransactionRef] = Field(default_factory=list)
    at_risk: AtRisk | None = Field(
        None,
        description="the value of the transactions behind the alert per currency; None for a rule kind "
        "that has none (hop latency)",
    )

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "warning")


class Notification(BaseModel):
    """One group of alerts for one receiver; ``status`` is firing while any alert fires."""

    receiver: str
    group_key: str = Field(description="stable id of the group: receiver and group labels")
    group_labels: dict[str, str]
    status: Literal["firing", "resolved"]
    alerts: list[AlertInstance]
    sent_at: datetime
    external_url: str = ""

    @property
    def firing(self) -> list[AlertInstance]:
        return [alert for alert in self.alerts if alert.state == "firing"]

    @property
    def resolved(self) -> list[AlertInstance]:
        return [alert for alert in self.alerts if alert.state == "resolved"]

    def summary(self) -> str:
        """One line for chat and pager titles."""
        names = sorted({alert.labels.get("alertname", alert.rule) for alert in self.alerts})
        scope = ", ".join(f"{k}={v}" for k, v in sorted(self.group_labels.items()) if k != "alertname")
        head = f"[{self.status.upper()}{':' + str(len(self.firing)) if self.status == 'firing' else ''}]"
        at_risk = self.at_risk()
        return (f"{head} {', '.join(names)}" + (f" ({scope})" if scope else "")
                + (f" · {at_risk.text()}" if at_risk is not None and at_risk.transactions else ""))  # fmt: skip

    def at_risk(self) -> AtRisk | None:
        """The value at risk of the group's firing alerts, per currency (:func:`total_at_risk`)."""
        return total_at_risk(self.firing)


def inhibitor(alert: AlertInstance, firing: list[AlertInstance], rules: list[InhibitRule]) -> AlertInstance | None:
    """The firing alert that inhibits ``alert`` under ``rules`` (a higher severity masks a lower), if any:
    the one definition the alert loop's routing and the dashboard's alert status use."""
    for rule in rules:
        if not matches(rule.target_matchers, alert.labels):
            continue
        for source in firing:
            if source.fingerprint == alert.fingerprint or source.state != "firing":
                continue
            if matches(rule.source_matchers, source.labels) and all(
                source.labels.get(name, "") == alert.labels.get(name, "") for name in rule.equal
            ):
                return source
    return None
