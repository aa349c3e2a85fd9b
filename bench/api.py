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
from datetime import UTC, datetime
from typing import Any

import httpx

from biztrace.api import tokens
from biztrace.api.app import build_app
from biztrace.api.server import ApiServer
from biztrace.config import load
from biztrace.readmodel.exceptions import Filters, list_exceptions
from biztrace.readmodel.lookup import key_history
from biztrace.store import Store


def _serve(store: Store, now: datetime | None = None) -> tuple[ApiServer, dict[str, str]]:
    clock = (lambda: now) if now else (lambda: datetime.now(UTC).replace(tzinfo=None))
    server = ApiServer(build_app(store, load(None), clock), port=0).start()
    _, secret = tokens.create(store, "bench", ["admin"], "bench", datetime.now(UTC))
    return server, {"Authorization": f"Bearer {secret}"}


def _ms(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def key_tree(store: Store, samples: int = 100, seed: int = 3) -> dict[str, Any]:
    """p50 of GET /api/v1/keys/{order} against key_history in-process, on a store filled by bench.lookup."""
    server, headers = _serve(store)
    orders = int(store.client.command(f"SELECT uniqExact(OrderId) FROM {store.table('biz_hops')}"))
    rng = random.Random(seed)
    keys = [f"O-{rng.randrange(orders)}" for _ in range(samples)]
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            client.get(f"/api/v1/keys/{keys[0]}")
            api = [_ms(lambda k=k: client.get(f"/api/v1/keys/{k}", params={"limit": 1000})) for k in keys]
        direct = [_ms(lambda k=k: key_history(store, k, 1000)) for k in keys]
    finally:
        server.stop()
    p50 = statistics.median(api)
    return {"spans": int(store.client.command(f"SELECT count() FROM {store.table('otel_traces')}")),
            "api_p50_ms": round(p50, 1), "in_process_p50_ms": round(statistics.median(direct), 1),
            "api_over_in_process": round(p50 / statistics.median(direct), 2), "goal_p50_ms": 50}  # fmt: skip


def queue(store: Store, now: datetime) -> dict[str, Any]:
    """A page of exceptions and a CSV export over HTTP, against listing the same queue in-process."""
    server, headers = _serve(store, now)
    config = load(None)
    try:
        direct_s = _ms(lambda: list_exceptions(store, config, now, Filters())) / 1000
        with httpx.Client(base_url=server.url, headers=headers, timeout=600) as client:
            pages = [_ms(lambda: client.get("/api/v1/exceptions", params={"limit": 50})) for _ in range(3)]
            total = client.get("/api/v1/exceptions", params={"limit": 1}).json()["total"]
            started = time.perf_counter()
            rows = 0
            with client.stream("GET", "/api/v1/exports/exceptions", params={"format": "csv"}) as answer:
                for _line in answer.iter_lines():
                    rows += 1
            export_s = time.perf_counter() - started
    finally:
        server.stop()
    page_ms = statistics.median(pages)
    return {"exceptions": total, "page_ms": round(page_ms, 1), "list_in_process_s": round(direct_s, 2),
            "page_over_list": round(page_ms / 1000 / direct_s, 2), "export_rows": rows - 1,
            "export_rows_per_s": round((rows - 1) / export_s), "goal_page_ms": 300,
            "goal_export_rows_per_s": 50_000}  # fmt: skip
