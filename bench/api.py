"""The API's figures (issue 11/15): one key's tree, a page of exceptions, a CSV export.

Each is measured over real HTTP against the API served from this process, beside the same read
model call made in-process (the baseline of the same run): the ratio is what HTTP, JSON and the
API add. Goals: key tree p50 ≤ 50 ms at 10M spans; a page of exceptions ≤ 300 ms at 1M
transactions; a CSV export of 100k exceptions ≥ 50k rows/s.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from biztrace.api import tokens
from biztrace.api.app import build_app
from biztrace.api.server import ApiServer
from biztrace.config import load
from biztrace.readmodel import last_pass
from biztrace.readmodel.exceptions import Filters, list_exceptions, prepare, sync
from biztrace.readmodel.exports import export_exceptions
from biztrace.readmodel.lookup import kept_tree_transactions, key_history
from biztrace.readmodel.snapshots import Snapshots
from biztrace.store import Store


def _serve(store: Store, clock: Callable[[], datetime] | None = None) -> tuple[ApiServer, dict[str, str]]:
    clock = clock or (lambda: datetime.now(UTC).replace(tzinfo=None))
    server = ApiServer(build_app(store, load(None), clock), port=0).start()
    _, secret = tokens.create(store, "bench", ["admin"], "bench", datetime.now(UTC))
    return server, {"Authorization": f"Bearer {secret}"}


def _ms(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def key_tree(store: Store, samples: int = 100, seed: int = 3) -> dict[str, Any]:
    """p50 of GET /api/v1/keys/{order} against key_history in-process, on a store filled by bench.lookup:
    first with no alert loop (every request computes its transactions), then beside one (a pass's
    snapshot published, as ``biztrace up``'s loop publishes it: the transactions are a point read of it)."""
    server, headers = _serve(store)
    config = load(None)
    orders = int(store.client.command(f"SELECT uniqExact(OrderId) FROM {store.table('biz_hops')}"))
    rng = random.Random(seed)
    keys = [f"O-{rng.randrange(orders)}" for _ in range(samples)]
    snapshots = Snapshots(settle=timedelta(0), publish=True)  # the fill is committed: nothing stored is unseen
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            client.get(f"/api/v1/keys/{keys[0]}")
            alone = [_ms(lambda k=k: client.get(f"/api/v1/keys/{k}", params={"limit": 1000})) for k in keys]
            started = time.perf_counter()
            snapshots.take(store, config, datetime.now(UTC).replace(tzinfo=None))
            pass_s = time.perf_counter() - started
            beside = [_ms(lambda k=k: client.get(f"/api/v1/keys/{k}", params={"limit": 1000})) for k in keys]
            now = datetime.now(UTC).replace(tzinfo=None)
            kept = sum(
                kept_tree_transactions(store, config, now, key_history(store, k, 1000, config)) is not None
                for k in keys
            )  # the answers the point read gave
        direct = [_ms(lambda k=k: key_history(store, k, 1000, config)) for k in keys]
    finally:
        snapshots.close(store)
        server.stop()
    p50, in_process = statistics.median(beside), statistics.median(direct)
    return {"spans": int(store.client.command(f"SELECT count() FROM {store.table('otel_traces')}")),
            "api_p50_ms": round(p50, 1), "in_process_p50_ms": round(in_process, 1),
            "api_over_in_process": round(p50 / in_process, 2), "answered_from_the_kept_snapshot": f"{kept}/{samples}",
            "snapshot_s": round(pass_s, 2), "api_without_a_loop_p50_ms": round(statistics.median(alone), 1),
            "goal_p50_ms": 50}  # fmt: skip


def queue(store: Store, now: datetime) -> dict[str, Any]:
    """A page of exceptions and a CSV export over HTTP, against listing the same queue in-process; the
    export also against its same-run baselines: the same export in-process (no HTTP) and a plain
    ``SELECT ... FORMAT CSV`` of as many rows of ``biz_hops``, streamed by ClickHouse. The export's
    time is split: to its first byte (the queue is built: detection and lifecycle, as for the list)
    and its streaming after it (ClickHouse formatting the rows, HTTP carrying them). Then the same page
    and export beside an alert loop: one pass's bookkeeping detects, the loop builds the queue over it (kept
    until the lifecycle changes), the API's readers share it: the first page after the pass, the pages
    after it, and a page after each of three acknowledgements (the kept queue patched: the acknowledged
    key's rows computed again). The API's clock runs from ``now``, as a running process's does."""
    origin = time.monotonic()  # the API's time runs from ``now`` as a clock does: actions are stamped after a pass

    def clock() -> datetime:
        return now + timedelta(seconds=time.monotonic() - origin)

    server, headers = _serve(store, clock)
    config = load(None)
    try:
        direct_s = _ms(lambda: list_exceptions(store, config, now, Filters())) / 1000
        with httpx.Client(base_url=server.url, headers=headers, timeout=600) as client:
            pages = [_ms(lambda: client.get("/api/v1/exceptions", params={"limit": 50})) for _ in range(3)]
            total = client.get("/api/v1/exceptions", params={"limit": 1}).json()["total"]
            exports_s, firsts_s = [], []
            for _ in range(3):
                started = time.perf_counter()
                with client.stream("GET", "/api/v1/exports/exceptions", params={"format": "csv"}) as answer:
                    firsts_s.append(time.perf_counter() - started)  # the queue is built: the header has come
                    lines = sum(chunk.count(b"\n") for chunk in answer.iter_raw())
                exports_s.append(time.perf_counter() - started)
        # beside a running alert loop: its pass detects once, the API's readers share it (last_pass.py)
        started = time.perf_counter()
        passed = clock()
        sync(store, config, passed)
        sync_s = time.perf_counter() - started
        started = time.perf_counter()
        prepare(store, config, passed)  # as the loop does after each pass, for its readers
        prepare_s = time.perf_counter() - started
        with httpx.Client(base_url=server.url, headers=headers, timeout=600) as client:
            # the loop built the queue after its pass: the pages read it; an action changes the lifecycle, and the
            # next page patches the kept queue (the acknowledged key's rows computed again)
            first_page = _ms(lambda: client.get("/api/v1/exceptions", params={"limit": 50}))
            shared_pages = [_ms(lambda: client.get("/api/v1/exceptions", params={"limit": 50})) for _ in range(3)]
            after_action = []
            for item in client.get("/api/v1/exceptions", params={"limit": 3}).json()["items"]:
                acknowledge = {"key": item["key"], "kind": item["kind"], "action": "acknowledge"}
                client.post("/api/v1/exceptions/actions", json=acknowledge).raise_for_status()
                after_action.append(_ms(lambda: client.get("/api/v1/exceptions", params={"limit": 50})))
            shared_exports = []
            for _ in range(3):
                started = time.perf_counter()
                with client.stream("GET", "/api/v1/exports/exceptions", params={"format": "csv"}) as answer:
                    shared_lines = sum(chunk.count(b"\n") for chunk in answer.iter_raw())
                shared_exports.append(time.perf_counter() - started)
        last_pass.forget(store)
    finally:
        server.stop()
    rows = lines - 1
    export_s, first_s = statistics.median(exports_s), statistics.median(firsts_s)
    shared_export_s = statistics.median(shared_exports)
    in_process_s = statistics.median(_seconds(lambda: _drain(export_exceptions(store, config, now))) for _ in range(3))
    select_s = statistics.median(_seconds(lambda: _plain_csv(store, rows)) for _ in range(3))
    page_ms = statistics.median(pages)
    return {"exceptions": total, "page_ms": round(page_ms, 1), "list_in_process_s": round(direct_s, 2),
            "page_over_list": round(page_ms / 1000 / direct_s, 2), "export_rows": rows,
            "export_s": round(export_s, 2), "export_rows_per_s": round(rows / export_s),
            "export_first_byte_s": round(first_s, 2),
            "export_streaming_rows_per_s": round(rows / max(export_s - first_s, 1e-6)),
            "export_in_process_rows_per_s": round(rows / in_process_s),
            "csv_select_rows_per_s": round(rows / select_s), "export_over_select": round(export_s / select_s, 2),
            "pass_bookkeeping_s": round(sync_s, 2), "loop_builds_queue_s": round(prepare_s, 2),
            "first_page_after_pass_ms": round(first_page, 1),
            "page_after_pass_ms": round(statistics.median(shared_pages), 1),
            "page_after_pass_over_page": round(statistics.median(shared_pages) / page_ms, 3),
            "page_after_action_ms": round(statistics.median(after_action), 1),
            "export_after_pass_rows_per_s": round((shared_lines - 1) / shared_export_s),
            "export_after_pass_over_select": round(shared_export_s / select_s, 2),
            "goal_page_ms": 300, "goal_export_rows_per_s": 50_000}  # fmt: skip


def _seconds(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _drain(chunks) -> int:
    return sum(chunk.count(b"\n") for chunk in chunks)


def _plain_csv(store: Store, rows: int) -> int:
    """The baseline: ClickHouse streaming ``rows`` rows of ``biz_hops`` (about as wide as an export row) as CSV."""
    client = store.new_client()
    try:
        query = (f"SELECT OrderId, Stage, System, Timestamp, StatusCode, Amount, Currency, SpanId, TraceId, Priority, "
                 f"Channel FROM {store.table('biz_hops')} LIMIT {int(rows)}")  # fmt: skip
        with client.raw_stream(query, fmt="CSV") as stream:
            return _drain(iter(lambda: stream.read(1 << 16), b""))
    finally:
        client.close()
