"""Figure of issue 17: SLA scorecards for 10,000 customers over 30 days at N transactions, against a
scan of the same rows.

The transactions are the alert benchmark's (``bench/alerts_eval.py``: ~10 order-to-cash hops each,
some stopped early, failed, dead-lettered), spread over 31 days, with ``customers`` customers. The
figure is :func:`biztrace.readmodel.scorecards.scorecards` by customer for the last 30 days (and the
30 before), every customer listed; the baseline, in the same run, a scan of the columns it reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bench import alerts_eval
from bench.timing import median_seconds
from biztrace import config as alerts_config
from biztrace.readmodel.scorecards import scorecards
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

    def run() -> None:
        found[:] = [scorecards(store, config, now, period=timedelta(days=30), by="customer", limit=customers)]

    scorecards_s = median_seconds(run, repeats)
    cards = found[0]
    return {
        "transactions": int(store.client.command(f"SELECT uniqExact(OrderId) FROM {table}")),
        "hops": int(store.client.command(f"SELECT count() FROM {table}")),
        "customers": cards.scopes,
        "rows": len(cards.rows),
        "scan_s": round(scan_s, 3),
        "scorecards_s": round(scorecards_s, 3),
        "scorecards_over_scan": round(scorecards_s / scan_s, 2) if scan_s else None,
        "goal_s": 2.0,
    }


def run(store: Store, transactions: int, customers: int = 10_000, progress=None) -> dict[str, Any]:
    now = datetime.now(UTC).replace(tzinfo=None)
    fill(store, transactions, customers, now, progress=progress)
    return measure(store, now, customers)
