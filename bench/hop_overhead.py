"""Figure of issues 3 and 19: the cost of one ``hop`` span against a bare OpenTelemetry SDK span.

Same provider, same processors (BusinessSpanProcessor + SimpleSpanProcessor into the SDK's
in-memory exporter), same attributes; the bare span sets them by hand with the SDK's usual
``start_as_current_span``. This machine is shared and its load changes by the second, so the
time is this thread's CPU time (time spent waiting for a core is not the hop's cost), the two
alternate in short batches (which goes first alternates too), and the figure is the median of
the per-pair ratios: a pair runs within a few milliseconds, under the same load. Medians of
each side are reported as well. Goal (issue 19): ratio <= 1.15.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from biztrace.tracing import BusinessSpanProcessor, hop

ATTRIBUTES = {"biz.process": "order_to_cash", "biz.stage": "order.accepted", "biz.system": "erp",
              "order.id": "O-1182", "customer.id": "C-77", "sku.ids": ["SKU-1", "SKU-2"], "biz.amount": 129.9,
              "biz.currency": "EUR", "biz.quantity": 3.0}  # fmt: skip
GOAL_RATIO = 1.15


def run(quick: bool = False, batch: int = 200, pairs: int | None = None) -> dict[str, Any]:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(BusinessSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    pairs = pairs or (20 if quick else 150)

    def bare() -> None:
        for _ in range(batch):
            with tracer.start_as_current_span("erp.order.accepted", attributes=ATTRIBUTES):
                pass

    def business() -> None:
        for _ in range(batch):
            with hop("order.accepted", system="erp", order_id="O-1182", customer_id="C-77", sku_ids=["SKU-1", "SKU-2"],
                     amount=129.9, currency="EUR", quantity=3.0, tracer=tracer):  # fmt: skip
                pass

    def timed(fn) -> float:
        exporter.clear()
        started = time.thread_time()
        fn()
        return (time.thread_time() - started) / batch * 1e6

    timed(bare), timed(business)  # warm up (the hop's first call validates and caches)
    results: dict[str, list[float]] = {"bare": [], "hop": []}
    ratios = []
    for pair in range(pairs):
        if pair % 2:
            bare_us, hop_us = timed(bare), timed(business)
        else:
            hop_us, bare_us = timed(business), timed(bare)
        results["bare"].append(bare_us)
        results["hop"].append(hop_us)
        ratios.append(hop_us / bare_us)
    bare_us = statistics.median(results["bare"])
    hop_us = statistics.median(results["hop"])
    return {"bare_us": round(bare_us, 1), "hop_us": round(hop_us, 1), "ratio": round(statistics.median(ratios), 3),
            "ratio_of_medians": round(hop_us / bare_us, 3), "spans_per_side": batch * pairs,
            "goal_ratio": GOAL_RATIO}  # fmt: skip


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv)))
