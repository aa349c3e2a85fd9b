"""Exception detection against the simulator's ground truth, and the exception lifecycle."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts import config as alerts_config
from alerts.errors import NotFound
from alerts.exceptions import Filters, act, detect, list_exceptions, sync
from alerts.transactions import transactions

from .conftest import NOW

CONFIG = alerts_config.load()


def _sla(process: str, stage: str, priority: str) -> timedelta:
    stages = CONFIG.processes[process].stages
    index = [s.name for s in stages].index(stage)
    sla = stages[index + 1].sla
    return sla.by_priority.get(priority, sla.within)


def test_detection_matches_ground_truth_exactly(simulated):
    found = detect(simulated.store, CONFIG, NOW)
    by_kind: dict[str, set[str]] = {}
    for item in found:
        by_kind.setdefault(item.kind, set()).add(item.key)
    truth = simulated.truth
    for kind in ("failed", "dead_letter", "duplicate", "mismatch"):
        expected = {f.key for f in truth.faults if f.kind == kind}
        assert by_kind.get(kind, set()) == expected, kind
        assert expected, f"the scenario produced no {kind}"
    priorities = {t.key: t.priority for t in transactions(simulated.store, CONFIG, NOW)}
    now_ns = NOW.timestamp() * 1e9
    overdue = {f.key for f in truth.faults if f.kind == "stuck"
               and f.at_ns + _sla(f.process, f.stage, priorities[f.key]).total_seconds() * 1e9 < now_ns}  # fmt: skip
    assert by_kind.get("stuck", set()) == overdue and overdue


def test_stuck_exceptions_carry_stage_system_and_evidence(simulated):
    stuck = [item for item in detect(simulated.store, CONFIG, NOW) if item.kind == "stuck"]
    truth = {f.key: f for f in simulated.truth.faults if f.kind == "stuck"}
    for item in stuck:
        assert item.stage == truth[item.key].stage
        expected_system = {s.name: s.system for s in CONFIG.processes["order_to_cash"].stages}
        next_stage = item.detail["next_stage"]
        assert item.system == expected_system[next_stage]
        assert item.evidence and len(item.evidence[0]) == 16
        assert item.runbook.endswith("/stuck")
        assert item.since < NOW.replace(tzinfo=None)


def test_a_completed_transaction_is_never_stuck(simulated):
    later = NOW + timedelta(days=365)
    states = {t.key: t.state for t in transactions(simulated.store, CONFIG, later)}
    complete = {key for key, state in states.items() if state == "complete"}
    assert complete
    stuck_later = {item.key for item in detect(simulated.store, CONFIG, later) if item.kind == "stuck"}
    assert not complete & stuck_later


def test_lifecycle_acknowledge_assign_resolve_and_reopen(simulated):
    store = simulated.store
    item = next(i for i in list_exceptions(store, CONFIG, NOW) if i.kind == "failed")
    assert item.state == "open" and item.opened_at is not None
    [acked] = act(store, CONFIG, NOW, key=item.key, kind="failed", action="acknowledge", actor="alice")
    assert acked.state == "acknowledged" and acked.acknowledged_by == "alice"
    [assigned] = act(store, CONFIG, NOW, key=item.key, kind="failed", action="assign", actor="alice", assignee="bob")
    assert assigned.assignee == "bob" and assigned.state == "acknowledged"
    resolved_at = NOW + timedelta(minutes=5)
    [done] = act(store, CONFIG, resolved_at, key=item.key, kind="failed", action="resolve", actor="bob", note="re-sent")
    assert done.state == "resolved" and done.resolved_by == "bob" and done.note == "re-sent"
    assert done.resolution_s == pytest.approx((resolved_at.replace(tzinfo=None) - done.opened_at).total_seconds())
    queue = {i.identity for i in list_exceptions(store, CONFIG, resolved_at)}
    assert item.identity not in queue, "the default queue hides resolved exceptions"
    history = list_exceptions(store, CONFIG, resolved_at, Filters(state="resolved"))
    assert item.identity in {i.identity for i in history}
    with pytest.raises(NotFound):
        act(store, CONFIG, resolved_at, key=item.key, kind="failed", action="acknowledge", actor="carol")
    with pytest.raises(NotFound):
        act(store, CONFIG, NOW, key="O-NOPE", action="acknowledge", actor="carol")


def test_sync_records_opens_and_is_idempotent(simulated):
    store = simulated.store
    first = sync(store, CONFIG, NOW)
    assert first.get("open", 0) > 0
    assert sync(store, CONFIG, NOW) == {}
    count = store.client.command(f"SELECT count() FROM {store.table('biztrace_exception_events')}")
    assert int(count) >= first["open"]


def test_filters(simulated):
    store = simulated.store
    everything = list_exceptions(store, CONFIG, NOW)
    stuck = list_exceptions(store, CONFIG, NOW, Filters(kind="stuck"))
    assert stuck and all(i.kind == "stuck" for i in stuck) and len(stuck) < len(everything)
    wms = list_exceptions(store, CONFIG, NOW, Filters(system="wms"))
    assert all(i.system == "wms" for i in wms)
    old = list_exceptions(store, CONFIG, NOW, Filters(min_age_s=86_400))
    assert all(i.age_s >= 86_400 for i in old) and len(old) < len(everything)
