"""Figure of issues 4, 12 and 18: one alert evaluation pass over N transactions (about 10 hops each).

Hops are generated inside ClickHouse straight into ``biz_hops`` (what evaluation reads),
shaped like the order-to-cash flow: most transactions complete, some stop early, some fail,
some are dead-lettered, some events are delivered twice. Baseline in the same run: a plain
``count()`` over the same table, and a full scan of the columns evaluation reads.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.timing import median_seconds
from biztrace import config as alerts_config
from biztrace.alerts.loop import run_pass
from biztrace.readmodel.rules import evaluate
from biztrace.readmodel.snapshots import SETTLE, Snapshots
from biztrace.store import Store

STAGES = (
    "['order.captured','','order.accepted','','','inventory.allocated','shipment.confirmed','',"
    "'invoice.posted','payment.received']"
)
SYSTEMS = "['crm','middleware','erp','erp','erp','wms','wms','tms','erp','billing']"

FILL = f"""
INSERT INTO {{db:Identifier}}.biz_hops
    (Timestamp, TraceId, SpanId, ServiceName, SpanName, Duration, StatusCode, OrderId, CustomerId, SkuIds,
     Process, Stage, System, Channel, Priority, Amount, Currency, Quantity, EventId, DeadLetter, ErrorType, Ingested)
SELECT
    {{start:DateTime64(9)}} + toIntervalSecond(intDiv(order, 1) * {{spacing_s:UInt32}} + hop * 600) AS Timestamp,
    lower(hex(MD5(toString(order * 100 + intDiv(hop, 2))))) AS TraceId,
    substring(lower(hex(MD5(toString(n)))), 1, 16) AS SpanId,
    {SYSTEMS}[hop + 1] AS ServiceName,
    concat({SYSTEMS}[hop + 1], '.', if({STAGES}[hop + 1] = '', 'step', {STAGES}[hop + 1])) AS SpanName,
    toUInt64(20000000 + (n % 97) * 10000000) AS Duration,
    if(order % 101 = 7 AND hop = 5, 'Error', 'Unset') AS StatusCode,
    concat('O-', toString(order)) AS OrderId,
    concat('C-', toString(order % 5000)) AS CustomerId,
    [concat('SKU-', toString(order % 20000))] AS SkuIds,
    'order_to_cash' AS Process,
    {STAGES}[hop + 1] AS Stage,
    {SYSTEMS}[hop + 1] AS System,
    ['web','edi','marketplace','field_sales','portal'][order % 5 + 1] AS Channel,
    ['high','normal','normal','normal','low'][order % 5 + 1] AS Priority,
    toFloat64(order % 1000) AS Amount,
    'EUR' AS Currency,
    toFloat64(order % 17 + 1) AS Quantity,
    if({STAGES}[hop + 1] = '', '', concat('O-', toString(order), ':', {STAGES}[hop + 1])) AS EventId,
    order % 211 = 5 AND hop = 1 AS DeadLetter,
    if(order % 101 = 7 AND hop = 5, 'timeout', '') AS ErrorType,
    now() - toIntervalSecond({{stored_ago_s:UInt32}}) AS Ingested  -- when the hop was stored
FROM (SELECT number AS n, intDiv(number, 10) + {{first:UInt64}} AS order, number % 10 AS hop
      FROM numbers({{rows:UInt64}}))
WHERE NOT (order % 13 < 3 AND hop > order % 7)        -- in flight or stuck: stopped early
  AND NOT (order % 101 = 7 AND hop > 5)               -- failed at allocation
  AND NOT (order % 211 = 5 AND hop > 1)               -- dead-lettered by middleware
"""


def fill(store: Store, transactions: int, now: datetime, chunk: int = 100_000, progress=None) -> int:
    """Generate ``transactions`` orders of ~10 hops in ``biz_hops``, stored a day ago (``Ingested``: history,
    not the traffic of the last minutes); returns the hops stored."""
    spacing_s = max(1, int(30 * 86_400 / max(transactions, 1)))  # spread over 30 days
    start = now - timedelta(days=31)
    for first in range(0, transactions, chunk):
        count = min(chunk, transactions - first)
        store.client.command(FILL, parameters={"db": store.database, "start": start, "spacing_s": spacing_s,
                                               "first": first, "rows": count * 10, "stored_ago_s": 86_400})  # fmt: skip
        if progress:
            progress(count)
    return int(store.client.command(f"SELECT count() FROM {store.table('biz_hops')}"))


CALENDARS = """
calendars:
  berlin:
    timezone: Europe/Berlin
    hours: {mon: "08:00-17:00", tue: "08:00-17:00", wed: "08:00-17:00", thu: "08:00-17:00", fri: "08:00-16:00"}
    holidays: [2026-01-01, 2026-04-03, 2026-04-06, 2026-05-01, 2026-12-24, 2026-12-25, 2026-12-26]
    cutoff: "15:00"
  new_york:
    timezone: America/New_York
    hours: {mon: "07:00-19:00", tue: "07:00-19:00", wed: "07:00-19:00", thu: "07:00-19:00", fri: "07:00-19:00",
            sat: "09:00-13:00"}
    holidays: [2026-07-03, 2026-09-07, 2026-11-26, 2026-12-25]
    cutoff: "17:30"
sites:
  wms: new_york
"""
"""Business calendars for ``measure(calendars=True)``: order_to_cash on Berlin's, its warehouse stages on New York's."""


def calendar_config() -> alerts_config.AlertsConfig:
    """The built-in configuration with :data:`CALENDARS`, order_to_cash's SLAs counted in business time."""
    config = alerts_config.loads(CALENDARS)
    config.processes["order_to_cash"].calendar = "berlin"
    return config


MAPPING = """
mappings:
  - when: {service: legacy-oms, span_name: "POST /api/orders/{id}/ship"}
    set: {stage: shipment.confirmed, process: order_to_cash}
    keys: {order.id: sales_order_number}
"""
"""A mapping rule (issue 13: "with the key graph and mappings in place"): a legacy order system's shipment calls,
named by HTTP route with the order under its own attribute, made hops at query time (tests/foreign/mappings.yaml)."""

LEGACY = """
INSERT INTO {db:Identifier}.otel_traces
    (Timestamp, TraceId, SpanId, SpanName, SpanKind, ServiceName, SpanAttributes, Duration, StatusCode)
SELECT {start:DateTime64(9)} + toIntervalSecond(order * {spacing_s:UInt32} + 3700),
       lower(hex(MD5(concat('legacy', toString(order))))),
       substring(lower(hex(MD5(concat('legacy-span', toString(order))))), 1, 16),
       concat('POST /api/orders/O-', toString(order), '/ship'), 'SERVER', 'legacy-oms',
       map('sales_order_number', concat('O-', toString(order)), 'http.route', '/api/orders/{id}/ship'),
       150000000, 'Unset'
FROM (SELECT number * 100 + 3 AS order FROM numbers({spans:UInt64}))
"""
"""One order in a hundred also reported shipped by the legacy system (a span in otel_traces, no hop of its own)."""


def mapped_config() -> alerts_config.AlertsConfig:
    """The built-in configuration with :data:`MAPPING`."""
    return alerts_config.loads(MAPPING)


def fill_legacy(store: Store, transactions: int, now: datetime) -> int:
    """:data:`LEGACY`'s spans for the orders :func:`fill` made (at the times it spread them); returns how many."""
    spans = max(1, transactions // 100)
    store.client.command(LEGACY, parameters={"db": store.database, "start": now - timedelta(days=31), "spans": spans,
                                             "spacing_s": max(1, int(30 * 86_400 / max(transactions, 1)))})  # fmt: skip
    return spans


def steady(
    store: Store, now: datetime, transactions: int, rounds: int = 3, *, config=None, first_minute: int = 1
) -> dict[str, Any]:
    """The loop's steady state (issue 18): its snapshot kept between passes, one minute of traffic
    arriving before each pass (the new orders of a minute at this retention's rate, over 30 days,
    and late hops for some old orders), then the pass, dry and persisted. Returns median seconds,
    how many transactions each pass classified again, and the same pass with a full snapshot.
    ``config``: another configuration (the business calendars'); ``first_minute``: the first pass's
    minute after ``now`` (a second run carries on after the first one's traffic)."""
    config = config or alerts_config.load()
    snapshots = Snapshots()
    per_minute = max(1, transactions // (30 * 24 * 60))
    moments = iter(now + timedelta(minutes=i) for i in range(first_minute, first_minute + 100))
    rounds_done: list[datetime] = []

    def traffic(at: datetime) -> None:
        first = transactions + (first_minute - 1 + len(rounds_done)) * per_minute + 1_000_000  # new order numbers
        store.client.command(FILL, parameters={"db": store.database, "start": at - timedelta(seconds=first + 5400),
                                               "spacing_s": 1, "first": first, "rows": per_minute * 10,
                                               "stored_ago_s": 0})  # fmt: skip
        store.client.command(  # a late payment for a few old orders (their transactions change state)
            f"INSERT INTO {store.table('biz_hops')} (Timestamp, SpanId, OrderId, Process, Stage, System) "
            "SELECT {at:DateTime64(9)} - toIntervalSecond(30), concat('late-', toString(number), '-', {r:String}), "
            "concat('O-', toString(cityHash64(number, {r:String}) % {n:UInt64})), 'order_to_cash', 'payment.received', "
            "'billing' FROM numbers(5)",
            parameters={"at": at, "r": f"{first_minute}-{len(rounds_done)}", "n": transactions},
        )

    dry: list[float] = []
    persisted: list[float] = []
    recomputed: list[int] = []
    modes: set[str] = set()

    def one(persist: bool) -> float:
        at = next(moments)
        traffic(at)
        rounds_done.append(at)
        started = time.perf_counter()
        report = run_pass(store, config, at, persist=persist, channels={}, snapshots=snapshots)
        recomputed.append(report.snapshot_recomputed)
        modes.add(report.snapshot)
        return time.perf_counter() - started

    try:
        snapshots.take(store, config, next(moments))  # the loop's first pass: a full snapshot
        dry = sorted(one(False) for _ in range(rounds))
        # persisted passes in a row: each builds its bookkeeping on the one before (its first one detects all)
        one(True)
        persisted = sorted(one(True) for _ in range(rounds))
        full_s = median_seconds(lambda: run_pass(store, config, next(moments), persist=False), rounds)
    finally:
        snapshots.close(store)
    return {
        "steady_new_orders_per_pass": per_minute,
        "steady_modes": sorted(modes),
        "steady_recomputed_per_pass": max(recomputed),
        "steady_pass_s": round(dry[len(dry) // 2], 3),
        "steady_persisted_pass_s": round(persisted[len(persisted) // 2], 3),
        "full_snapshot_pass_s": round(full_s, 3),
        "steady_over_full": round(dry[len(dry) // 2] / full_s, 2) if full_s else None,
    }


def measure(store: Store, now: datetime, repeats: int = 3, *, calendars: bool = False) -> dict[str, Any]:
    """Median seconds of: count(), a scan of what evaluation reads, rule evaluation, a dry pass, the
    loop's persisted pass (its first, which opens every exception, and the steady state after). With
    ``calendars``, also the dry pass with business calendars (:func:`calendar_config`) against the one without."""
    config = alerts_config.load()
    table = store.table("biz_hops")
    count_s = median_seconds(lambda: store.client.command(f"SELECT count() FROM {table}"), repeats)
    scan_s = median_seconds(lambda: store.client.command(
        f"SELECT count(), uniqExact(OrderId), max(Timestamp), countIf(StatusCode = 'Error'), countIf(DeadLetter), "
        f"uniqExact(Stage), uniqExact(EventId) FROM {table}"), repeats)  # fmt: skip
    evaluate_s = median_seconds(lambda: evaluate(store, config, now), repeats)
    pass_s = median_seconds(lambda: run_pass(store, config, now, persist=False), repeats)
    # the loop's real pass: rules, alert history, exception bookkeeping (no receivers configured).
    # The first one records an 'open' for every exception found; the later ones are the steady state.
    first_started = time.perf_counter()
    first = run_pass(store, config, now, channels={})
    first_persisted_s = time.perf_counter() - first_started
    ticks = iter(range(1, 1000))
    persisted_s = median_seconds(lambda: run_pass(store, config, now + timedelta(seconds=next(ticks)), channels={}),
                                 repeats)  # fmt: skip
    transactions = int(store.client.command(f"SELECT uniqExact(OrderId) FROM {table}"))
    business: dict[str, Any] = {}
    if calendars:
        with_calendars = calendar_config()
        calendar_pass_s = median_seconds(lambda: run_pass(store, with_calendars, now, persist=False), repeats)
        plain_pass_s = median_seconds(lambda: run_pass(store, config, now, persist=False), repeats)
        business = {
            "calendar_pass_s": round(calendar_pass_s, 3),
            "calendar_plain_pass_s": round(plain_pass_s, 3),
            "calendar_over_plain": round(calendar_pass_s / plain_pass_s, 2) if plain_pass_s else None,
        }
    return {
        "transactions": transactions,
        "hops": int(store.client.command(f"SELECT count() FROM {table}")),
        "count_s": round(count_s, 4),
        "scan_s": round(scan_s, 3),
        "evaluate_s": round(evaluate_s, 3),
        "pass_s": round(pass_s, 3),
        "first_persisted_pass_s": round(first_persisted_s, 3),
        "exceptions_opened": first.exception_events.get("open", 0),
        "persisted_pass_s": round(persisted_s, 3),
        "persisted_over_scan": round(persisted_s / scan_s, 2) if scan_s else None,
        "pass_over_count": round(pass_s / count_s, 1) if count_s else None,
        "pass_over_scan": round(pass_s / scan_s, 2) if scan_s else None,
        "goal_pass_s": 2.0,
        **business,
    }


def run(store: Store, transactions: int, progress=None, *, calendars: bool = False) -> dict[str, Any]:
    """Fill and measure (``calendars``: also the dry pass with business calendars; see :func:`measure`),
    then the loop's steady state (:func:`steady`)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    fill(store, transactions, now, progress=progress)
    store.client.command(f"OPTIMIZE TABLE {store.table('biz_hops')} FINAL")
    return measure(store, now, calendars=calendars) | steady(store, now, transactions)


CONFIGURATIONS = {"calendar": calendar_config, "mapped": mapped_config}
"""The loop's steady state is also measured with business calendars and with a mapping rule in place (issue
13: one order in a hundred shipped by a legacy system, its spans stored minutes before, with the history:
a span stored within snapshots.SETTLE counts as new)."""


def run_configuration(store: Store, transactions: int, name: str, progress=None) -> dict[str, Any]:
    """The loop's steady state under :data:`CONFIGURATIONS`' ``name``, on a store of its own filled as
    :func:`run`'s is, with the legacy system's spans: every configuration starts from the same
    transactions. Run one after the other on one store, whichever ran last was 0.3-0.5 s slower (the
    parts, hops and exception events the ones before it left). The spans are stored first and, under
    mapping rules, the passes start once they are older than ``snapshots.SETTLE``: a span's stored time is
    its part's, and one stored within it counts as new at every pass (the history's were stored long before)."""
    now, config = datetime.now(UTC).replace(tzinfo=None), CONFIGURATIONS[name]()
    spans = fill_legacy(store, transactions, now)  # read only under mapped_config()
    stored = time.monotonic()
    fill(store, transactions, now, progress=progress)
    store.client.command(f"OPTIMIZE TABLE {store.table('biz_hops')} FINAL")
    if config.mappings:
        time.sleep(max(0.0, SETTLE.total_seconds() + 5 - (time.monotonic() - stored)))
    found = steady(store, now, transactions, config=config)
    figures = {f"{name}_{figure}": found[figure]
               for figure in ("steady_pass_s", "steady_persisted_pass_s", "full_snapshot_pass_s")}  # fmt: skip
    return figures | ({"mapped_spans": spans} if name == "mapped" else {})
