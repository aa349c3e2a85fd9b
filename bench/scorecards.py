"""Figure of issue 17: SLA scorecards for 10,000 customers over 30 days at N transactions, against a
scan of the same rows.

The transactions are the alert benchmark's (``bench/alerts_eval.py``: ~10 order-to-cash hops each,
some stopped early, failed, dead-lettered), spread over 31 days, with ``customers`` customers. The
figure is :func:`biztrace.readmodel.scorecards.scorecards` by customer for the last 30 days (and the
30 before), every customer listed: computed (a command, no loop running: ``scorecards_s``) and read from
the alert loop's last pass (what the holder's API serves: ``shared_s``, the same scorecards); the
baseline, in the same run, a scan of the columns it reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bench import alerts_eval
from bench.timing import median_seconds
from biztrace import config as alerts_config
from biztrace.alerts.loop import run_pass
from biztrace.readmodel import last_pass
from biztrace.readmodel.scorecards import scorecards
from biztrace.readmodel.snapshots import Snapshots
from biztrace.store import Store

FILL = alerts_eval.FILL.replace("order % 5000", "order % {customers:UInt32}")
assert FILL != alerts_eval.FILL, "the alert benchmark's customers moved: adjust FILL"


def fill(store: Store, transactions: int, customers: int, now: datetime, chunk: int = 100_000, progress=None) -> None:
    spacing_s = max(1, int(30 * 86_400 / max(transactions, 1)))
    start = now - timedelta(days=31)
    for first in range(0, transactions, chunk):
        count = min(chunk, transactions - first)
        store.client.command(FILL, parameters={"db": store.database, "start": start, "spacing_s": spacing_s,
                                               "first": first, "rows": count * 10, "customers": customers,
                                               "stored_ago_s": 86_400})  # fmt: skip
        if progress:
            progress(count)
    store.client.command(f"OPTIMIZE TABLE {store.table('biz_hops')} FINAL")


def measure(store: Store, now: datetime, customers: int, repeats: int = 3) -> dict[str, Any]:
    config = alerts_config.load()
    table = store.table("biz_hops")
    scan_s = median_seconds(lambda: store.client.command(
        f"SELECT count(), uniqExact(OrderId), uniqExact(CustomerId), max(Timestamp), sum(Amount), "
        f"countIf(StatusCode = 'Error'), uniqExact(Stage) FROM {table}"), repeats)  # fmt: skip
    found: list = []

    def run(shared: bool = False) -> None:
        found[:] = [scorecards(store, config, now, period=timedelta(days=30), by="customer", limit=customers,
                               shared=shared)]  # fmt: skip

    scorecards_s = median_seconds(run, repeats)
    cards = found[0]
    # what the holder's API serves: the scorecards of the alert loop's last pass, read from its kept snapshot and
    # detection (two passes, as the loop runs them: the second brings the kept snapshot up to date)
    kept = Snapshots(publish=True)
    try:
        for at in (now - timedelta(minutes=1), now):
            run_pass(store, config, at, snapshots=kept)
        shared_s = median_seconds(lambda: run(shared=True), repeats)
        assert found[0].now == now, "the scorecards did not read the loop's last pass"
        assert found[0].model_dump() == cards.model_dump(), "read from the pass, the scorecards differ"
    finally:
        kept.close(store)
        last_pass.forget(store)
    return {
        "transactions": int(store.client.command(f"SELECT uniqExact(OrderId) FROM {table}")),
        "hops": int(store.client.command(f"SELECT count() FROM {table}")),
        "customers": cards.scopes,
        "rows": len(cards.rows),
        "scan_s": round(scan_s, 3),
        "scorecards_s": round(scorecards_s, 3),
        "scorecards_over_scan": round(scorecards_s / scan_s, 2) if scan_s else None,
        "shared_s": round(shared_s, 3),
        "shared_over_scan": round(shared_s / scan_s, 2) if scan_s else None,
        "goal_s": 2.0,
    }


def run(store: Store, transactions: int, customers: int = 10_000, progress=None) -> dict[str, Any]:
    now = datetime.now(UTC).replace(tzinfo=None)
    fill(store, transactions, customers, now, progress=progress)
    return measure(store, now, customers)
