"""The alert loop's kept snapshot equals a full one (issue 18, incremental evaluation).

On the foreign producers' spans (plain OpenTelemetry SDKs, Python and Node.js: keys linked on
separate hops, optional attributes left out), copied into a fresh database in three batches in an
order nobody shaped them for (by a hash of the span id: a transaction's later hops often arrive
before its earlier ones, a shipment's hop before the hop that links it to its order), the
snapshot brought up to date after each batch must hold exactly the rows a full snapshot computes
at the same time. The clock moves on too: hops stamped after a pass's time are read only once
it reaches them, and in-flight transactions turn stuck as their next stage falls overdue.
"""

from __future__ import annotations

import time
import uuid
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

import pytest

from biztrace import config as alerts_config
from biztrace.readmodel import exceptions, last_pass, mapping, reconcile
from biztrace.readmodel.rules import snapshot_sql
from biztrace.readmodel.snapshots import Snapshots
from biztrace.readmodel.transactions import query_parameters
from biztrace.store import Store, connect, schema
from support import store_dsn

from .conftest import BATCHES, MAPPINGS, NOW, Corpus, copy_batch

COLUMNS = (
    "process, key, state, stage, channel, priority, started_at, last_at, completed_at, due_at, system, "
    "exception_stage, exception_since, evidence_span, next_stage, current_stage_at, error_type, amount, currency, "
    "next_system, last_system, trouble_system, trouble_stage, trouble_at, last_span, trouble_span, "
    "first_system, last_hop_stage, hops, stages_reached, stages_reached_at"
)


def _differences(store: Store, kept: str, config, now) -> tuple[int, int, int]:
    """Rows only in the kept snapshot, rows only in a full one, and the full one's size."""
    full = store.create_memory_table(snapshot_sql(config, keys=False), query_parameters(store, config, now))
    try:
        table = store.table(full)
        only_kept = store.client.command(
            f"SELECT count() FROM (SELECT {COLUMNS} FROM {kept} EXCEPT ALL SELECT {COLUMNS} FROM {table})"
        )
        only_full = store.client.command(
            f"SELECT count() FROM (SELECT {COLUMNS} FROM {table} EXCEPT ALL SELECT {COLUMNS} FROM {kept})"
        )
        rows = store.client.command(f"SELECT count() FROM {table}")
        return int(only_kept), int(only_full), int(rows)
    finally:
        store.client.command(f"DROP TABLE IF EXISTS {store.table(full)}")


@pytest.mark.parametrize(
    ("mapped", "once"), [(False, False), (True, False), (True, True)], ids=["conventional", "mapped", "mapped-once"]
)
def test_a_kept_snapshot_brought_up_to_date_equals_a_full_one(
    request, replica: Store, mapped: bool, once: bool
) -> None:
    """``mapped``: the legacy order system's route-named spans, hops only through a mapping rule (read from
    otel_traces, with no stored time of their own: their part's is read), beside conventional ERP hops.
    ``once``: each pass reads them as the alert loop's does, applied once into a table for the pass
    (``mapping.materialized``); the full snapshot it is compared with applies the rules itself."""
    corpus: Corpus = request.getfixturevalue("legacy" if mapped else "corpus")
    config = alerts_config.load(MAPPINGS) if mapped else alerts_config.load()
    snapshots = Snapshots(settle=timedelta(0), full_share=float("inf"))  # every pass brought up to date
    base = NOW.replace(tzinfo=None)
    # the first pass sees a third of the spans, two days before the corpus's present: every later
    # hop is ahead of its clock; then each pass sees one more third, a day later
    moments = [base - timedelta(days=2), base - timedelta(days=1), base]
    modes, states = [], []
    try:
        for batch, now in enumerate(moments):
            copy_batch(corpus, replica, batch)
            with mapping.materialized(replica, config) if once else nullcontext():
                taken = snapshots.take(replica, config, now)
            modes.append(taken.reason or taken.mode)
            only_kept, only_full, rows = _differences(replica, taken.table, config, now)
            assert (only_kept, only_full) == (0, 0), f"pass {batch}: {only_kept} rows only kept, {only_full} only full"
            # (a third of the legacy system's thirteen spans may hold no hop yet)
            assert rows > 0 or (mapped and batch < len(moments) - 1)
            states.append(dict(replica.client.query(
                f"SELECT state, count() FROM {taken.table} GROUP BY state").result_rows))  # fmt: skip
        # the clock alone, no new hop: in-flight transactions fall overdue
        later = base + timedelta(days=3)
        with mapping.materialized(replica, config) if once else nullcontext():
            taken = snapshots.take(replica, config, later)
        assert taken.mode == "incremental"
        assert _differences(replica, taken.table, config, later)[:2] == (0, 0)
        aged = dict(replica.client.query(f"SELECT state, count() FROM {taken.table} GROUP BY state").result_rows)
    finally:
        snapshots.close(replica)
    assert modes == ["first pass", "incremental", "incremental"]
    if not mapped:  # (the legacy system's three orders: none is in flight with a stage falling due then)
        assert aged.get("in_flight", 0) < states[-1].get("in_flight", 0), (states[-1], aged)
        assert aged.get("stuck", 0) > states[-1].get("stuck", 0)


@pytest.mark.parametrize("once", [False, True], ids=["each-statement", "once"])
def test_a_mapped_span_stored_after_a_pass_counts_in_the_next_one(legacy: Corpus, replica: Store, once: bool) -> None:
    """A span that only a mapping rule makes a hop has no stored time of its own: the next pass finds it by its
    otel_traces part's, even stamped long before the pass (the legacy system retried a failed ship call).
    ``once``: the passes read the mapped spans as the alert loop's do (``mapping.materialized``), and the span is
    stored while the first pass runs, after its mapped spans were read and before its watermark: the second pass
    finds it within the watermark's overlap (the loop's is two minutes; here a few seconds)."""
    config = alerts_config.load(MAPPINGS)
    for batch in range(BATCHES):
        copy_batch(legacy, replica, batch)
    time.sleep(1.1)  # stored times count seconds: the first pass starts a second after the spans were stored
    snapshots = Snapshots(settle=timedelta(seconds=5 if once else 0), full_share=float("inf"))
    now = NOW.replace(tzinfo=None)

    def state(table: str) -> str:
        return str(replica.client.command(f"SELECT state FROM {table} WHERE key = 'LEG-3003'"))

    retry = (
        f"INSERT INTO {replica.table('otel_traces')} (Timestamp, TraceId, SpanId, SpanName, SpanKind, ServiceName, "
        "SpanAttributes, Duration, StatusCode) VALUES ({at:DateTime64(9)}, 'retry-trace', 'retry-span', "
        "'POST /api/orders/{id}/ship', 'SERVER', 'legacy-oms', map('sales_order_number', 'LEG-3003'), 95000000, "
        "'Unset')"
    )
    try:
        with mapping.materialized(replica, config) if once else nullcontext():
            if once:
                replica.client.command(retry, parameters={"at": now - timedelta(hours=19)})
            first = snapshots.take(replica, config, now)
        assert (first.reason, state(first.table)) == ("first pass", "failed")
        if not once:
            replica.client.command(retry, parameters={"at": now - timedelta(hours=19)})
        later = now + timedelta(minutes=1)
        with mapping.materialized(replica, config) if once else nullcontext():
            taken = snapshots.take(replica, config, later)
        assert taken.mode == "incremental"
        assert _differences(replica, taken.table, config, later)[:2] == (0, 0)
        assert state(taken.table) != "failed"  # the retry went through: shipped
    finally:
        snapshots.close(replica)


def test_a_full_snapshot_is_taken_when_an_incremental_one_cannot_be_trusted(corpus: Corpus, replica: Store) -> None:
    config = alerts_config.load()
    copy_batch(corpus, replica, 0)
    time.sleep(1.1)  # biz_hops.Ingested counts seconds: the first pass starts a second after the batch was stored
    snapshots = Snapshots(settle=timedelta(0))
    now = NOW.replace(tzinfo=None)
    try:
        assert snapshots.take(replica, config, now).reason == "first pass"
        assert snapshots.take(replica, config, now + timedelta(minutes=1)).mode == "incremental"
        assert snapshots.take(replica, config, now).reason == "time went back"
        other = alerts_config.load()
        other.evaluation_interval = timedelta(seconds=17)
        assert snapshots.take(replica, other, now).reason == "configuration changed"
        # most transactions touched at once (a backfill): one full query is cheaper
        copy_batch(corpus, replica, 1)
        assert "transactions changed" in snapshots.take(replica, other, now).reason
        assert snapshots.take(replica, other, now, full=True).reason == "asked"
    finally:
        snapshots.close(replica)
    tables = replica.client.command(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name LIKE 'biztrace_snapshot%'",
        parameters={"db": replica.database})  # fmt: skip
    assert int(tables) == 0  # closed: nothing left behind


DETECTED = "process, key, kind, stage, system, since, priority, channel, evidence, detail, amount, currency"


def test_the_bookkeeping_built_on_the_previous_pass_detects_what_a_full_detection_does(
    corpus: Corpus, replica: Store
) -> None:
    """Duplicates and mismatches found again only for the changed transactions (and those whose
    reconciliation grace ended), the others carried over: the same rows as detecting everything."""
    config = alerts_config.load()
    # one rule also requires the right side, 12 hours after the left: a pair turns mismatched with time alone
    accepted = next(rule for rule in config.reconciliation if rule.name == "invoiced_vs_accepted")
    accepted.presence, accepted.grace = "both", timedelta(hours=12)
    snapshots = Snapshots(settle=timedelta(0), full_share=float("inf"))
    base = NOW.replace(tzinfo=None)
    moments = [base - timedelta(days=2), base - timedelta(days=1), base, base + timedelta(days=3)]
    built_on_previous, kinds, straddling = [], set(), 0
    # an order captured an hour before the third pass and never accepted: in flight then, stuck at the fourth
    # by the clock alone (no hop of it changed since): its stuck row is found again, not carried over
    replica.client.command(
        f"INSERT INTO {replica.table('biz_hops')} (Timestamp, SpanId, OrderId, Process, Stage, System) VALUES "
        "({at:DateTime64(9)}, 'clock-1', 'O-CLOCK', 'order_to_cash', 'order.captured', 'crm')",
        parameters={"at": base - timedelta(hours=1)},
    )  # fmt: skip
    # a pair whose judgment depends on the window read (reconcile.sql reads a left side from a look-back before
    # the window, twice the right side's SLA, a right side from the window's start): an invoice posted four days
    # after its shipment (a day's window sees an invoice without its shipment), and an invoice reported 28 hours
    # before the shipment it bills (a day's window sees the shipment alone)
    replica.client.command(
        f"INSERT INTO {replica.table('biz_hops')} (Timestamp, SpanId, OrderId, ShipmentId, InvoiceId, Process, Stage, "
        "System, Amount, Quantity, Currency) VALUES "
        "({base:DateTime64(9)} - INTERVAL 4 DAY, 'late-1', 'O-LATE', 'SH-LATE', '', 'order_to_cash', "
        "'shipment.confirmed', 'wms', 40, 2, 'EUR'), "
        "({base:DateTime64(9)} - INTERVAL 1 HOUR, 'late-2', 'O-LATE', 'SH-LATE', 'INV-LATE', 'order_to_cash', "
        "'invoice.posted', 'erp', 40, 2, 'EUR'), "
        "({base:DateTime64(9)} - INTERVAL 30 HOUR, 'ooo-1', 'O-OOO', 'SH-OOO', 'INV-OOO', 'order_to_cash', "
        "'invoice.posted', 'erp', 55, 1, 'EUR'), "
        "({base:DateTime64(9)} - INTERVAL 2 HOUR, 'ooo-2', 'O-OOO', 'SH-OOO', '', 'order_to_cash', "
        "'shipment.confirmed', 'wms', 55, 1, 'EUR')",
        parameters={"base": base},
    )  # fmt: skip
    try:
        for batch, now in enumerate(moments):
            if batch < BATCHES:
                copy_batch(corpus, replica, batch)
            taken = snapshots.take(replica, config, now)
            if now == moments[-1]:
                assert "O-CLOCK" not in (taken.changed or [])
                state = f"SELECT state FROM {taken.table} WHERE key = 'O-CLOCK'"
                assert replica.client.command(state) == "stuck"
            with last_pass.at(replica, config, taken.previous_now or now) as previous:
                built_on_previous.append(taken.changed is not None and previous is not None)
            exceptions.sync(replica, config, now, classified=taken.table, changed=taken.changed,
                            previous_now=taken.previous_now)  # fmt: skip
            with reconcile.judging(replica, config, now) as judged:  # everything detected again: the full pass's way
                detection = (exceptions.detected_sql(taken.table, config, keys=False),
                             query_parameters(replica, config, now) | {"process": ""}, "biztrace_full")  # fmt: skip
                full = exceptions.with_mismatches(replica, config, judged, detection, taken.table)
            try:
                table = replica.table(full)
                with last_pass.at(replica, config, now) as published:
                    assert published is not None
                    kept = replica.table(published.table)
                    only_kept = replica.client.command(
                        f"SELECT count() FROM (SELECT {DETECTED} FROM {kept} EXCEPT ALL SELECT {DETECTED} FROM {table})"
                    )
                    only_full = replica.client.command(
                        f"SELECT count() FROM (SELECT {DETECTED} FROM {table} EXCEPT ALL SELECT {DETECTED} FROM {kept})"
                    )
                if int(only_kept) or int(only_full):  # say which rows, for whoever reads the failure
                    pytest.fail(
                        f"pass {batch}: only kept "
                        + str(
                            replica.client.query(
                                f"SELECT {DETECTED} FROM {kept} EXCEPT ALL SELECT {DETECTED} FROM {table}"
                            ).result_rows
                        )
                        + " only full "
                        + str(
                            replica.client.query(
                                f"SELECT {DETECTED} FROM {table} EXCEPT ALL SELECT {DETECTED} FROM {kept}"
                            ).result_rows
                        )
                    )
                kinds |= {kind for (kind,) in replica.client.query(f"SELECT DISTINCT kind FROM {table}").result_rows}
            finally:
                replica.client.command(f"DROP TABLE IF EXISTS {replica.table(full)}")
            straddling += _reports_from_kept_pairs_are_the_judged_ones(replica, config, now)
    finally:
        snapshots.close(replica)
        last_pass.forget(replica)
    assert built_on_previous == [False, True, True, True]
    assert {"duplicate", "mismatch", "stuck"} <= kinds, kinds  # the carried-over kinds were there to carry
    assert straddling, "some window read pairs whose judgment did not hold for it (judged again)"


EVENTS = "At, Process, Key, Kind, Stage, Action, Actor, Assignee, Note, System, Priority, Channel"


def test_the_bookkeeping_built_on_the_previous_pass_records_what_a_full_one_does(
    corpus: Corpus, replica: Store, store_root: Path
) -> None:
    """The audit trail the loop's passes write, each built on the one before (only the exceptions the two passes'
    detections disagree on, or a person acted on since, compared with their stored lifecycle), is the one full
    bookkeeping writes on the same spans and the same people's actions (another store): the same opens, reopens
    and resolves, at the same times, including after a person resolved a detected exception, reopened one no
    longer detected and acknowledged another."""
    config = alerts_config.load()
    full = connect(store_dsn(store_root, f"t_{uuid.uuid4().hex[:12]}"))
    schema.apply(full, schema.SchemaOptions())
    snapshots = Snapshots(settle=timedelta(0), full_share=float("inf"))
    base = NOW.replace(tzinfo=None)
    moments = [base - timedelta(days=2), base - timedelta(days=1), base, base + timedelta(days=3)]
    built, acted = [], set()
    events = replica.table(schema.EXCEPTION_EVENTS)

    def last_actions(last: str, limit: int) -> list[tuple[str, str, str]]:
        return [tuple(row) for row in replica.client.query(  # type: ignore[misc]
            f"SELECT Process, Key, Kind FROM {events} WHERE Key != '' GROUP BY Process, Key, Kind "
            f"HAVING argMax(Action, At) = {{last:String}} ORDER BY Key, Kind LIMIT {limit}",
            parameters={"last": last}).result_rows]  # fmt: skip

    try:
        for batch, now in enumerate(moments):
            if batch < BATCHES:
                copy_batch(corpus, replica, batch)
                copy_batch(corpus, full, batch)
            taken = snapshots.take(replica, config, now)
            built.append(taken.stored_since is not None)
            exceptions.sync(replica, config, now, classified=taken.table, changed=taken.changed,
                            previous_now=taken.previous_now, stored_since=taken.stored_since)  # fmt: skip
            exceptions.sync(full, config, now)  # every exception detected and compared with its lifecycle
            trails = [(one.table(schema.EXCEPTION_EVENTS), other.table(schema.EXCEPTION_EVENTS))
                      for one, other in ((replica, full), (full, replica))]  # fmt: skip
            only = [int(replica.client.command(f"SELECT count() FROM (SELECT {EVENTS} FROM {one} "
                                               f"EXCEPT ALL SELECT {EVENTS} FROM {other})"))
                    for one, other in trails]  # fmt: skip
            assert only == [0, 0], (
                f"pass {batch}: {only[0]} events only built on the previous pass, {only[1]} only full"
            )
            # people act between passes, the same on both stores
            later = now + timedelta(minutes=1)
            chosen = [("resolve", *last_actions("open", 1)[0]), ("acknowledge", *last_actions("open", 2)[1])]
            chosen += [("reopen", *found) for found in last_actions("resolve", 1)]
            for action, process, key, kind in chosen:
                for store in (replica, full):
                    exceptions.act(
                        store, config, later, key=key, kind=kind, process=process, action=action, actor="ann"
                    )
                acted.add(action)
        assert int(replica.client.command(f"SELECT count() FROM {events}")) > 0
    finally:
        snapshots.close(replica)
        last_pass.forget(replica)
        last_pass.forget(full)
        full.client.command(f"DROP DATABASE IF EXISTS {full.database}")
        full.close()
    assert built == [False, True, True, True]
    assert acted == {"resolve", "acknowledge", "reopen"}


WINDOWS = (timedelta(hours=6), timedelta(days=1), timedelta(days=2), timedelta(days=30))


def _reports_from_kept_pairs_are_the_judged_ones(store: Store, config, now) -> int:
    """At the pass's time, every window's reconciliation report (parity, mismatches) read from the pairs the
    pass kept is the one judged from the window's hops; how many of those reads judged some pairs again
    (their judgment did not hold for the window: reconcile._kept_report)."""
    sent: list[str] = []
    client = store.client

    def spy(method):
        original = getattr(client, method)

        def sending(text, *args, **kwargs):
            sent.append(text)
            return original(text, *args, **kwargs)

        return sending

    again = 0
    for window in WINDOWS:
        for period in ("hour", "day"):
            judged = reconcile.report(store, config, now, since=now - window, period=period, from_pass=False)
            sent.clear()
            client.query, client.command = spy("query"), spy("command")
            try:
                read = reconcile.report(store, config, now, since=now - window, period=period)
            finally:
                del client.query, client.command
            assert any("biztrace_pairs_" in text for text in sent), "read from the kept pairs"
            again += any("One reconciliation rule: pair" in text for text in sent)
            assert read == judged, (window, period)
    return again


def test_the_queue_kept_with_a_pass_is_the_queue_detected_for_itself_and_patched_after_an_action(
    corpus: Corpus, replica: Store
) -> None:
    """On the foreign producers' spans: the queue the loop builds over its pass (its exceptions kept with it)
    is the queue a reader detecting for itself gets; after an action it is patched, only that exception's
    state changed."""
    config = alerts_config.load()
    for batch in range(BATCHES):
        copy_batch(corpus, replica, batch)
    now = NOW.replace(tzinfo=None)
    exceptions.sync(replica, config, now)
    try:
        assert exceptions.prepare(replica, config, now)
        kept = exceptions.queue_page(replica, config, now, states=(), page_size=10_000, shared=True)
        assert kept == exceptions.queue_page(replica, config, now, states=(), page_size=10_000)
        assert kept.matching > 0 and {i.kind for i in kept.items} >= {"stuck", "failed"}
        item = next(i for i in kept.items if i.state == "open")
        later = now + timedelta(seconds=1)
        exceptions.act(replica, config, later, key=item.key, kind=item.kind, action="acknowledge", actor="ann")
        after = exceptions.queue_page(replica, config, later, states=(), page_size=10_000, shared=True)
        states = {i.identity: i.state for i in kept.items} | {item.identity: "acknowledged"}
        assert {i.identity: i.state for i in after.items} == states
    finally:
        last_pass.forget(replica)
