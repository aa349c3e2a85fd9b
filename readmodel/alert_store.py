"""Reads and writes the alert loop's tables: alert history, notification log, silences.

An alert's transactions and its value at risk are kept together as one JSON document in the alert
history's ``Transactions`` column (no schema change; rows written before the value at risk hold a list).

This module is the only writer of ``biztrace_alert_events``, ``biztrace_notifications``
and ``biztrace_silences``; the dashboard's silence actions go through it too.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from biztrace.config.silences import Silence, stored_silences
from biztrace.readmodel.models import AlertInstance, AtRisk, Notification, TransactionRef
from biztrace.store import Store, schema


def _naive(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=None) if moment is not None else None


@dataclass
class Stored:
    """The latest recorded state of one alert instance, and when it entered it."""

    alert: AlertInstance
    since: datetime


def current_alerts(store: Store) -> dict[str, Stored]:
    """Latest state per fingerprint of alerts that are pending, firing or recently resolved: its figures
    (value, sample, transactions, value at risk) as the last pass found them, and since when it is in
    that state (its latest transition; a row ``Updated`` only refreshes the figures).

    Only each alert's latest row is read whole (by the table's key, fingerprint and time): a firing alert
    gains a row whenever its figures change, and reading every row's transactions would grow with them."""
    table = store.table(schema.ALERT_EVENTS)
    rows = store.client.query(
        f"""
        SELECT e.Fingerprint, e.Rule, e.Labels, e.Annotations, e.State, e.Value, e.ActiveSince, e.Transactions,
               s.since
        FROM {table} AS e
        INNER JOIN (SELECT Fingerprint, maxIf(At, NOT Updated) AS since FROM {table} GROUP BY Fingerprint) AS s
            ON s.Fingerprint = e.Fingerprint
        WHERE (e.Fingerprint, e.At) IN (SELECT Fingerprint, max(At) FROM {table} GROUP BY Fingerprint)
          AND e.State != 'inactive'
        ORDER BY e.Fingerprint, e.Updated
        LIMIT 1 BY e.Fingerprint
        """
    ).result_rows
    found = {}
    for fingerprint, rule, labels, notes, state, value, active_since, transactions, at in rows:
        alert = AlertInstance(
            rule=rule, labels=dict(labels), annotations=dict(notes), state=state, value=value,
            active_since=active_since, resolved_at=at if state == "resolved" else None,
            **_recorded(transactions),
        )  # fmt: skip
        found[fingerprint] = Stored(alert, at)
    return found


def _recorded(text: str) -> dict:
    """The ``Transactions`` column: ``{"transactions": [...], "at_risk": {...} | null, "sample": n | null}`` (a
    bare list of transactions before alerts carried their value at risk; no sample before it was kept)."""
    found = json.loads(text or "[]")
    if isinstance(found, list):
        found = {"transactions": found}
    at_risk = found.get("at_risk")
    return {
        "transactions": [TransactionRef(**t) for t in found.get("transactions", [])],
        "at_risk": AtRisk(**at_risk) if at_risk is not None else None,
        "sample": found.get("sample"),
    }


def _recording(alert: AlertInstance) -> str:
    return json.dumps({
        "transactions": [t.model_dump(mode="json") for t in alert.transactions],
        "at_risk": alert.at_risk.model_dump(mode="json") if alert.at_risk is not None else None,
        "sample": alert.sample,
    })  # fmt: skip


def record_alerts(
    store: Store, changes: list[tuple[AlertInstance, str]], now: datetime, updates: list[AlertInstance] = ()
) -> None:
    """Append state transitions: (alert, state) where state may be 'inactive' (dropped); and ``updates``:
    alerts still in their state whose figures changed (marked ``Updated``: not a transition)."""
    if not changes and not updates:
        return

    def row(alert: AlertInstance, state: str, updated: bool) -> list:
        return [_naive(now), alert.rule, alert.fingerprint, alert.labels, alert.annotations, state, alert.value,
                _naive(alert.active_since), _recording(alert), updated]  # fmt: skip

    rows = [row(alert, state, False) for alert, state in changes] + [row(alert, alert.state, True) for alert in updates]
    store.client.insert(
        schema.ALERT_EVENTS, rows, database=store.database,
        column_names=["At", "Rule", "Fingerprint", "Labels", "Annotations", "State", "Value", "ActiveSince",
                      "Transactions", "Updated"],
    )  # fmt: skip


def history(store: Store, limit: int = 500) -> list[dict]:
    """Recent alert state transitions, newest first; ``AtRisk``: the alert's value at risk then, as
    :class:`~biztrace.readmodel.models.AtRisk` fields (or None)."""
    result = store.client.query(
        f"SELECT At, Rule, Fingerprint, Labels, State, Value, Transactions FROM {store.table(schema.ALERT_EVENTS)} "
        "WHERE NOT Updated ORDER BY At DESC LIMIT {limit:UInt32}",
        parameters={"limit": limit},
    )
    rows = []
    for row in result.named_results():
        at_risk = _recorded(row.pop("Transactions"))["at_risk"]
        rows.append({**row, "AtRisk": at_risk.model_dump() if at_risk is not None else None})
    return rows


@dataclass
class LastSent:
    """The last delivered notification of a group."""

    at: datetime
    firing: frozenset[str]
    status: str


def last_sent(store: Store) -> dict[str, LastSent]:
    """Per group key, the last notification that reached at least one channel."""
    rows = store.client.query(
        f"SELECT GroupKey, max(At), argMax(FiringFingerprints, At), argMax(Status, At) "
        f"FROM {store.table(schema.NOTIFICATIONS)} WHERE Delivered GROUP BY GroupKey"
    ).result_rows
    return {key: LastSent(at, frozenset(firing), status) for key, at, firing, status in rows}


def record_notification(store: Store, notification: Notification, channel: str, delivered: bool, attempts: int,
                        error: str | None, now: datetime) -> None:  # fmt: skip
    """Log one delivery outcome (a failed one too: it is visible and retried next pass)."""
    store.client.insert(
        schema.NOTIFICATIONS,
        [[_naive(now), notification.receiver, notification.group_key, notification.status, channel, delivered,
          attempts, error or "", [a.fingerprint for a in notification.alerts],
          [a.fingerprint for a in notification.firing]]],
        database=store.database,
        column_names=["At", "Receiver", "GroupKey", "Status", "Channel", "Delivered", "Attempts", "Error",
                      "Fingerprints", "FiringFingerprints"],
    )  # fmt: skip


def notifications(store: Store, limit: int = 200) -> list[dict]:
    """Recent delivery outcomes, newest first."""
    result = store.client.query(
        f"SELECT At, Receiver, GroupKey, Status, Channel, Delivered, Attempts, Error "
        f"FROM {store.table(schema.NOTIFICATIONS)} ORDER BY At DESC LIMIT {{limit:UInt32}}",
        parameters={"limit": limit},
    )
    return [dict(row) for row in result.named_results()]


def silences(store: Store) -> list[Silence]:
    """Every silence, latest version of each."""
    rows = store.client.query(
        f"SELECT Id, argMax(Matchers, Version), argMax(StartsAt, Version), argMax(EndsAt, Version), "
        f"argMax(CreatedBy, Version), argMax(Comment, Version), argMax(CreatedAt, Version) "
        f"FROM {store.table(schema.SILENCES)} GROUP BY Id ORDER BY argMax(StartsAt, Version)"
    ).result_rows
    with stored_silences():  # a stored silence that no longer validates loads with its problem, never raises
        return [
            Silence(id=i, matchers=dict(m), starts_at=s, ends_at=e, created_by=by, comment=c, created_at=at)
            for i, m, s, e, by, c, at in rows
        ]


def save_silence(store: Store, silence: Silence) -> Silence:
    """Store a new silence or a new version of one (expiry, edits)."""
    version = int(datetime.now().timestamp() * 1e6)
    store.client.insert(
        schema.SILENCES,
        [[silence.id, version, _naive(silence.created_at), _naive(silence.starts_at), _naive(silence.ends_at),
          silence.matchers, silence.created_by, silence.comment]],
        database=store.database,
        column_names=["Id", "Version", "CreatedAt", "StartsAt", "EndsAt", "Matchers", "CreatedBy", "Comment"],
    )  # fmt: skip
    return silence


def new_silence_id() -> str:
    return uuid.uuid4().hex[:12]
