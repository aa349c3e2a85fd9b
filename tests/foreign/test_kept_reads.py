"""A key's transactions read from the loop's kept snapshot are the ones computed for it (issue 15).

The API's key tree and the order page answer a key's transactions with a point read of the snapshot
the alert loop published (``snapshots.kept_transactions``) when none of the tree's hops was stored
or stamped after it, else they compute them. On the foreign producers' spans (plain OpenTelemetry
SDKs, Python and Node.js: optional attributes left out, keys linked on separate hops), every key
the store holds (orders, shipments, invoices, returns, customers) must get the same transactions
either way: at the pass's time, a day later (in-flight transactions fall overdue: the point read
ages them as a pass would), and after a batch of hops arrives (the point read steps aside).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from biztrace import config as alerts_config
from biztrace.readmodel.lookup import kept_tree_transactions, key_history, tree_keys, tree_transactions
from biztrace.readmodel.snapshots import Snapshots, kept_transactions, published
from biztrace.readmodel.transactions import Transaction, transactions
from biztrace.store import Store

from .conftest import NOW, Corpus, copy_batch

KEY_COLUMNS = ("OrderId", "ShipmentId", "InvoiceId", "ReturnId", "CustomerId")


def _keys(store: Store) -> list[str]:
    union = " UNION DISTINCT ".join(
        f"SELECT {column} AS k FROM {store.table('biz_hops')} WHERE {column} != ''" for column in KEY_COLUMNS
    )
    return sorted(row[0] for row in store.client.query(f"SELECT k FROM ({union})").result_rows)


def _computed(store: Store, config, now: datetime, key: str) -> tuple[list[Transaction], list[Transaction] | None]:
    """The key's transactions computed at ``now``, and what the kept snapshot answers (None: it cannot)."""
    history = key_history(store, key, config=config)
    assert all(hop.stored_at is not None for hop in history.hops), "every stored hop says when it was stored"
    computed = transactions(store, config, now, keys=tree_keys(history))
    kept = kept_tree_transactions(store, config, now, history)
    return _sorted(computed), None if kept is None else _sorted(kept)


def _sorted(found: list[Transaction]) -> list[Transaction]:
    return sorted(found, key=lambda t: (t.process, t.key))


def _two_orders(store: Store) -> tuple[str, str]:
    """Two orders of different customers (their trees share no key), each with a stage hop."""
    rows = store.client.query(
        f"SELECT OrderId, any(CustomerId) AS customer FROM {store.table('biz_hops')} "
        "WHERE OrderId != '' AND Stage != '' GROUP BY OrderId ORDER BY OrderId"
    ).result_rows
    first = rows[0]
    second = next(row for row in rows[1:] if row[1] != first[1] or not row[1])
    return first[0], second[0]


def _another_delivery(store: Store, order: str, stamped: datetime | None = None) -> None:
    """The order's latest stage span delivered once more, with a span id of its own (and ``stamped`` then)."""
    table = store.table("otel_traces")
    span = store.client.query(
        f"SELECT SpanId FROM {store.table('biz_hops')} WHERE OrderId = {{order:String}} AND Stage != '' "
        "ORDER BY Timestamp DESC, SpanId LIMIT 1",
        parameters={"order": order},
    ).result_rows[0][0]
    store.client.command(
        f"INSERT INTO {table} SELECT * REPLACE (concat(substring(SpanId, 1, 12), 'abcd') AS SpanId, "
        "if({restamp:UInt8}, {stamped:DateTime64(9)}, Timestamp) AS Timestamp) "
        f"FROM (SELECT * FROM {table} WHERE SpanId = {{span:String}} LIMIT 1)",  # not the replaced SpanId's filter
        parameters={"span": span, "restamp": int(stamped is not None), "stamped": stamped or datetime(1970, 1, 1)},
    )


def test_a_keys_transactions_read_from_the_kept_snapshot_are_the_computed_ones(
    corpus: Corpus,
    replica: Store,
) -> None:
    config = alerts_config.load()
    config.evaluation_interval = timedelta(days=1)  # the point read answers up to two intervals after the pass
    for batch in range(3):
        copy_batch(corpus, replica, batch)
    time.sleep(1.1)  # biz_hops.Ingested counts seconds: the pass starts a second after the last hop was stored
    snapshots = Snapshots(settle=timedelta(0), publish=True)
    at = NOW.replace(tzinfo=None)
    keys = _keys(replica)
    assert len(keys) > 20
    try:
        snapshots.take(replica, config, at)
        stuck = {}  # stuck transactions the point read answered, at the pass's time and a day later
        for now in (at, at + timedelta(days=1)):
            stuck[now] = 0
            for key in keys:
                computed, kept = _computed(replica, config, now, key)
                assert kept is not None, f"{key}: the kept snapshot did not answer at {now}"
                assert [t.model_dump() for t in kept] == [t.model_dump() for t in computed], key
                # what the API and the order page call: the same rows
                assert tree_transactions(replica, config, now, key_history(replica, key, config=config)) == kept
                stuck[now] += sum(t.state == "stuck" for t in kept)
        at_pass, aged = stuck.values()
        assert aged > at_pass, "a day later some in-flight transaction fell overdue: the point read aged it"
    finally:
        snapshots.close(replica)


def test_the_kept_snapshot_steps_aside_for_hops_it_has_not_seen(
    corpus: Corpus,
    replica: Store,
) -> None:
    config = alerts_config.load()
    config.evaluation_interval = timedelta(days=1)
    for batch in range(3):
        copy_batch(corpus, replica, batch)
    at = NOW.replace(tzinfo=None)
    late, ahead = _two_orders(replica)
    # stored before the pass but stamped an hour after its time: the pass does not read it yet
    _another_delivery(replica, ahead, stamped=at + timedelta(hours=1))
    time.sleep(1.1)  # biz_hops.Ingested counts seconds: the pass starts a second after these were stored
    snapshots = Snapshots(settle=timedelta(0), publish=True)
    try:
        snapshots.take(replica, config, at)
        _another_delivery(replica, late)  # stamped before the pass's time, stored after it
        now = at + timedelta(hours=2)
        answered, stepped_aside = set(), set()
        for key in _keys(replica):
            computed, kept = _computed(replica, config, now, key)
            history = key_history(replica, key, config=config)
            assert tree_transactions(replica, config, now, history) == computed, key
            if kept is None:
                stepped_aside.add(key)
            else:
                answered.add(key)
                assert [t.model_dump() for t in kept] == [t.model_dump() for t in computed], key
        assert {late, ahead} <= stepped_aside, "a hop stored after the pass, or stamped after its time"
        assert len(answered) > len(stepped_aside), (len(answered), len(stepped_aside))
        before = answered
        # not published by another store's loop, another configuration, too late: it does not answer
        key = sorted(before)[0]
        history = key_history(replica, key, config=config)
        related = tree_keys(history)
        evidence = {"stored_until": datetime(2000, 1, 1), "latest": datetime(2000, 1, 1)}
        assert kept_transactions(replica, config, at, related, **evidence) is not None
        other = alerts_config.load()
        assert kept_transactions(replica, other, at, related, **evidence) is None  # another interval
        assert kept_transactions(replica, config, at - timedelta(seconds=1), related, **evidence) is None
        assert kept_transactions(replica, config, at + timedelta(days=2, seconds=1), related, **evidence) is None
    finally:
        snapshots.close(replica)
    assert kept_transactions(replica, config, at, related, **evidence) is None  # the loop stopped: nothing kept


def test_a_snapshot_not_published_answers_no_reader(corpus: Corpus, replica: Store) -> None:
    config = alerts_config.load()
    copy_batch(corpus, replica, 0)
    snapshots = Snapshots(settle=timedelta(0))  # a pass's own, as a one-off command's
    at = NOW.replace(tzinfo=None)
    try:
        snapshots.take(replica, config, at)
        evidence = {"stored_until": datetime(2000, 1, 1), "latest": datetime(2000, 1, 1)}
        assert kept_transactions(replica, config, at, _keys(replica)[:3], **evidence) is None
    finally:
        snapshots.close(replica)


def _exists(store: Store, quoted: str) -> bool:
    name = quoted.split(".", 1)[1].strip("`")
    return bool(int(store.client.command(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {name:String}",
        parameters={"db": store.database, "name": name})))  # fmt: skip


def test_a_snapshot_replaced_while_a_reader_holds_it_is_dropped_by_that_reader(corpus: Corpus, replica: Store) -> None:
    config = alerts_config.load()
    copy_batch(corpus, replica, 0)
    snapshots = Snapshots(settle=timedelta(0), publish=True)
    at = NOW.replace(tzinfo=None)
    try:
        snapshots.take(replica, config, at)
        with published(replica, config, at) as kept:
            assert kept is not None and kept.now == at and _exists(replica, kept.table)
            held = kept.table
            snapshots.take(replica, config, at + timedelta(seconds=30))  # the next pass replaces it
            assert _exists(replica, held), "dropped under a reader"
            assert int(replica.client.command(f"SELECT count() FROM {held}")) > 0  # still readable
            with published(replica, config, at + timedelta(seconds=30)) as newer:
                assert newer is not None and newer.table != held
        assert not _exists(replica, held), "the last reader drops a replaced snapshot"
        with published(replica, config, at + timedelta(seconds=30)) as kept:
            assert kept is not None
            current = kept.table
        assert _exists(replica, current), "the published one stays"
    finally:
        snapshots.close(replica)
    assert not _exists(replica, current)
    with published(replica, config, at + timedelta(seconds=30)) as gone:
        assert gone is None


def test_a_pass_taken_while_a_backfill_arrives_does_not_answer_for_what_came_after(
    corpus: Corpus, replica: Store
) -> None:
    """``biztrace up`` starts its loop before the demo's history arrives (a producer may replay a day too): a
    pass that saw a third of the hops must not answer the figures for the store a moment later. Past
    ``FULL_SHARE`` of its transactions stored since, readers compute; a hop or two waits for the next pass."""
    from biztrace.readmodel.figures import headline

    config, at = alerts_config.load(), NOW.replace(tzinfo=None)
    copy_batch(corpus, replica, 0)
    snapshots = Snapshots(settle=timedelta(0), publish=True)
    later, start = at + timedelta(minutes=1), at - timedelta(days=30)
    try:
        snapshots.take(replica, config, at)
        with published(replica, config, later) as kept:
            assert kept is not None, "nothing stored since: the pass answers"
        partial = headline(replica, config, later, start)
        time.sleep(1.1)  # the store's clock (seconds) past the pass's start
        for batch in (1, 2):
            copy_batch(corpus, replica, batch)
        with published(replica, config, later) as kept:
            assert kept is None, "two thirds of the hops stored since: readers compute"
        read = headline(replica, config, later, start)
    finally:
        snapshots.close(replica)
    computed = headline(replica, config, later, start)
    assert read.sla_adherence_overall != partial.sla_adherence_overall, "the pass's third is not the store"
    assert read.sla_adherence == computed.sla_adherence
    assert read.sla_adherence_overall == computed.sla_adherence_overall


def test_the_shared_exception_queue_of_a_pass_taken_while_a_backfill_arrives_is_detected_again(
    corpus: Corpus, replica: Store
) -> None:
    """The holder's API lists the exception queue from the loop's last pass (``shared``): a pass that saw a
    third of the store does not answer once the rest is stored; the queue is then the one detected."""
    from biztrace.alerts.loop import run_pass
    from biztrace.readmodel import last_pass
    from biztrace.readmodel.exceptions import list_exceptions
    from biztrace.readmodel.snapshots import settled

    config, at = alerts_config.load(), NOW.replace(tzinfo=None)
    copy_batch(corpus, replica, 0)
    kept = Snapshots(settle=timedelta(0), publish=True)

    def listed(shared: bool) -> list[tuple]:  # asked at the pass's time: its detection is of that time
        found = list_exceptions(replica, config, at, shared=shared)
        return sorted((i.process, i.key, i.kind, i.state) for i in found)

    try:
        run_pass(replica, config, at, snapshots=kept, channels={})
        assert settled(replica), "nothing stored since: the pass answers"
        partial = listed(True)
        assert partial == listed(False), "the pass's queue is the one a detection finds"
        time.sleep(1.1)  # the store's clock (seconds) past the pass's start
        for batch in (1, 2):
            copy_batch(corpus, replica, batch)
        assert not settled(replica), "two thirds of the hops stored since"
        read = listed(True)
    finally:
        kept.close(replica)
        last_pass.forget(replica)
    assert read != partial and read == listed(False)
