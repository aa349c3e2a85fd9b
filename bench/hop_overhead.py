"""Figure of issue 3: the cost of one ``hop`` span against a bare OpenTelemetry SDK span.

Same provider, same processors (BusinessSpanProcessor + SimpleSpanProcessor into the SDK's
in-memory exporter), same attributes; the bare span sets them by hand. Rounds alternate
and the medians are compared in the same run. Goal: ratio <= 1.25.
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


def run(quick: bool = False) -> dict[str, Any]:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(BusinessSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    n = 500 if quick else 3000

    def bare() -> None:
        for _ in range(n):
            with tracer.start_as_current_span("erp.order.accepted", attributes=ATTRIBUTES):
                pass

    def business() -> None:
        for _ in range(n):
            with hop("order.accepted", system="erp", order_id="O-1182", customer_id="C-77", sku_ids=["SKU-1", "SKU-2"],
                     amount=129.9, currency="EUR", quantity=3.0, tracer=tracer):  # fmt: skip
                pass

    results: dict[str, list[float]] = {"bare": [], "hop": []}
    for round_ in range(10 if quick else 20):
        for name, fn in (("bare", bare), ("hop", business)) if round_ % 2 else (("hop", business), ("bare", bare)):
            exporter.clear()
            started = time.perf_counter()
            fn()
            results[name].append((time.perf_counter() - started) / n * 1e6)
    bare_us = statistics.median(results["bare"])
    hop_us = statistics.median(results["hop"])
    return {"bare_us": round(bare_us, 1), "hop_us": round(hop_us, 1), "ratio": round(hop_us / bare_us, 2),
            "goal_ratio": 1.25}  # fmt: skip
