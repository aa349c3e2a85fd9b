"""OCEL 2.0 export figure of issue 19: one day of 100k orders exported in at most 10 s.

One day of order-to-cash is generated inside ClickHouse straight into ``otel_traces`` (so the
materialized views fill ``biz_hops`` as in production): per order a capture, routing, acceptance
with an ERP step, allocation, a shipment with its carrier booking, an invoice and its payment
(10 hops, 6 of them stages), and for one order in 33 a return of 5 stages. Then, in the same
run: a plain streamed scan of the same ``biz_hops`` rows (the baseline: every column of the day,
read into Python block by block), and the export to each OCEL 2.0 form. Wall and CPU seconds of
this process are both given (chDB runs inside it): on a shared machine the CPU figure is the steadier.

    .venv/bin/python -m bench.ocel_export --orders 10000      # prints one JSON document
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from biztrace.readmodel.ocel import export_ocel
from biztrace.store import Store, connect, schema

DAY = datetime(2026, 10, 1)
HOPS_PER_ORDER = 10
RETURN_EVERY = 33
"""One order in this many is returned (5 more hops)."""

FILL = """
INSERT INTO {db:Identifier}.otel_traces
    (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, ResourceAttributes,
     ScopeName, SpanAttributes, Duration, StatusCode)
SELECT
    toDateTime64({day:DateTime64(9)}, 9) + toIntervalMillisecond(intDiv(order * 82800000, {orders:UInt64}))
        + toIntervalSecond(hop * 240) AS Timestamp,
    lower(hex(MD5(concat('t', toString(order), '-', toString(intDiv(hop, 2)))))) AS TraceId,
    substring(lower(hex(MD5(concat('s', toString(n))))), 1, 16) AS SpanId,
    '' AS ParentSpanId,
    concat(system, '.', if(stage = '', 'step', stage)) AS SpanName,
    'Internal' AS SpanKind,
    system AS ServiceName,
    map('service.name', system) AS ResourceAttributes,
    'bench' AS ScopeName,
    mapFilter((k, v) -> v != '', map(
        'order.id', concat('O-', toString(order)),
        'customer.id', if(hop IN (0, 2, 10), concat('C-', toString(order % 5000)), ''),
        'sku.ids', if(hop IN (0, 2, 4, 5, 7, 10),
                      concat('["SKU-', toString(order % 2000), '","SKU-', toString((order * 7) % 2000), '"]'), ''),
        'shipment.id', if(hop IN (5, 6, 7), concat('SH-', toString(order)), ''),
        'invoice.id', if(hop IN (7, 8), concat('INV-', toString(order)), ''),
        'return.id', if(hop >= 10, concat('R-', toString(order)), ''),
        'biz.process', if(hop >= 10, 'returns', 'order_to_cash'), 'biz.stage', stage, 'biz.system', system,
        'biz.channel', ['web', 'edi', 'portal'][order % 3 + 1],
        'biz.amount', if(hop IN (0, 2, 5, 7, 8, 14), toString(order % 1000 + 0.5), ''),
        'biz.currency', 'EUR',
        'biz.quantity', if(hop IN (0, 2, 4, 5, 7, 10), toString(order % 9 + 1), ''),
        'biz.status', status,
        'error.type', if(n % 500 = 0, 'timeout', ''))) AS SpanAttributes,
    toUInt64(1000000 + (n % 997) * 100000) AS Duration,
    if(n % 500 = 0, 'Error', 'Unset') AS StatusCode
FROM (
    SELECT number AS n, intDiv(number, 15) AS order, number % 15 AS hop,
           ['crm', 'middleware', 'erp', 'erp', 'wms', 'wms', 'tms', 'erp', 'billing', 'erp',
            'portal', 'wms', 'wms', 'erp', 'erp'][hop + 1] AS system,
           ['order.captured', '', 'order.accepted', '', 'inventory.allocated', 'shipment.confirmed', '',
            'invoice.posted', 'payment.received', '', 'return.authorized', 'return.received', 'return.inspected',
            'return.dispositioned', 'credit_memo.posted'][hop + 1] AS stage,
           ['open', 'routed', 'accepted', '', 'allocated', 'shipped', 'booked', 'posted', 'paid', '',
            'authorized', 'received', 'inspected', 'restocked', 'credited'][hop + 1] AS status
    FROM numbers({rows:UInt64})
    WHERE hop < 10 OR order % 33 = 0
)
"""

SCAN = (
    "SELECT * FROM {db:Identifier}.biz_hops "
    "WHERE Timestamp >= {since:DateTime64(9)} AND Timestamp < {until:DateTime64(9)}"
)


def fill(store: Store, orders: int) -> int:
    """Generate one day of ``orders`` orders; returns the business hops stored."""
    store.client.command(FILL, parameters={"db": store.database, "day": DAY, "orders": orders, "rows": orders * 15})
    return int(store.client.command(f"SELECT count() FROM {store.table('biz_hops')}"))


def scan(store: Store, since: datetime, until: datetime) -> int:
    """The baseline: every column of the window's hops, streamed into Python; returns the rows."""
    rows = 0
    parameters = {"db": store.database, "since": since, "until": until}
    with store.client.query_column_block_stream(SCAN, parameters=parameters) as stream:
        for block in stream:
            rows += len(block[0])
    return rows


def run(orders: int) -> dict:
    """Fill a fresh embedded store, then time the baseline and both exports; returns the figures."""
    with tempfile.TemporaryDirectory(prefix="biztrace-bench-ocel-") as name:
        return _measure(orders, Path(name))


def _measure(orders: int, folder: Path) -> dict:
    store = connect(f"chdb://{folder / 'store'}")
    try:
        schema.apply(store, schema.SchemaOptions())
        hops = fill(store, orders)
        since, until = DAY, DAY + timedelta(days=1)
        started, cpu = time.perf_counter(), time.process_time()
        scanned = scan(store, since, until)
        baseline_s, baseline_cpu_s = time.perf_counter() - started, time.process_time() - cpu
        result: dict = {
            "orders": orders,
            "hops": hops,
            "scanned_rows": scanned,
            "baseline_scan_s": round(baseline_s, 3),
            "baseline_scan_cpu_s": round(baseline_cpu_s, 3),
        }
        for form, name in (("json", "day.jsonocel"), ("sqlite", "day.sqlite")):
            path = folder / name
            started, cpu = time.perf_counter(), time.process_time()
            summary = export_ocel(store, since, until, path)
            seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
            result[form] = {"seconds": round(seconds, 3), "ratio_to_scan": round(seconds / baseline_s, 2),
                            "cpu_s": round(cpu_s, 3), "cpu_ratio_to_scan": round(cpu_s / baseline_cpu_s, 2),
                            "events": summary.events, "objects": summary.objects,
                            "event_object": summary.event_object, "object_object": summary.object_object,
                            "megabytes": round(path.stat().st_size / 1e6, 1)}  # fmt: skip
        return result
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000, help="orders in the day (the figure: 100000)")
    args = parser.parse_args()
    print(json.dumps(run(args.orders), indent=2))


if __name__ == "__main__":
    main()
