"""Warm a just-started dashboard: the default window's queries and figures, run once in the background.

The first page a person opens after a start otherwise pays for a cold process: the engine's
first reads of each column and its compiled expressions, and Python's first plotly figure of
each kind (plotly builds its validators lazily). :class:`WarmUp` does that work on a thread
of its own while the server starts. :meth:`WarmUp.stop` asks it to stop after the step under
way and waits for it, so a query never runs while the store is being closed (a query running
at shutdown crashed the embedded engine once; :func:`dashboard.server.serve` stops the warm-up
before it returns, and its callers close the store only after that).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


def steps() -> list[tuple[str, Callable[[], object]]]:
    """What the warm-up runs, in order: each page's default queries, then its figures."""
    import pandas as pd
    import plotly.io

    from biztrace.dashboard import charts, data, queries

    config = data.config()
    filters = queries.Filters()
    at = queries.now()

    def overview() -> None:
        figures, previous = queries.overview_with_previous(config, filters, at)
        for figure in (
            charts.states_by_process(figures.states),
            charts.sla_heatmap(figures.sla),
            charts.trend(figures.trend, figures.partial_from, figures.bucket_s),
            charts.sla_trend(figures.sla_trend, previous, partial_from=figures.partial_from, bucket_s=figures.bucket_s),
            charts.latency(figures.latency),
        ):
            plotly.io.to_json(figure)

    def reconciliation() -> None:
        report = queries.reconciliation(config, filters, at)
        plotly.io.to_json(charts.parity(pd.DataFrame([row.model_dump() for row in report["parity"]])))

    def exceptions() -> None:
        page = queries.exception_page(config, filters, at)
        plotly.io.to_json(charts.exceptions_by_kind(page.counts))

    def process_map() -> None:
        process = next(iter(config.processes), "")
        flow = queries.process_map(config, filters.model_copy(update={"process": process}), at)
        plotly.io.to_json(charts.process_flow(flow.transitions))

    def order() -> None:
        found = queries.search_keys("O-", limit=1)
        if len(found):
            view = queries.order_view(config, str(found.iloc[0]["key"]), at)
            hops = pd.DataFrame([hop.model_dump() for hop in view.history.hops])
            plotly.io.to_json(charts.timeline(hops))

    return [
        ("dimensions", queries.dimensions),
        ("overview", overview),
        ("order search", order),
        ("reconciliation", reconciliation),
        ("exception queue", exceptions),
        ("alerts", lambda: queries.alert_rows(config, filters)),
        ("process map", process_map),
    ]


class WarmUp:
    """The warm-up thread. ``start()`` returns at once; ``stop()`` waits for the step under way."""

    def __init__(self, make_steps: Callable[[], list[tuple[str, Callable[[], object]]]] = steps) -> None:
        self._make_steps = make_steps
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="biztrace-dashboard-warm-up")
        self.done: list[str] = []

    def start(self) -> WarmUp:
        self._thread.start()
        return self

    def stop(self, timeout_s: float | None = None) -> None:
        """Ask the warm-up to stop after its current step and wait for it (blocks)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            planned = self._make_steps()
        except Exception as exc:  # no store or no configuration: the pages report their own errors
            logger.warning("dashboard warm-up skipped: %s", exc)
            return
        started = time.perf_counter()
        for name, step in planned:
            if self._stopping.is_set():
                return
            try:
                step()
                self.done.append(name)
            except Exception as exc:  # an empty or unreachable store: nothing to warm
                logger.warning("dashboard warm-up of %s skipped: %s", name, exc)
        logger.info("dashboard warmed up in %.1f s (%s)", time.perf_counter() - started, ", ".join(self.done))
