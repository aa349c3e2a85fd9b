"""The collector's own health metrics, on a registry of its own (tests get a fresh one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class CollectorMetrics:
    """Counters and gauges for received, written, rejected and retried spans."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "biztrace_collector_requests", "OTLP export requests answered", ["protocol", "outcome"], registry=r
        )
        self.spans_received = Counter("biztrace_collector_spans_received", "Spans received", ["protocol"], registry=r)
        self.spans_written = Counter("biztrace_collector_spans_written", "Spans committed to the store", registry=r)
        self.spans_rejected = Counter(
            "biztrace_collector_spans_rejected",
            "Spans refused (invalid, over a limit, or pushed back)",
            ["reason"],
            registry=r,
        )
        self.spans_deduplicated = Counter(
            "biztrace_collector_spans_deduplicated", "Spans of retried requests already stored", registry=r
        )
        self.batch_retries = Counter("biztrace_collector_batch_retries", "Batch writes retried", registry=r)
        self.batch_failures = Counter("biztrace_collector_batch_failures", "Batches given up on", registry=r)
        self.queue_spans = Gauge("biztrace_collector_queue_spans", "Spans waiting to be written", registry=r)
        self.batch_seconds = Histogram(
            "biztrace_collector_batch_write_seconds",
            "Time to commit one batch",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
