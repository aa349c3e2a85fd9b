"""The value at risk behind alerts: the affected transactions' amounts summed per currency in ClickHouse.

Which transactions an alert puts at risk depends on its rule kind:

* ``stuck_count``, ``stuck_share``, ``error_rate`` (:data:`CONDITIONS`): every transaction the rule
  counts now, from the pass's snapshot with the rule's filters and the alert's labels: exactly the
  ones :func:`biztrace.readmodel.overview.alert_transactions` lists (``sql/alert_at_risk.sql`` and
  ``sql/alert_transactions.sql`` share the source, the filters and the condition).
* ``dead_letters``, ``duplicate_rate``, ``mismatch_rate``, ``sla_adherence`` (:data:`KEYED`): the
  transactions of the keys recorded with the alert (at most 50; ``basis="recorded"``). These rules
  count hops, events, reconciled pairs or SLA outcomes, not transactions in one state, so the keys
  behind the alert are the ones whose value is at risk.
* ``hop_latency_p95``: none. Slow hops put no particular transaction's value at risk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from string import Template
from typing import Any

from clickhouse_connect.driver.binding import quote_identifier

from biztrace.config import AlertsConfig, Rule
from biztrace.readmodel.models import AtRisk
from biztrace.readmodel.rules import RuleResult
from biztrace.readmodel.transactions import process_parameters, sql
from biztrace.store import Store

CONDITIONS = {
    "stuck_count": "state = 'stuck'",
    "stuck_share": "state = 'stuck'",
    "error_rate": "state = 'failed' AND last_at >= {window_start:DateTime64(9)}",
}
"""The rule kinds whose affected transactions are all listed and summed, and which transactions they count."""

KEYED = ("dead_letters", "duplicate_rate", "mismatch_rate", "sla_adherence")
"""The rule kinds whose value at risk is that of the transactions recorded with the alert."""

LABELS = ("process", "stage", "system", "channel", "priority")
"""The snapshot's columns an alert's labels narrow its transactions by."""

Group = tuple[str, tuple[tuple[str, str], ...]]
"""(rule, sorted label items of the rule's group): one alert of a pass."""


def group_of(rule: str, labels: Mapping[str, str]) -> Group:
    return rule, tuple(sorted(labels.items()))


def filters(rule: Rule, labels: Mapping[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """The SQL filter (``f_<label>`` parameters) narrowing the snapshot to a rule's transactions, and to an
    alert's when ``labels`` are given: the one definition the list and the sum of them use."""
    wanted = {label: getattr(rule, label, None) for label in ("process", "stage", "system")}
    wanted.update({label: labels[label] for label in LABELS if labels and label in labels})
    kept = {label: value for label, value in wanted.items() if value}
    text = " AND ".join(["1", *(f"{quote_identifier(label)} = {{f_{label}:String}}" for label in kept)])
    return text, {f"f_{label}": value for label, value in kept.items()}


def _query(source: str, group: Iterable[str], where: str, condition: str) -> str:
    columns = ", ".join(quote_identifier(label) for label in group)
    return Template(sql("alert_at_risk")).substitute(
        group=f"tuple({columns})", source=source, filters=where, condition=condition
    )


def _collect(rows: Iterable[dict[str, Any]]) -> dict[tuple, AtRisk]:
    found: dict[tuple, AtRisk] = {}
    for row in rows:
        item = found.setdefault(tuple(row["labels"]), AtRisk())
        item.transactions += int(row["transactions"])
        item.without_amount += int(row["without_amount"])
        if row["value"] is not None and int(row["transactions"]) > int(row["without_amount"]):
            summed = item.amounts.get(row["currency"], 0.0) + float(row["value"])
            item.amounts[row["currency"]] = round(summed, 6)  # no float noise in a sum of cents
    return found


def of_alert(
    store: Store, rule: Rule, labels: Mapping[str, str], source: str, parameters: dict[str, Any], now: datetime
) -> AtRisk | None:
    """The value at risk of one alert of a :data:`CONDITIONS` rule over ``source`` (a snapshot table or
    subquery; ``parameters``: what it takes); None for any other kind."""
    if rule.kind not in CONDITIONS:
        return None
    where, values = filters(rule, labels)
    query = _query(source, (), where, CONDITIONS[rule.kind])
    found = store.client.query(query, parameters={**parameters, **values, "window_start": now - rule.window})
    return _collect(found.named_results()).get((), AtRisk())


def of_results(
    store: Store, config: AlertsConfig, results: list[RuleResult], snapshot_table: str, now: datetime
) -> dict[Group, AtRisk]:
    """The value at risk of every active group of a pass (:func:`group_of` -> its value).

    One query per rule over the pass's snapshot for a :data:`CONDITIONS` rule (grouped as the rule
    groups), one per alert for a :data:`KEYED` one; nothing for a rule with no active group.
    """
    by_rule = {rule.name: rule for rule in config.rules}
    active: dict[str, list[RuleResult]] = {}
    for result in results:
        if result.active and result.rule in by_rule:
            active.setdefault(result.rule, []).append(result)
    found: dict[Group, AtRisk] = {}
    base = {**process_parameters(config), "db": store.database}
    for name, groups in active.items():
        rule = by_rule[name]
        if rule.kind in CONDITIONS:
            grouping = rule.grouping()
            where, values = filters(rule)
            query = _query(snapshot_table, grouping, where, CONDITIONS[rule.kind])
            rows = store.client.query(query, parameters={**base, **values, "window_start": now - rule.window})
            sums = _collect(rows.named_results())
            for result in groups:
                key = tuple(result.labels.get(label, "") for label in grouping)
                found[group_of(name, result.labels)] = sums.get(key, AtRisk())
        elif rule.kind in KEYED:
            for result in groups:
                if not result.keys:
                    found[group_of(name, result.labels)] = AtRisk(basis="recorded")
                    continue
                process = result.labels.get("process") or rule.process or ""
                where = "process = {f_process:String}" if process else "1"
                query = _query(snapshot_table, (), where, "key IN {keys:Array(String)}")
                rows = store.client.query(query, parameters={**base, "f_process": process, "keys": result.keys})
                item = _collect(rows.named_results()).get((), AtRisk())
                found[group_of(name, result.labels)] = item.model_copy(update={"basis": "recorded"})
    return found
