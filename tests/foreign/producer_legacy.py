"""A legacy order system that nobody will re-instrument, next to conventional ERP and billing hops.

``legacy-oms`` is traced by stock HTTP server instrumentation: its spans are named by route
(``POST /api/orders/{id}/ship``) and carry the order under ``sales_order_number``, with no
``biz.*`` attribute at all. Only a mapping in the configuration (``mappings.yaml`` here) makes
them shipment milestones of the order. The ERP and billing hops of the same orders follow
CONVENTIONS v2 (plain SDK, no ``biz.process``/``biz.system``). Plain OpenTelemetry SDK only.

Usage: python producer_legacy.py --endpoint http://127.0.0.1:4318 --now 2026-11-20T12:00:00+00:00 --truth t.json
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

MIN = 60 * 1_000_000_000
HOUR = 60 * MIN
DAY = 24 * HOUR
SHIP_ROUTE = "/api/orders/{id}/ship"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--now", required=True, type=datetime.fromisoformat)
    parser.add_argument("--truth", required=True, type=Path)
    args = parser.parse_args()
    now_ns = int(args.now.timestamp() * 1e9)
    providers: dict[str, TracerProvider] = {}
    trees: dict[str, dict] = {}
    spans = 0

    def tracer(service: str) -> trace.Tracer:
        if service not in providers:
            provider = TracerProvider(resource=Resource.create({"service.name": service}))
            provider.add_span_processor(
                BatchSpanProcessor(
                    OTLPSpanExporter(endpoint=args.endpoint.rstrip("/") + "/v1/traces"), schedule_delay_millis=200
                )  # fmt: skip
            )
            providers[service] = provider
        return providers[service].get_tracer("opentelemetry.instrumentation.flask", "0.48b0")

    def span(order: str, service: str, name: str, at: int, attributes: dict, *, kind=SpanKind.INTERNAL,
             error: int = 0, mapped: bool = True) -> None:  # fmt: skip
        nonlocal spans
        started = tracer(service).start_span(name, kind=kind, attributes=attributes, start_time=now_ns + at)
        if error:
            started.set_attribute("http.response.status_code", error)
            started.set_attribute("error.type", str(error))
            started.set_status(Status(StatusCode.ERROR))
        started.end(end_time=now_ns + at + 95_000_000)
        spans += 1
        tree = trees.setdefault(order, {"keys": [order], "span_ids": [], "unmapped_span_ids": []})
        tree["span_ids" if mapped else "unmapped_span_ids"].append(format(started.get_span_context().span_id, "016x"))

    def conventional(order: str, at: int, amount: float, quantity: float) -> None:
        span(order, "erp", "SalesOrder.Create", at, {"order.id": order, "biz.stage": "order.captured"})
        accepted = {"order.id": order, "biz.stage": "order.accepted", "biz.amount": amount, "biz.quantity": quantity}
        span(order, "erp", "SalesOrder.Release", at + 10 * MIN, accepted)
        span(order, "erp", "Delivery.Allocate", at + HOUR, {"order.id": order, "biz.stage": "inventory.allocated",
                                                            "biz.quantity": quantity})  # fmt: skip

    def shipped(order: str, at: int, quantity: float, error: int = 0) -> None:
        """What the legacy OMS's HTTP instrumentation records: a route, a path, its own field names."""
        span(order, "legacy-oms", f"POST {SHIP_ROUTE}", at,
             {"http.request.method": "POST", "http.route": SHIP_ROUTE, "url.path": f"/api/orders/{order}/ship",
              "http.response.status_code": error or 200, "sales_order_number": order, "units_shipped": quantity},
             kind=SpanKind.SERVER, error=error)  # fmt: skip
        span(order, "legacy-oms", "GET /api/orders/{id}", at - 5 * MIN,  # a read: mapped to nothing
             {"http.request.method": "GET", "http.route": "/api/orders/{id}", "sales_order_number": order},
             kind=SpanKind.SERVER, mapped=False)  # fmt: skip

    def invoiced(order: str, at: int, amount: float, quantity: float) -> None:
        span(order, "billing", "invoice.post", at, {"order.id": order, "invoice.id": f"INV-{order}",
                                                    "biz.stage": "invoice.posted", "biz.amount": amount,
                                                    "biz.quantity": quantity})  # fmt: skip

    faults, clean = [], []
    # clean: shipped by the legacy OMS, invoiced by billing
    conventional("LEG-3001", -3 * DAY, 210.0, 3)
    shipped("LEG-3001", -2 * DAY, 3)
    invoiced("LEG-3001", -2 * DAY + 3 * HOUR, 210.0, 3)
    clean.append({"process": "order_to_cash", "key": "LEG-3001", "why": "shipment only known through the mapping"})
    # stuck: shipped (legacy OMS) 3 days ago, never invoiced (SLA 24 h)
    conventional("LEG-3002", -4 * DAY, 99.0, 1)
    shipped("LEG-3002", -3 * DAY, 1)
    faults.append({"process": "order_to_cash", "key": "LEG-3002", "kind": "stuck", "stage": "shipment.confirmed",
                   "value": 99.0, "why": "shipped per legacy-oms 3 days ago, no invoice (SLA 24 h)"})  # fmt: skip
    # failed: the legacy OMS answered 500 to the ship call
    conventional("LEG-3003", -1 * DAY, 40.0, 2)
    shipped("LEG-3003", -20 * HOUR, 2, error=500)
    faults.append({"process": "order_to_cash", "key": "LEG-3003", "kind": "failed", "stage": "shipment.confirmed",
                   "value": 40.0, "why": "legacy-oms POST .../ship answered 500"})  # fmt: skip

    for provider in providers.values():
        provider.force_flush()
        provider.shutdown()
    args.truth.write_text(json.dumps({"producer": "legacy-oms", "now": args.now.isoformat(), "spans": spans,
                                      "faults": faults, "clean": clean, "trees": trees}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
