"""Business figures in Prometheus' text format, for Grafana and friends (``GET /metrics`` on the API port).

Each scrape asks the read model (cached for ``ttl_s``, so a busy scraper does not multiply the
work); the figures are the ones the dashboard and the CLI show, from the same functions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from biztrace.config import AlertsConfig
from biztrace.readmodel.exceptions import totals
from biztrace.readmodel.figures import headline
from biztrace.store import Store


def business_registry(store: Store, config: AlertsConfig, now: datetime) -> CollectorRegistry:
    """A fresh registry holding every business figure at ``now``."""
    registry = CollectorRegistry()
    exceptions = Gauge("biztrace_exceptions", "Open and acknowledged exceptions now, by process, kind and state",
                       ["process", "kind", "state"], registry=registry)  # fmt: skip
    # the queue's totals, counted in ClickHouse (the API's page reads the same; beside the loop, its last pass)
    counts, stuck = totals(store, config, now, shared=True)
    for count in counts:
        if count.state in ("open", "acknowledged"):
            exceptions.labels(count.process, count.kind, count.state).set(count.exceptions)
    oldest = Gauge("biztrace_oldest_stuck_seconds", "Age of the oldest stuck transaction's SLA breach, by process",
                   ["process"], registry=registry)  # fmt: skip
    stuck_count = Gauge("biztrace_stuck_transactions", "Transactions past their SLA now, by process", ["process"],
                        registry=registry)  # fmt: skip
    by_process = {row.process: row for row in stuck}
    for process in config.processes:
        row = by_process.get(process)
        oldest.labels(process).set(row.oldest_breach_s if row else 0)
        stuck_count.labels(process).set(row.transactions if row else 0)

    figures = headline(store, config, now, now - timedelta(days=1))
    rate = Gauge("biztrace_mismatch_rate", "Share of reconciled pairs that disagree over the last day, by process",
                 ["process"], registry=registry)  # fmt: skip
    for found in figures.mismatch_rates:
        rate.labels(found.scope).set(found.rate)
    adherence = Gauge("biztrace_sla_adherence", "End-to-end SLA adherence of the transactions started in the last "
                      "day, by process (met / measured)", ["process"], registry=registry)  # fmt: skip
    for group in figures.sla_adherence:
        if group.adherence is not None:
            adherence.labels(group.labels.get("process", "")).set(group.adherence)
    return registry


class BusinessMetrics:
    """The latest exposition, recomputed at most every ``ttl_s`` seconds (thread-safe)."""

    def __init__(self, store: Store, config: Callable[[], AlertsConfig], clock: Callable[[], datetime],
                 ttl_s: float = 30.0) -> None:  # fmt: skip
        self._store, self._config, self._clock, self._ttl_s = store, config, clock, ttl_s
        self._lock = threading.Lock()
        self._cached: tuple[float, bytes] | None = None

    def exposition(self) -> bytes:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self._ttl_s:
                registry = business_registry(self._store, self._config(), self._clock())
                self._cached = (time.monotonic(), generate_latest(registry))
            return self._cached[1]
