"""Exception detection against the simulator's ground truth, and the exception lifecycle."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import numpy as np
import pytest

from biztrace import config as alerts_config
from biztrace.readmodel.errors import NotFound
from biztrace.readmodel.exceptions import Filters, act, detect, list_exceptions, sync
from biztrace.readmodel.transactions import transactions

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


def _events(store, action: str) -> dict[tuple[str, str, str], tuple]:
    rows = store.client.query(
        f"SELECT Process, Key, Kind, At, Stage, Note FROM {store.table('biztrace_exception_events')} "
        "WHERE Action = {action:String}",
        parameters={"action": action},
    ).result_rows
    return {(p, k, kind): (at, stage, note) for p, k, kind, at, stage, note in rows}


def _add_hop(store, key: str, stage: str, at, status: str = "Unset") -> None:
    store.client.insert(
        "biz_hops",
        [[at, "f" * 32, uuid.uuid4().hex[:16], key, "order_to_cash", stage, "wms", status]],
        column_names=["Timestamp", "TraceId", "SpanId", "OrderId", "Process", "Stage", "System", "StatusCode"],
        database=store.database,
    )


def test_sync_in_clickhouse_agrees_with_detection_opens_resolves_and_reopens(simulated):
    store = simulated.store
    store.client.command(f"TRUNCATE TABLE {store.table('biztrace_exception_events')}")
    detected = detect(store, CONFIG, NOW)
    earliest: dict[tuple[str, str, str], object] = {}
    for item in detected:
        since = item.since.replace(tzinfo=None)
        earliest[item.identity] = min(earliest.get(item.identity, since), since)
    assert sync(store, CONFIG, NOW) == {"open": len(earliest)}
    opened = _events(store, "open")
    assert set(opened) == set(earliest)
    for identity, (at, _stage, _note) in opened.items():  # stamped when the problem started (ms precision)
        assert abs((at - earliest[identity]).total_seconds()) < 0.001, identity

    # a stuck order's next stage arrives: its exception resolves itself, and only that one
    stuck = next(i for i in detected if i.kind == "stuck")
    _add_hop(store, stuck.key, stuck.detail["next_stage"], NOW.replace(tzinfo=None) - timedelta(minutes=1))
    assert sync(store, CONFIG, NOW) == {"resolve": 1}
    assert _events(store, "resolve")[stuck.identity][2] == "no longer detected"

    # a person resolves a failure; it fails again afterwards: reopened, and only that one
    failed = next(i for i in detected if i.kind == "failed")
    act(store, CONFIG, NOW, key=failed.key, kind="failed", action="resolve", actor="bob", note="re-sent")
    assert sync(store, CONFIG, NOW) == {}, "resolved by a person and not failed again: nothing to record"
    _add_hop(store, failed.key, "", NOW.replace(tzinfo=None) + timedelta(seconds=30), status="Error")
    later = NOW + timedelta(minutes=1)
    recorded = sync(store, CONFIG, later)
    assert recorded.get("reopen") == 1
    assert set(_events(store, "reopen")) == {failed.identity}


def test_the_list_is_the_queue_one_exception_per_problem_with_its_evidence_and_detail(simulated):
    store = simulated.store
    store.client.command(f"TRUNCATE TABLE {store.table('biztrace_exception_events')}")
    detected = detect(store, CONFIG, NOW)
    listed = list_exceptions(store, CONFIG, NOW)
    assert len({i.identity for i in listed}) == len(listed), "one row per (process, key, kind)"
    assert {i.identity for i in listed} == {i.identity for i in detected}
    repeated = 0  # problems detected more than once (exceptions_found.sql aggregates only those)
    for item in listed:
        assert item.evidence and all(len(span) == 16 for span in item.evidence), item.identity
        same = [d for d in detected if d.identity == item.identity]
        assert item.since == min(d.since for d in same), "since its earliest start"
        assert set(item.evidence) == {span for d in same for span in d.evidence}
        repeated += len(same) > 1
    assert 0 < repeated < len(listed), repeated
    kinds = {i.kind: i for i in listed}
    assert set(kinds["stuck"].detail) == {"next_stage", "due_at", "stage_reached_at"}
    assert kinds["failed"].detail["error_type"]
    assert kinds["duplicate"].detail["deliveries"] >= 2 and kinds["duplicate"].detail["event_id"]
    assert {"rule", "field", "match_key", "left", "right", "currency"} <= set(kinds["mismatch"].detail)


def test_time_to_resolve_and_the_window_rule_for_resolved_exceptions(simulated):
    from biztrace.readmodel.exceptions import queue_page

    store = simulated.store
    store.client.command(f"TRUNCATE TABLE {store.table('biztrace_exception_events')}")
    earlier = NOW - timedelta(days=2)
    sync(store, CONFIG, earlier)  # opened two days ago, as the problems stood then
    opened = list_exceptions(store, CONFIG, earlier)
    lasting = {i.identity for i in list_exceptions(store, CONFIG, earlier + timedelta(hours=4), Filters(kind="failed"))}
    failed = [i for i in opened if i.kind == "failed" and i.identity in lasting]  # still failed when resolved
    for minutes, item in zip((10, 30, 90, 240), failed[:4], strict=True):
        act(store, CONFIG, earlier + timedelta(minutes=minutes), key=item.key, kind="failed", action="resolve",
            actor="bob")  # fmt: skip
    gone = failed[4]  # it is re-sent and goes on: the loop resolves it
    [tx] = transactions(store, CONFIG, earlier, keys=[gone.key])
    _add_hop(store, gone.key, tx.next_stage, earlier.replace(tzinfo=None) + timedelta(minutes=5))
    sync(store, CONFIG, earlier + timedelta(hours=1))
    resolved = list_exceptions(store, CONFIG, NOW, Filters(state="resolved"))
    times = sorted(i.resolution_s for i in resolved)
    assert len(times) == 5 and all(t > 0 for t in times)
    assert [i.resolved_by for i in resolved if not i.detected] == ["biztrace"]
    page = queue_page(store, CONFIG, NOW, states=("resolved",), page_size=100)
    assert page.resolved == page.count("resolved") == 5
    assert page.median_resolution_s == pytest.approx(float(np.percentile(times, 50)))
    assert page.p90_resolution_s == pytest.approx(float(np.percentile(times, 90)))
    # one rule for the window: a resolved exception is listed when its transaction started in the window
    # (still detected) or, no longer detected, when it was opened in the window
    gone_opened = next(i for i in resolved if not i.detected).opened_at
    within = list_exceptions(store, CONFIG, NOW, Filters(state="resolved"), since=gone_opened)
    after = list_exceptions(store, CONFIG, NOW, Filters(state="resolved"), since=gone_opened + timedelta(seconds=1))
    assert gone.identity in {i.identity for i in within} and gone.identity not in {i.identity for i in after}


def test_comment_and_postpone_leave_the_queue_until_the_time_and_are_audited(simulated):
    from biztrace.readmodel import actions

    store = simulated.store
    item = next(i for i in list_exceptions(store, CONFIG, NOW) if i.kind == "dead_letter" and i.state == "open")
    [commented] = actions.comment_on_exception(store, CONFIG, NOW, key=item.key, kind=item.kind, actor="alice",
                                               text="  <b>called</b> the 3PL  ")  # fmt: skip
    assert commented.state == "open", "a comment changes no state"
    assert [(c.by, c.text) for c in commented.comments] == [("alice", "<b>called</b> the 3PL")]

    [postponed] = actions.postpone_exception(store, CONFIG, NOW, key=item.key, kind=item.kind, actor="alice",
                                             until="4h")  # fmt: skip
    back = NOW.replace(tzinfo=None) + timedelta(hours=4)
    assert (postponed.state, postponed.postponed_until, postponed.postponed_by) == ("postponed", back, "alice")
    assert item.identity not in {i.identity for i in list_exceptions(store, CONFIG, NOW + timedelta(hours=3))}
    postponed_now = list_exceptions(store, CONFIG, NOW, Filters(key=item.key, state="postponed"))
    assert item.identity in {i.identity for i in postponed_now}
    [returned] = list_exceptions(
        store, CONFIG, NOW + timedelta(hours=4, seconds=1), Filters(key=item.key, kind=item.kind)
    )
    assert returned.state == "open" and returned.postponed_until is None, "back by itself once the time has passed"
    assert returned.comments == commented.comments

    actions.postpone_exception(store, CONFIG, NOW + timedelta(minutes=1), key=item.key, kind=item.kind, actor="bob",
                               until=back)  # fmt: skip
    [unpostponed] = actions.unpostpone_exception(store, CONFIG, NOW + timedelta(minutes=2), key=item.key,
                                                 kind=item.kind, actor="bob")  # fmt: skip
    assert unpostponed.state == "open"
    comments = store.client.query(
        f"SELECT Actor, Note FROM {store.table('biztrace_exception_events')} "
        "WHERE Key = {k:String} AND Kind = {kind:String} AND Action = 'comment'",
        parameters={"k": item.key, "kind": item.kind}).result_rows  # fmt: skip
    assert comments == [("alice", "<b>called</b> the 3PL")]
    postponements = store.client.query(
        f"SELECT At, Actor, Until FROM {store.table('biztrace_exception_postponements')} "
        "WHERE Key = {k:String} AND Kind = {kind:String} ORDER BY At",
        parameters={"k": item.key, "kind": item.kind}).result_rows  # fmt: skip
    assert [(who, until) for _, who, until in postponements] == [
        ("alice", back),
        ("bob", back),
        ("bob", datetime(1970, 1, 1)),
    ]
    with pytest.raises(ValueError, match="not after now"):
        actions.postpone_exception(store, CONFIG, NOW, key=item.key, actor="bob", until="2026-11-20T11:00:00")
    with pytest.raises(ValueError, match="at most 2000"):
        actions.comment_on_exception(store, CONFIG, NOW, key=item.key, actor="bob", text="x" * 2001)
    with pytest.raises(NotFound):
        actions.postpone_exception(store, CONFIG, NOW, key="O-NOPE", actor="bob", until="1h")
    act(store, CONFIG, NOW + timedelta(minutes=3), key=item.key, kind=item.kind, action="resolve", actor="bob")
    with pytest.raises(ValueError, match="resolved exception cannot be postponed"):
        actions.postpone_exception(
            store, CONFIG, NOW + timedelta(minutes=4), key=item.key, kind=item.kind, actor="bob", until="1h"
        )


def test_the_cli_comments_and_postpones_with_json_and_one_line_refusals(simulated, capsys):
    from biztrace.cli.main import main

    item = next(i for i in list_exceptions(simulated.store, CONFIG, NOW) if i.kind == "duplicate" and i.state == "open")
    base = ["exceptions", "--store", simulated.store.address.dsn, "--json"]

    def cli(at, *args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([*base, "--now", at.isoformat(), *args])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = cli(NOW, "comment", item.key, "--kind", "duplicate", "--by", "carol", "--text", "# not a heading")
    assert code == 0 and [c["text"] for c in json.loads(out)[0]["comments"]] == ["# not a heading"]
    code, out, _ = cli(NOW, "postpone", item.key, "--kind", "duplicate", "--by", "carol", "--until", "2h")
    assert code == 0 and json.loads(out)[0]["state"] == "postponed"

    def listed(at, state: str) -> set:
        return {(e["key"], e["kind"]) for e in json.loads(cli(at, "--key", item.key, "--state", state)[1])}

    assert (item.key, "duplicate") not in listed(NOW + timedelta(hours=1), "open")
    assert (item.key, "duplicate") in listed(NOW + timedelta(hours=1), "postponed")
    assert (item.key, "duplicate") in listed(NOW + timedelta(hours=2, seconds=1), "open"), "back by itself"

    code, _, err = cli(NOW, "postpone", item.key, "--by", "carol", "--until", "2026-11-20T10:00")
    assert code == 2 and "not after now" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli(NOW, "comment", "O-NOPE", "--by", "carol", "--text", "hello")
    assert code == 1 and "O-NOPE" in err and "Traceback" not in err


def test_the_holders_readers_share_the_loops_last_detection_with_the_lifecycle_applied_now(simulated):
    from biztrace.readmodel import last_pass
    from biztrace.readmodel.exceptions import queue_page

    store, at = simulated.store, NOW.replace(tzinfo=None) + timedelta(minutes=5)
    sync(store, CONFIG, at)  # the loop's pass publishes what it detected
    shared = queue_page(store, CONFIG, at, page_size=10_000, shared=True)
    assert shared == queue_page(store, CONFIG, at, page_size=10_000)  # the same queue as detecting again
    assert shared.matching > 0

    # it is the pass's detection: a failure stored after the pass shows in the shared queue after the next pass
    _add_hop(store, "O-AFTER-PASS", "order.captured", at, status="Error")
    later = at + timedelta(seconds=30)
    failed_later = Filters(key=None, kind="failed")
    assert "O-AFTER-PASS" not in {i.key for i in list_exceptions(store, CONFIG, later, failed_later, shared=True)}
    assert "O-AFTER-PASS" in {i.key for i in list_exceptions(store, CONFIG, later, failed_later)}
    sync(store, CONFIG, later)
    assert "O-AFTER-PASS" in {i.key for i in list_exceptions(store, CONFIG, later, failed_later, shared=True)}

    # people's actions show at once: the lifecycle is applied at the request's time
    act(store, CONFIG, later, key="O-AFTER-PASS", kind="failed", action="acknowledge", actor="ann")
    [mine] = [i for i in list_exceptions(store, CONFIG, later, failed_later, shared=True) if i.key == "O-AFTER-PASS"]
    assert mine.state == "acknowledged" and mine.acknowledged_by == "ann"

    # a pass older than two evaluation intervals (or under another configuration) does not answer
    _add_hop(store, "O-MUCH-LATER", "order.captured", later, status="Error")
    much_later = later + 3 * CONFIG.evaluation_interval
    assert "O-MUCH-LATER" in {i.key for i in list_exceptions(store, CONFIG, much_later, failed_later, shared=True)}
    other = CONFIG.model_copy(update={"evaluation_interval": timedelta(hours=1)})
    assert "O-MUCH-LATER" in {i.key for i in list_exceptions(store, other, later, failed_later, shared=True)}
    last_pass.forget(store)
    left = store.client.command(f"SELECT count() FROM system.tables WHERE database = '{store.database}' "
                                "AND name LIKE 'biztrace_detected%'")  # fmt: skip
    assert int(left) == 0


def test_forget_all_drops_the_loops_pass_and_every_readers_window(simulated):
    from biztrace.readmodel import last_pass
    from biztrace.readmodel.exceptions import queue

    store, at = simulated.store, NOW.replace(tzinfo=None) + timedelta(minutes=5)
    sync(store, CONFIG, at)  # the loop's pass
    for hours in (6, 24):  # two readers' windows, each kept for the refresh
        with queue(store, CONFIG, at, since=at - timedelta(hours=hours), keep=True):
            pass

    def kept() -> int:
        return int(store.client.command(
            f"SELECT count() FROM system.tables WHERE database = '{store.database}' "
            "AND match(name, '^biztrace_(queue|found|detected)')"))  # fmt: skip

    assert kept() >= 3
    last_pass.forget_all(store)
    assert kept() == 0
    with last_pass.shared(store, CONFIG, at) as found:
        assert found is None


def test_the_shared_queue_is_kept_until_the_lifecycle_changes_and_then_built_again(simulated):
    """The queue over the pass's detection is built once per version of the lifecycle (an action, a postponement,
    a postponement running out): kept between them, built again after each, so every read shows the states of now."""
    from biztrace.readmodel import actions, last_pass
    from biztrace.readmodel.exceptions import queue, queue_page

    store, at = simulated.store, NOW.replace(tzinfo=None) + timedelta(minutes=5)
    sync(store, CONFIG, at)

    def table(moment: datetime) -> str:
        with queue(store, CONFIG, moment, shared=True) as name:
            return name

    def states(moment: datetime) -> dict[tuple[str, str, str], str]:
        page = queue_page(store, CONFIG, moment, page_size=10_000, states=(), shared=True)
        assert page.matching == len(page.items) == sum(c.exceptions for c in page.counts)
        return {i.identity: i.state for i in page.items}

    first = table(at)
    assert table(at + timedelta(seconds=10)) == first, "nothing changed: the same queue is read"
    before = states(at)
    item = next(i for i in list_exceptions(store, CONFIG, at, shared=True) if i.state == "open")
    actions.postpone_exception(store, CONFIG, at + timedelta(seconds=10), key=item.key, kind=item.kind, actor="ann",
                               until=at + timedelta(seconds=50))  # fmt: skip
    postponed = table(at + timedelta(seconds=20))
    assert postponed != first
    assert states(at + timedelta(seconds=20)) == before | {item.identity: "postponed"}
    assert table(at + timedelta(seconds=40)) == postponed
    back = at + timedelta(seconds=51)  # the postponement ran out: the queue is built again, the exception open
    assert table(back) != postponed
    assert states(back) == before
    act(store, CONFIG, back, key=item.key, kind=item.kind, action="acknowledge", actor="bob")
    assert states(back) == before | {item.identity: "acknowledged"}

    last_pass.forget(store)  # the pass and what was built from it are dropped
    left = store.client.command(f"SELECT count() FROM system.tables WHERE database = '{store.database}' "
                                "AND match(name, '^biztrace_(queue|found|detected)')")  # fmt: skip
    assert int(left) == 0


def test_a_kept_queue_patched_for_the_keys_that_changed_equals_one_built_whole(simulated):
    """After an action, a postponement, a postponement running out, the kept queue is patched (the changed keys'
    rows computed again, the others copied): the same rows as a queue built whole at that version. A change
    recorded with a time before the kept queue's (an action dated back) cannot be found by time: built whole."""
    from biztrace.readmodel import actions, exceptions, last_pass

    store, at = simulated.store, NOW.replace(tzinfo=None) + timedelta(minutes=7)
    sync(store, CONFIG, at)
    filters = {"process": "", "system": "", "channel": "", "priority": ""}

    def rows(table: str) -> list[tuple]:
        return store.client.query(f"SELECT * FROM {store.table(table)} ORDER BY process, key, kind").result_rows

    def version(moment: datetime) -> tuple:
        return tuple(store.client.query(exceptions.sql("lifecycle_version"),
                                        parameters={"db": store.database, "now": moment}).result_rows[0])  # fmt: skip

    with last_pass.shared(store, CONFIG, at) as found:
        found_rows = found.derived["found"].table
        kept = last_pass.Derived(table=exceptions._queue_table(store, CONFIG, at, found_rows, filters),
                                 version=version(at), at=at)  # fmt: skip
        opened = [i for i in list_exceptions(store, CONFIG, at, shared=True) if i.state == "open"]
        first, second = opened[0], next(i for i in opened if i.key != opened[0].key)
        later = at + timedelta(seconds=20)
        act(store, CONFIG, later, key=first.key, kind=first.kind, action="acknowledge", actor="ann")
        actions.postpone_exception(store, CONFIG, later, key=second.key, kind=second.kind, actor="ann",
                                   until=at + timedelta(seconds=40))  # fmt: skip
        for moment in (later, at + timedelta(seconds=41)):  # the postponement runs, then has run out
            patched = exceptions._patched(store, CONFIG, moment, found_rows, filters, kept, version(moment))
            whole = exceptions._queue_table(store, CONFIG, moment, found_rows, filters)
            assert patched is not None, "the changed keys are found by time: the kept queue is patched"
            assert rows(patched) == rows(whole)
            states = {(r[1], r[2]): r[14] for r in rows(patched)}
            assert states[(first.key, first.kind)] == "acknowledged"
            assert states[(second.key, second.kind)] == ("postponed" if moment == later else "open")
            for table in (patched, whole):
                store.client.command(f"DROP TABLE {store.table(table)}")
        act(store, CONFIG, at - timedelta(seconds=1), key=second.key, kind=second.kind, action="acknowledge",
            actor="bob")  # fmt: skip
        moment = at + timedelta(seconds=42)
        assert exceptions._patched(store, CONFIG, moment, found_rows, filters, kept, version(moment)) is None
        store.client.command(f"DROP TABLE {store.table(kept.table)}")
    last_pass.forget(store)


def test_the_loop_builds_the_queue_for_its_readers_after_each_pass(simulated):
    """After a pass (before on_pass), the loop has built the whole queue over the pass's detection: the first
    reader of the holder's API reads it instead of building it."""
    import threading

    from biztrace.alerts.loop import run_forever
    from biztrace.readmodel import exceptions
    from biztrace.readmodel.exceptions import queue

    store, at = simulated.store, NOW.replace(tzinfo=None) + timedelta(minutes=5)
    stop, seen = threading.Event(), []

    def tables() -> set[str]:
        return {row[0] for row in store.client.query(
            f"SELECT name FROM system.tables WHERE database = '{store.database}' AND name LIKE 'biztrace_queue%'"
        ).result_rows}  # fmt: skip

    def on_pass(report) -> None:
        before = tables()
        with queue(store, CONFIG, report.evaluated_at, shared=True) as table:
            seen.append((before, table, tables()))
        stop.set()

    run_forever(store, CONFIG, stop=stop, clock=lambda: at, on_pass=on_pass)
    [(before, table, during)] = seen
    assert before == {table} == during, "the reader read the queue the loop had built"
    assert not tables(), "dropped with the pass when the loop stops"
    assert not exceptions.prepare(store, CONFIG, at), "no pass published: nothing to build (it would detect for none)"


def test_a_windows_queue_is_kept_for_its_pages_at_the_same_moment(simulated, monkeypatch):
    """The dashboard's queue of one window (``keep``): detected once per window and moment, read by its other
    pages, sorts and kinds, patched after an action; the same queue a detection of its own gives."""
    from biztrace.readmodel import last_pass
    from biztrace.readmodel.exceptions import queue, queue_page

    store, at = simulated.store, NOW.replace(tzinfo=None) + timedelta(minutes=9)
    since = at - timedelta(days=2)

    def table(moment: datetime, **filters) -> str:
        with queue(store, CONFIG, moment, since=moment - timedelta(days=2), keep=True, **filters) as name:
            return name

    def page(kept: bool) -> object:
        return queue_page(store, CONFIG, at, since=since, states=(), page_size=10_000, keep=kept)

    first = table(at)
    assert table(at) == first, "the same window at the same moment: its kept queue"
    kept = page(True)
    assert kept == page(False) and kept.matching > 0
    item = next(i for i in kept.items if i.state == "open")
    act(store, CONFIG, at + timedelta(seconds=1), key=item.key, kind=item.kind, action="acknowledge", actor="ann")
    after = page(True)
    assert after == page(False)
    assert {i.identity: i.state for i in after.items} == {i.identity: i.state for i in kept.items} | {
        item.identity: "acknowledged"}  # fmt: skip
    assert table(at, process="order_to_cash") != table(at), "another filter: a queue of its own"
    monkeypatch.setattr(last_pass, "WINDOWS", 1)  # one window kept: another one's drops it
    kept_now = table(at)
    table(at, process="returns")  # a new window: the older ones are dropped
    assert table(at) != kept_now, "dropped for the newer window: detected again"
    monkeypatch.undo()
    later = table(at + timedelta(minutes=1))
    assert later != first and table(at + timedelta(minutes=1)) == later, "the next moment detects again"
    for process in ("", "order_to_cash", "returns"):
        last_pass.forget(store, window=("window", timedelta(days=2), process, "", "", ""))
    left = store.client.command(f"SELECT count() FROM system.tables WHERE database = '{store.database}' "
                                "AND match(name, '^biztrace_(queue|found|detected)')")  # fmt: skip
    assert int(left) == 0, "the replaced windows' tables were dropped, the kept ones with forget"


def test_a_mismatch_in_the_queue_is_the_reconciliation_finding(simulated):
    """The queue's mismatches (reconcile_detected.sql) and reconcile.mismatches' findings are one fact: the same
    pairs, system at fault, evidence, values and transaction value."""
    from biztrace.readmodel import reconcile

    store = simulated.store
    findings = {(m.key, m.match_key, m.field): m for m in reconcile.mismatches(store, CONFIG, NOW)}
    queued = [item for item in detect(store, CONFIG, NOW) if item.kind == "mismatch"]
    assert len(queued) == len(findings) > 0
    for item in queued:
        m = findings[(item.key, item.detail["match_key"], item.detail["field"])]
        assert (item.system, item.evidence, item.detail["left"], item.detail["right"], item.amount, item.currency) == (
            m.system_at_fault, m.evidence, m.left, m.right, m.amount, m.currency), item  # fmt: skip
