"""Lookup and storage figures of issue 2, at 10 million stored spans.

Spans are generated inside ClickHouse straight into ``otel_traces`` (so the materialized
views fill ``biz_hops`` and ``biz_keys`` exactly as in production): orders of ~30 spans
over several traces and days. Then: one order's hops through ``biztrace.lookup`` (median
and p99 of random orders), against a full scan of the raw table's attribute map in the same
run; lookups by customer and SKU; and compressed bytes per span per table.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from biztrace import config as alerts_config
from biztrace.readmodel.lookup import key_history
from biztrace.store import Store

SPANS_PER_ORDER = 30

FILL = """
INSERT INTO {db:Identifier}.otel_traces
    (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, ResourceAttributes,
     ScopeName, SpanAttributes, Duration, StatusCode)
SELECT
    toDateTime64('2026-10-01 00:00:00', 9) + toIntervalSecond(order * 13 + hop * 1700) AS Timestamp,
    lower(hex(MD5(toString(order * 10 + intDiv(hop, 5))))) AS TraceId,
    substring(lower(hex(MD5(toString(n)))), 1, 16) AS SpanId,
    if(hop % 5 = 0, '', substring(lower(hex(MD5(toString(n - 1)))), 1, 16)) AS ParentSpanId,
    concat(system, '.', if(stage = '', 'step', stage)) AS SpanName,
    'Internal' AS SpanKind,
    system AS ServiceName,
    map('service.name', system, 'deployment.environment', 'prod', 'host.name', concat(system, '-01'))
        AS ResourceAttributes,
    'bench' AS ScopeName,
    mapFilter((k, v) -> v != '', map(
        'order.id', concat('O-', toString(order)), 'customer.id', concat('C-', toString(order % 50000)),
        'sku.ids', concat('["SKU-', toString(order % 20000), '","SKU-', toString((order * 7) % 20000), '"]'),
        'biz.process', 'order_to_cash', 'biz.stage', stage, 'biz.system', system,
        'biz.amount', toString(order % 1000 + 0.5), 'biz.currency', 'EUR', 'biz.quantity', toString(hop % 9 + 1),
        'biz.event_id', if(stage = '', '', concat('O-', toString(order), ':', stage)),
        'http.status_code', '200')) AS SpanAttributes,
    toUInt64(1000000 + (n % 997) * 100000) AS Duration,
    if(n % 500 = 0, 'Error', 'Unset') AS StatusCode
FROM (
    SELECT number AS n, intDiv(number, 30) + {first:UInt64} AS order, number % 30 AS hop,
           ['crm','erp','wms','wms','billing','middleware'][hop % 6 + 1] AS system,
           if(hop % 5 = 0, ['order.captured','order.accepted','inventory.allocated','shipment.confirmed',
                            'invoice.posted','payment.received'][intDiv(hop, 5) + 1], '') AS stage
    FROM numbers({rows:UInt64})
)
"""


def fill(store: Store, spans: int, chunk: int = 1_000_000, progress=None) -> int:
    """Generate ``spans`` spans (orders of 30) into ``otel_traces``; returns the stored count."""
    orders_done = 0
    for offset in range(0, spans, chunk):
        rows = min(chunk, spans - offset)
        store.client.command(FILL, parameters={"db": store.database, "first": orders_done, "rows": rows})
        orders_done += rows // SPANS_PER_ORDER
        if progress:
            progress(rows)
    return int(store.client.command(f"SELECT count() FROM {store.table('otel_traces')}"))


def _timings(fn, keys: list[str]) -> list[float]:
    out = []
    for key in keys:
        started = time.perf_counter()
        fn(key)
        out.append((time.perf_counter() - started) * 1000)
    return out


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(store: Store, samples: int = 200, seed: int = 1) -> dict[str, Any]:
    """Lookup latency (ms) by order, customer and SKU, against a full scan, in one run."""
    orders = int(store.client.command(f"SELECT uniqExact(OrderId) FROM {store.table('biz_hops')}"))
    rng = random.Random(seed)
    keys = [f"O-{rng.randrange(orders)}" for _ in range(samples)]
    config = alerts_config.load()  # as `biztrace order`, the API and the order page ask: each hop placed in its process
    key_history(store, keys[0], config=config)  # warm the caches a person's second lookup would find warm
    order_ms = _timings(lambda k: key_history(store, k, config=config), keys)
    others = [f"O-{rng.randrange(orders)}" for _ in range(60)]  # not looked up yet, as the keys above were not
    stored_ms = _timings(lambda k: key_history(store, k), others)  # the stored rows as they are, no placement
    found = key_history(store, keys[0], config=config)
    scan_ms = _timings(lambda k: store.client.command(
        f"SELECT count() FROM {store.table('otel_traces')} WHERE SpanAttributes['order.id'] = {{k:String}}",
        parameters={"k": k}), keys[:5])  # fmt: skip
    customer_ms = _timings(
        lambda k: key_history(store, k, config=config), [f"C-{rng.randrange(50000)}" for _ in range(30)]
    )
    sku_ms = _timings(
        lambda k: key_history(store, k, config=config), [f"SKU-{rng.randrange(20000)}" for _ in range(30)]
    )
    median = statistics.median(order_ms)
    return {
        "spans": int(store.client.command(f"SELECT count() FROM {store.table('otel_traces')}")),
        "hops_per_order": len(found.hops),
        "order_median_ms": round(median, 1),
        "order_p99_ms": round(_p(order_ms, 0.99), 1),
        "order_unplaced_median_ms": round(statistics.median(stored_ms), 1),
        "full_scan_median_ms": round(statistics.median(scan_ms), 1),
        "scan_over_lookup": round(statistics.median(scan_ms) / median, 1),
        "customer_median_ms": round(statistics.median(customer_ms), 1),
        "sku_median_ms": round(statistics.median(sku_ms), 1),
        "goal_median_ms": 20,
        "goal_p99_ms": 100,
    }


def storage(store: Store) -> dict[str, Any]:
    """Compressed (and uncompressed) bytes per stored span, per table and in total."""
    spans = int(store.client.command(f"SELECT count() FROM {store.table('otel_traces')}")) or 1
    rows = store.client.query(
        "SELECT table, sum(data_compressed_bytes), sum(data_uncompressed_bytes) FROM system.parts "
        "WHERE active AND database = {db:String} AND table IN ('otel_traces', 'otel_traces_trace_id_ts', "
        "'biz_hops', 'biz_keys', 'biz_links') GROUP BY table",
        parameters={"db": store.database},
    ).result_rows
    per_table = {table: round(compressed / spans, 1) for table, compressed, _ in rows}
    return {
        "bytes_per_span": per_table,
        "total_bytes_per_span": round(sum(c for _, c, _ in rows) / spans, 1),
        "raw_uncompressed_bytes_per_span": round(next((u for t, _, u in rows if t == "otel_traces"), 0) / spans, 1),
    }
