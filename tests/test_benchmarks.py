"""The benchmarks' generators still fill a store with the schema as it is (``bench/``: the figures of
docs/benchmarks.md are measured on what they generate; a generator left behind by a schema or SQL
change fails here, not at the next benchmark run)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from biztrace.store import Store

sys.path.insert(0, str(Path(__file__).parents[1]))  # bench/, beside tests/
from bench import alerts_eval, lookup, ocel_export, reconcile_eval, scorecards  # noqa: E402

NOW = datetime(2026, 12, 1, 12)


def _count(store: Store, expression: str, table: str = "biz_hops") -> int:
    return int(store.client.command(f"SELECT {expression} FROM {store.table(table)}"))


def test_the_transaction_generators_fill_the_hops(store: Store) -> None:
    hops = alerts_eval.fill(store, 40, NOW)  # ~10 hops an order, some stopped early
    assert 40 < hops == _count(store, "count()") and _count(store, "uniqExact(OrderId)") == 40
    store.client.command(f"TRUNCATE TABLE {store.table('biz_hops')}")
    scorecards.fill(store, 40, 7, NOW)
    assert (_count(store, "uniqExact(OrderId)"), _count(store, "uniqExact(CustomerId)")) == (40, 7)


def test_the_span_and_order_generators_fill_their_tables(store: Store) -> None:
    assert lookup.fill(store, 2_000) == 2_000 == _count(store, "count()", "otel_traces")
    store.client.command(f"TRUNCATE TABLE {store.table('biz_hops')}")
    reconcile_eval.fill(store, 30, NOW)
    assert _count(store, "uniqExact(OrderId)") == 30
    store.client.command(f"TRUNCATE TABLE {store.table('biz_hops')}")
    assert ocel_export.fill(store, 30) > 0 and _count(store, "uniqExact(OrderId)") == 30


def test_the_legacy_generator_sends_spans_only_the_benchmarks_mapping_makes_hops(store: Store) -> None:
    from biztrace.readmodel.transactions import query_parameters, sql

    alerts_eval.fill(store, 400, NOW)
    spans = alerts_eval.fill_legacy(store, 400, NOW)
    config = alerts_eval.mapped_config()
    mapped = store.client.command(
        f"SELECT countIf(Mapped), uniqExactIf(OrderId, Mapped) FROM ({sql('business_hops', config, keys=False)}) "
        "WHERE Stage = 'shipment.confirmed'",
        parameters=query_parameters(store, config, NOW),
    )  # fmt: skip
    assert spans == 4 and [int(n) for n in mapped] == [4, 4]
    assert _count(store, "count()", "otel_traces") == 4 and _count(store, "countIf(ServiceName = 'legacy-oms')") == 0
