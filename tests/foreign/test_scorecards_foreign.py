"""SLA scorecards on foreign producers' spans, which leave optional attributes out (customer, channel,
priority): a transaction without a customer is the '(none)' row, never left out."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from biztrace.alerts.loop import run_pass
from biztrace.config import load
from biztrace.readmodel import last_pass
from biztrace.readmodel.exceptions import list_exceptions
from biztrace.readmodel.scorecards import scorecards
from biztrace.readmodel.snapshots import Snapshots
from biztrace.readmodel.transactions import transactions
from biztrace.store import Store

from .conftest import BATCHES, NOW, Corpus, copy_batch


@pytest.mark.parametrize("by", ["customer", "partner", "channel", "system"])
def test_every_transaction_is_in_one_scorecard_row(corpus: Corpus, by: str) -> None:
    config, now, period = load(None), NOW.replace(tzinfo=None), timedelta(days=60)
    started = transactions(corpus.store, config, now, since=now - period)
    cards = scorecards(corpus.store, config, now, period=period, by=by, limit=100_000)
    assert cards.scopes == len(cards.rows) and started
    assert sum(row.current.transactions for row in cards.rows) == len(started)
    if by in ("customer", "channel"):
        assert any(row.name == "(none)" for row in cards.rows), "these producers leave it out somewhere"
    exceptions = sum(sum(row.current.exceptions.values()) for row in cards.rows)
    assert exceptions >= len(corpus.faults) > 0
    # the exceptions by kind and the mismatches by field, both periods, are the queue's (nothing resolved here)
    queued = list_exceptions(corpus.store, config, now, since=now - 2 * period)
    mismatched = Counter(item.detail.get("field") or "(whole)" for item in queued if item.kind == "mismatch")
    assert len(mismatched) > 1, "these producers' mismatches disagree on more than one field"
    for figure, expected in (("exceptions", Counter(item.kind for item in queued)), ("mismatches", mismatched)):
        shown = sum((Counter(getattr(row.current, figure)) + Counter(getattr(row.previous, figure))
                     for row in cards.rows), Counter())  # fmt: skip
        assert shown == expected, figure


def test_the_scorecards_of_the_loops_last_pass_are_those_computed_at_its_time(corpus: Corpus, replica: Store) -> None:
    """Read from the pass's kept snapshot and detection (what the holder's API serves), the scorecards are
    those classified and detected again at the pass's time; with no pass to read, they are computed."""
    config, at, period = load(None), NOW.replace(tzinfo=None), timedelta(days=30)
    for batch in range(BATCHES):
        copy_batch(corpus, replica, batch)
    _an_order_without_its_first_stage(replica, at - timedelta(days=1))
    kept = Snapshots(settle=timedelta(0), publish=True)
    try:
        run_pass(replica, config, at - timedelta(minutes=5), snapshots=kept)
        run_pass(replica, config, at, snapshots=kept)  # the second pass brings the kept snapshot up to date
        asked = at + timedelta(seconds=30)
        for by in ("customer", "partner", "channel", "system"):
            for process in ("", "order_to_cash"):
                read = scorecards(replica, config, asked, period=period, by=by, process=process, limit=1000,
                                  shared=True)  # fmt: skip
                computed = scorecards(replica, config, at, period=period, by=by, process=process, limit=1000)
                assert read.now == at, "judged at the pass's time"
                assert read.rows and read.model_dump() == computed.model_dump(), (by, process)
    finally:
        kept.close(replica)
        last_pass.forget(replica)
    alone = scorecards(replica, config, asked, period=period, limit=1000, shared=True)
    assert alone.now == asked, "no pass to read: computed when asked"


def _an_order_without_its_first_stage(store: Store, stamped) -> None:
    """One more order, reported from its second stage on (a hop copied under a new order id): a classification
    of a window does not count it, and neither may the scorecards read from a pass."""
    hops, spans = store.table("biz_hops"), store.table("otel_traces")
    span, order = store.client.query(
        f"SELECT SpanId, OrderId FROM {hops} WHERE Stage = 'order.accepted' AND OrderId != '' ORDER BY SpanId LIMIT 1"
    ).result_rows[0]
    store.client.command(
        f"INSERT INTO {spans} SELECT * REPLACE (concat(substring(SpanId, 1, 12), 'beef') AS SpanId, "
        "{stamped:DateTime64(9)} AS Timestamp, "
        "mapApply((k, v) -> (k, if(v = {order:String}, 'O-NO-CAPTURE', v)), SpanAttributes) AS SpanAttributes) "
        f"FROM (SELECT * FROM {spans} WHERE SpanId = {{span:String}} LIMIT 1)",
        parameters={"span": span, "order": order, "stamped": stamped},
    )
    assert store.client.command(f"SELECT count() FROM {hops} WHERE OrderId = 'O-NO-CAPTURE'") == 1
