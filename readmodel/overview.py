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
from biztrace.config.silences import Silence, matches
from biztrace.readmodel.models import AlertInstance
from biztrace.readmodel.rules import snapshot_sql
from biztrace.readmodel.transactions import query_parameters, sql
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


class AffectedPage(BaseModel):
    """One page of the transactions behind an alert, and how many there are in all."""

    total: int
    rows: list[AffectedRow]


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
        snapshot=snapshot_sql(), filters=" AND ".join(filters), condition=CONDITIONS[rule.kind]
    )
    parameters: dict[str, Any] = query_parameters(store, config, now)
    parameters.update({f"f_{label}": value for label, value in wanted.items() if value})
    parameters.update(window_start=now - rule.window, offset=max(offset, 0), limit=limit)
    rows = list(store.client.query(query, parameters=parameters).named_results())
    total = int(rows[0]["total"]) if rows else 0
    if not rows and offset > 0:  # past the last page: count without one
        total = alert_transactions(store, config, alert, now, offset=0, limit=1).total  # type: ignore[union-attr]
    return AffectedPage(total=total, rows=[AffectedRow(**{k: v for k, v in r.items() if k != "total"}) for r in rows])


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
    if alert.state == "firing":
        for rule in config.inhibit_rules:
            if not matches(rule.target_matchers, alert.labels):
                continue
            for source in firing:
                if source.fingerprint == alert.fingerprint or source.state != "firing":
                    continue
                if matches(rule.source_matchers, source.labels) and all(
                    source.labels.get(name, "") == alert.labels.get(name, "") for name in rule.equal
                ):
                    return AlertStatus(status="inhibited", inhibited_by=source.rule)
    return AlertStatus(status=alert.state)


def ack_silence_matchers(alert: AlertInstance) -> dict[str, str]:
    """The matchers of a silence that mutes exactly this alert (every label, so no other alert)."""
    return dict(alert.labels) or {"alertname": alert.rule}
