"""Figure of issue 6: each dashboard page's render time at 10 million stored hops.

The store holds ~1.17M order-to-cash transactions (~10M hops, the table every page reads),
spread over the four weeks ending now, generated as in the alerts benchmark. Per page, in the same
run: the time of its queries alone (the functions the page calls, caches cleared), the
whole page through Streamlit's AppTest (caches cleared) with the time of every statement it ran
(``statements_in_page_s``: the time in which at least one of its statements ran, on whichever client;
the page's own share is AppTest minus it), and the page in a real browser
(Debian's Chromium via Playwright, against ``biztrace dashboard`` serving the same store),
from navigation until the page's footer is drawn. Windows: the default 24 h and 7 days. Then the
queries and AppTest again beside the alert loop (``beside_loop``: what ``biztrace up`` serves, the pages
reading its last pass).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import alerts_eval
from bench.timing import median_seconds

VIEWS = ("overview", "search", "reconciliation", "exceptions", "alerts", "process_map")
APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
ORDER = "O-12345"


def _queries(page: str, window: str) -> None:
    """What the page asks ClickHouse, without Streamlit."""
    from biztrace.dashboard import data, queries
    from biztrace.readmodel import last_pass

    config = queries_config()
    filters = queries.Filters(window=window)
    at = queries.now()
    last_pass.forget_all(data.store(), keep_loop=_beside_loop)  # a first view: nothing kept from the run before
    if page == "overview":
        queries.overview_with_previous(config, filters, at)
    elif page == "search":
        queries.search_keys(ORDER, limit=1)
        queries.order_view(config, ORDER, at)
    elif page == "reconciliation":
        queries.reconciliation(config, filters, at)
    elif page == "exceptions":
        queries.exception_page(config, filters, at)
    elif page == "alerts":
        queries.alerts_now()
    elif page == "process_map":
        queries.process_map(config, filters.model_copy(update={"process": "order_to_cash"}), at)
    queries.dimensions()


def queries_config():
    from biztrace import config as alerts_config

    return alerts_config.load()


class _StatementClock:
    """The time in which at least one statement ran, of any client of the store's kind, while :attr:`on`
    (a page's script run reads through a client it borrows, ``data.script_lane``, and runs some statements
    side by side on others: the clock is on the clients' class, and statements that overlap count once)."""

    def __init__(self, store) -> None:
        self.statements, self.on = 0, False
        self._spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._kind = type(store.client)
        self._originals = {name: getattr(self._kind, name) for name in ("query", "command")}
        for name, method in self._originals.items():
            setattr(self._kind, name, self._timed(method))

    @property
    def seconds(self) -> float:
        covered, end = 0.0, float("-inf")
        for start, stop in sorted(self._spans):
            if stop > end:
                covered += stop - max(start, end)
                end = stop
        return covered

    def reset(self) -> None:
        self.statements, self._spans = 0, []

    def restore(self) -> None:
        for name, method in self._originals.items():
            setattr(self._kind, name, method)

    def _timed(self, method):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                if self.on:
                    with self._lock:
                        self._spans.append((started, time.perf_counter()))
                        self.statements += 1

        return timed


_clock: _StatementClock | None = None


def _apptest(page: str, window: str) -> float:
    """Seconds to render one page through AppTest (the app and its queries), caches cleared; the time of
    the statements it ran is added to ``_clock``."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from biztrace.dashboard import auth, data
    from biztrace.readmodel import last_pass

    at = AppTest.from_file(str(APP), default_timeout=300)
    at.session_state["user"] = auth.User(name="bench", roles=["admin"], via="local")
    at.session_state["auto_refresh"] = False
    at.session_state["f_window"] = window
    if page == "search":
        at.query_params["key"] = ORDER
    at.run()  # the default page; registers the navigation
    st.cache_data.clear()
    # the windows' detection kept for a refresh: a first view computes it (beside the loop: from its last pass)
    last_pass.forget_all(data.store(), keep_loop=_beside_loop)
    if _clock is not None:
        _clock.on = True
    started = time.perf_counter()
    try:
        at.switch_page(f"views/{page}.py").run()
    finally:
        seconds = time.perf_counter() - started
        if _clock is not None:
            _clock.on = False
    assert not at.exception, [e.value for e in at.exception]
    return seconds


def _browser(directory: Path, users: Path, *, beside_loop: bool = False) -> dict[str, float]:
    """Seconds from a click in the sidebar to the drawn footer, per page, in Chromium: a first pass
    on a freshly started server once its warm-up is over (24 h window, ``warm_up_s`` from the start),
    then a second pass with the 6 h window (the engine warm, the figures not yet cached).

    ``beside_loop``: the server is ``biztrace up`` (collector, alert loop, API and dashboard in one
    process, as deployed), and the pages are opened once the loop's first pass is done (``warm_up_s``
    then includes it); else ``biztrace dashboard`` alone on the store."""
    from playwright.sync_api import sync_playwright

    port = _free_port()
    log = directory / ("up.log" if beside_loop else "dashboard.log")
    store = f"chdb://{directory / 'store'}"
    if beside_loop:
        # figures refreshed as often as the loop passes (its default minute): the pages read its pass (ui.tick)
        command = [sys.executable, "-m", "biztrace.cli", "up", "--store", store, "--users-file", str(users),
                   "--dashboard-port", str(port), "--refresh-s", "60", "--http-port", str(_free_port()),
                   "--grpc-port", str(_free_port()), "--api-port", "0"]  # fmt: skip
        ready = ("dashboard warmed up", "first alert pass")
    else:
        command = [sys.executable, "-m", "biztrace.cli", "dashboard", "--store", store, "--users-file", str(users),
                   "--dashboard-port", str(port), "--refresh-s", "3600"]  # fmt: skip
        ready = ("dashboard warmed up",)
    with log.open("ab") as out:
        offset = out.tell()
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    launched = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        url = f"http://127.0.0.1:{port}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=os.environ.get("BIZTRACE_CHROMIUM", "/usr/bin/chromium"),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
            )
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            deadline = time.monotonic() + (300 if beside_loop else 120)
            while True:
                try:
                    page.goto(f"{url}/search", timeout=5000)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)
            while not all(line in log.read_bytes()[offset:].decode(errors="replace") for line in ready):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not ready ({', '.join(ready)}) in time: see {log}")
                time.sleep(0.1)
            timings["warm_up_s"] = round(time.perf_counter() - launched, 3)
            page.get_by_label("User").fill("bench")
            page.get_by_label("Password", exact=True).fill("bench-password")
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text("Type an id above").wait_for(timeout=120_000)
            for label in ("cold", "warm"):
                if label == "warm":  # same server, engine warmed by the first pass, figures not cached yet
                    page.get_by_test_id("stSidebarNavLink").filter(has_text="Alerts").click()
                    page.get_by_role("heading", name="Alerts", exact=True).wait_for(timeout=120_000)
                    _settled(page)
                    page.get_by_role("combobox", name="Time range").click()
                    page.get_by_role("option", name="last 6h", exact=True).click()
                    _settled(page)
                for view in VIEWS:
                    started = time.perf_counter()
                    page.get_by_test_id("stSidebarNavLink").filter(has_text=_TITLES[view]).click()
                    page.get_by_role("heading", name=_TITLES[view], exact=True).wait_for(timeout=120_000)
                    _settled(page)
                    timings[f"{view}@{label}"] = round(time.perf_counter() - started, 3)
                    if view == "search":  # the order's page: from the id submitted to the page drawn
                        box = page.get_by_label("Order, customer, SKU, invoice, shipment or return id")
                        box.fill("")
                        _settled(page)
                        started = time.perf_counter()
                        box.fill(ORDER)
                        box.press("Enter")
                        page.get_by_role("heading", name=ORDER, exact=True).wait_for(timeout=120_000)
                        _settled(page)
                        timings[f"order_page@{label}"] = round(time.perf_counter() - started, 3)
            browser.close()
    finally:
        server.terminate()
        server.wait(60)
    return timings


def _settled(page) -> None:
    """The script run is over: Streamlit's running indicator is gone and the footer is drawn."""
    page.wait_for_timeout(50)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=120_000)
    page.get_by_text("queries ").last.wait_for(timeout=120_000)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_TITLES = {
    "overview": "Overview",
    "search": "Order search",
    "reconciliation": "Reconciliation",
    "exceptions": "Exception queues",
    "alerts": "Alerts",
    "process_map": "Process map",
}


_beside_loop = False
"""Measuring the pages beside the alert loop: its last pass kept (each first view reads it)."""


def _pages_beside_loop(store) -> dict[str, dict[str, float]]:
    """Every page again beside the alert loop, as ``biztrace up`` serves it: before each page's runs, a pass
    (persisted, its snapshot kept and published) at the current minute, the page's refresh tick (refreshed
    every 60 s here: the pass must be at most two evaluation intervals older than the page's time)."""
    global _beside_loop
    from biztrace.alerts.loop import run_pass
    from biztrace.readmodel import last_pass
    from biztrace.readmodel.snapshots import Snapshots

    config, kept, pages = queries_config(), Snapshots(publish=True), {}
    refresh, os.environ["BIZTRACE_REFRESH_S"] = os.environ.get("BIZTRACE_REFRESH_S"), "60"
    _beside_loop = True
    try:
        for window in ("24h", "7d"):
            for view in VIEWS:
                tick = datetime.fromtimestamp(int(time.time()) // 60 * 60, UTC).replace(tzinfo=None)
                run_pass(store, config, tick, snapshots=kept)
                queries_s = median_seconds(lambda v=view, w=window: _queries(v, w), 3)
                page_s = statistics.median(_apptest(view, window) for _ in range(3))
                pages[f"{view}@{window}"] = {"queries_s": round(queries_s, 3), "apptest_s": round(page_s, 3)}
    finally:
        _beside_loop = False
        os.environ["BIZTRACE_REFRESH_S"] = refresh or "3600"
        kept.close(store)
        last_pass.forget(store)
    return pages


def run(transactions: int, browser: bool = True, progress=None) -> dict[str, Any]:
    """Fill a store, measure every page in two windows, then in a browser."""
    from biztrace.dashboard import auth, data
    from biztrace.store import connect, schema

    directory = Path(tempfile.mkdtemp(prefix="biztrace-bench-dashboard-"))
    store = connect(f"chdb://{directory / 'store'}")
    schema.apply(store, schema.SchemaOptions())
    now = datetime.now(UTC).replace(tzinfo=None)
    # alerts_eval.fill starts 31 days before the moment given, one order every spacing_s seconds:
    # shifted so the last orders start now, and the 24 h window holds a day of orders (not none)
    spacing_s = max(1, int(30 * 86_400 / max(transactions, 1)))
    shifted = now + timedelta(days=31) - timedelta(seconds=transactions * spacing_s)
    hops = alerts_eval.fill(store, transactions, shifted, progress=progress)
    store.client.command(f"OPTIMIZE TABLE {store.table('biz_hops')} FINAL")
    data.share_store(store)
    os.environ["BIZTRACE_STORE"] = f"chdb://{directory / 'store'}"
    os.environ["BIZTRACE_REFRESH_S"] = "3600"
    result: dict[str, Any] = {"hops": hops, "transactions": transactions, "goal_page_s": 1.5, "pages": {}}
    global _clock
    clock = _clock = _StatementClock(store)  # every statement a page runs, not only those _queries lists
    for window in ("24h", "7d"):
        for view in VIEWS:
            queries_s = median_seconds(lambda v=view, w=window: _queries(v, w), 3)
            clock.reset()
            # the page's own run as _apptest times it (not the AppTest set-up and default page before it)
            page_s = statistics.median(_apptest(view, window) for _ in range(3))
            in_page_s = clock.seconds / 3  # the three runs' mean
            result["pages"][f"{view}@{window}"] = {
                "queries_s": round(queries_s, 3),
                "apptest_s": round(page_s, 3),
                "statements_in_page_s": round(in_page_s, 3),
                "statements_in_page": clock.statements // 3,
                "app_overhead_s": round(page_s - in_page_s, 3),
            }
    clock.restore()
    result["beside_loop"] = _pages_beside_loop(store)
    data.share_store(None)
    store.close()
    try:
        if browser:
            users = directory / "users.yaml"
            auth.save_user(users, "bench", "bench-password", ["admin"])
            result["browser_s"] = _browser(directory, users)
            result["browser_beside_loop_s"] = _browser(directory, users, beside_loop=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return result
