"""The dashboard's queue of a window, beside the alert loop (``biztrace up``): taken from the loop's last pass
(its kept snapshot and its detection) instead of detected again, it is the queue a detection of the window
finds at the pass's time, on foreign producers' spans."""

from __future__ import annotations

from datetime import UTC, timedelta

from biztrace.alerts.loop import run_pass
from biztrace.config import load
from biztrace.readmodel import last_pass
from biztrace.readmodel.exceptions import queue_page
from biztrace.readmodel.snapshots import Snapshots
from biztrace.store import Store

from .conftest import BATCHES, NOW, Corpus, copy_batch

EVERY_STATE = ("open", "acknowledged", "postponed", "resolved")


def _queue(store: Store, config, now, since, *, keep: bool) -> list[tuple]:
    page = queue_page(store, config, now, since=since, states=EVERY_STATE, page_size=100_000, keep=keep)
    return sorted((i.process, i.key, i.kind, i.stage, i.system, i.state, i.amount, tuple(i.evidence))
                  for i in page.items)  # fmt: skip


def test_a_windows_queue_taken_from_the_loops_last_pass_is_the_one_detected_then(corpus: Corpus, replica: Store):
    config, at = load(None), NOW.replace(tzinfo=None)
    for batch in range(BATCHES):
        copy_batch(corpus, replica, batch)
    kept = Snapshots(settle=timedelta(0), publish=True)
    try:
        run_pass(replica, config, at - timedelta(minutes=5), snapshots=kept)
        run_pass(replica, config, at, snapshots=kept)
        for days in (1, 7, 60):
            since = at - timedelta(days=days)
            taken = _queue(replica, config, at, since, keep=True)
            assert taken and taken == _queue(replica, config, at, since, keep=False), days
        # asked later, the window is the pass's: an order that failed since is not in it yet; the window detected
        # without the pass (no loop) has it
        failed = "O-FAILED-AFTER-THE-PASS"
        replica.client.command(
            f"INSERT INTO {replica.table('biz_hops')} (Timestamp, SpanId, OrderId, Process, Stage, System, "
            "StatusCode, ErrorType) VALUES ({at:DateTime64(9)}, 'late-1', {order:String}, 'order_to_cash', "
            "'order.captured', 'shop', 'Error', 'timeout')",
            parameters={"at": at + timedelta(seconds=10), "order": failed},
        )  # fmt: skip
        later, since = at + timedelta(seconds=30), at - timedelta(days=1)
        assert failed not in {key for _, key, *_ in _queue(replica, config, later, since, keep=True)}
    finally:
        kept.close(replica)
        last_pass.forget(replica)
    assert failed in {key for _, key, *_ in _queue(replica, config, later, since, keep=False)}


def test_the_dashboards_snapshot_of_a_window_read_from_the_loops_snapshot_is_the_one_classified(
    corpus: Corpus, replica: Store
) -> None:
    """Every page's transactions of the window (the Overview, the process map): read from the loop's kept
    snapshot and brought to the page's time, they are the rows a classification of the window makes."""
    from biztrace.dashboard import data, queries

    config, at = load(None), NOW.replace(tzinfo=UTC, microsecond=0)
    for batch in range(BATCHES):
        copy_batch(corpus, replica, batch)
    data.share_store(replica)

    def rows(filters: queries.Filters, now) -> list[tuple]:
        with queries.snapshot(config, filters, now) as table:
            return replica.client.query(f"SELECT * FROM {replica.table(table.split('.', 1)[1])} "
                                        "ORDER BY process, key").result_rows  # fmt: skip

    windows = [queries.Filters(window="7d"), queries.Filters(window="90d", process="order_to_cash"),
               queries.Filters(window="30d", channel="web")]  # fmt: skip
    kept = Snapshots(settle=timedelta(0), publish=True)
    try:
        run_pass(replica, config, at - timedelta(minutes=1), snapshots=kept, persist=False)
        # an order captured after the pass: the kept snapshot has not seen it (the next pass will)
        replica.client.command(
            f"INSERT INTO {replica.table('biz_hops')} (Timestamp, SpanId, OrderId, Process, Stage, System) "
            "VALUES ({at:DateTime64(9)}, 'after-1', 'O-AFTER-THE-PASS', 'order_to_cash', 'order.captured', 'shop')",
            parameters={"at": at.replace(tzinfo=None)},
        )  # fmt: skip
        later = at + timedelta(minutes=1)  # within two evaluation intervals: the kept rows, aged to it
        read = [rows(filters, later) for filters in windows]
        trend = queries.previous_sla_trend(config, queries.Filters(window="30d"), later)  # the period before
    finally:
        kept.close(replica)
    try:
        computed = [rows(filters, later) for filters in windows]
        assert trend["met"].sum() > 0
        assert trend.equals(queries.previous_sla_trend(config, queries.Filters(window="30d"), later))
        assert "O-AFTER-THE-PASS" in {row[1] for row in computed[0]}
        assert read[0] and read[1] and read == [[r for r in c if r[1] != "O-AFTER-THE-PASS"] for c in computed]
    finally:
        data.share_store(None)


def test_the_headline_figures_beside_the_loop_are_those_computed_and_the_overviews(corpus: Corpus, replica: Store):
    """``GET /figures`` and ``biztrace figures`` (beside ``up``) read the loop's kept snapshot, brought to their
    time: the end-to-end SLA adherence computed from every transaction, and the Overview's, which reads it too;
    an order captured after the pass waits for the next one."""
    from biztrace.dashboard import data, queries
    from biztrace.readmodel.figures import headline

    config, at = load(None), NOW.replace(tzinfo=UTC, microsecond=0)
    for batch in range(BATCHES):
        copy_batch(corpus, replica, batch)
    later, start = at + timedelta(minutes=1), at + timedelta(minutes=1) - timedelta(days=30)
    kept = Snapshots(settle=timedelta(0), publish=True)
    data.share_store(replica)
    try:
        run_pass(replica, config, at - timedelta(minutes=1), snapshots=kept, persist=False)
        read = headline(replica, config, later, start)
        overview = queries.overview(config, queries.Filters(window="30d"), later)
        replica.client.command(
            f"INSERT INTO {replica.table('biz_hops')} (Timestamp, SpanId, OrderId, Process, Stage, System) "
            "VALUES ({at:DateTime64(9)}, 'after-2', 'O-AFTER-THE-HEADLINE', 'order_to_cash', 'order.captured', 'shop')",
            parameters={"at": at.replace(tzinfo=None)},
        )  # fmt: skip
        again = headline(replica, config, later, start)  # the mismatch rates are judged live: not compared
        assert again.sla_adherence == read.sla_adherence, "what the pass has not seen waits for the next one"
    finally:
        kept.close(replica)
        data.share_store(None)
    computed = headline(replica, config, later, start)
    by_process = {g.labels["process"]: g for g in computed.sla_adherence}
    assert by_process["order_to_cash"].pending > 0
    before = by_process["order_to_cash"].model_copy(update={"pending": by_process["order_to_cash"].pending - 1})
    assert {g.labels["process"]: g for g in read.sla_adherence} == by_process | {"order_to_cash": before}
    assert read.sla_adherence_overall.adherence == computed.sla_adherence_overall.adherence
    assert (overview.adherence_overall.met, overview.adherence_overall.measured) == (
        read.sla_adherence_overall.met,
        read.sla_adherence_overall.measured,
    )


def test_beside_the_loop_a_page_whose_refresh_tick_falls_before_the_last_pass_reads_that_pass(
    corpus: Corpus, replica: Store, monkeypatch
) -> None:
    """The loop passes on its own schedule, the dashboard's tick on the refresh's: a pass published after the
    tick (here the minute's: the refresh as often as the loop passes) would leave every page computing until
    the next tick, and a tick after the pass until the next pass. The page's time is the pass's while it can
    answer, which its snapshot and its detection do. A refresh
    longer than the loop's interval keeps its tick (the figures stay put for as long as it says)."""
    from biztrace.dashboard import data, ui
    from biztrace.readmodel import snapshots

    config = load(None)
    for batch in range(BATCHES):
        copy_batch(corpus, replica, batch)
    monkeypatch.setenv("BIZTRACE_REFRESH_S", "60")  # the loop's default interval
    monkeypatch.delenv("BIZTRACE_CONFIG", raising=False)
    minute = NOW.replace(tzinfo=UTC, second=0, microsecond=0)  # the page's tick
    passed, asked = minute + timedelta(seconds=20), minute + timedelta(seconds=35)  # the pass, the page's clock
    kept = Snapshots(settle=timedelta(0), publish=True)
    data.share_store(replica)
    try:
        assert ui.tick(asked) == minute, "no loop: the refresh's tick"
        run_pass(replica, config, passed.replace(tzinfo=None), snapshots=kept)
        at = ui.tick(asked)
        assert at == passed, (at, passed, minute)
        with snapshots.last_pass_of(replica, config, at) as held:
            assert held is not None and held.now == passed.replace(tzinfo=None), "the page reads the pass"
        with snapshots.published(replica, config, minute) as before:
            assert before is None, "at the minute's tick the page would have computed"
        assert ui.tick(minute + timedelta(seconds=10)) == minute, "a pass after the page's clock is not taken"
        # the next minute's tick, before the next pass: still the pass's time (the pages read it, not compute)
        assert ui.tick(minute + timedelta(seconds=70)) == passed
        assert ui.tick(passed + 2 * config.evaluation_interval + timedelta(seconds=1)) != passed, "too old"
        monkeypatch.setenv("BIZTRACE_REFRESH_S", "3600")
        assert ui.tick(asked) == minute.replace(minute=0), "a refresh longer than the loop's keeps its tick"
    finally:
        kept.close(replica)
        last_pass.forget(replica)
        data.share_store(None)
