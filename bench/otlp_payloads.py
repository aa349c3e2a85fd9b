"""Pre-serialized OTLP requests shaped like a distributor's integration hops."""

from __future__ import annotations

import os
import random

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

SYSTEMS = ("crm", "erp", "wms", "billing", "middleware", "edi")
STAGES = ("order.captured", "order.accepted", "inventory.allocated", "shipment.confirmed", "invoice.posted")


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    if isinstance(value, list):
        return KeyValue(
            key=key, value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=v) for v in value]))
        )
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def build_request(
    spans: int = 512, seed: int = 0, start_ns: int = 1_790_000_000_000_000_000, orders: int = 1_000_000
) -> ExportTraceServiceRequest:
    """One request of ``spans`` business spans from one service, like an SDK batch."""
    rng = random.Random(seed)
    system = SYSTEMS[seed % len(SYSTEMS)]
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(
        [
            _kv("service.name", system),
            _kv("service.version", "1.4.2"),
            _kv("deployment.environment", "prod"),
            _kv("host.name", f"{system}-01"),
        ]
    )
    ss = rs.scope_spans.add()
    ss.scope.name = "biztrace"
    ss.scope.version = "0.1.0"
    for i in range(spans):
        span = ss.spans.add()
        span.trace_id = os.urandom(16)
        span.span_id = os.urandom(8)
        if i % 3:
            span.parent_span_id = os.urandom(8)
        span.name = f"{system}.{STAGES[i % len(STAGES)]}"
        span.kind = 1 + i % 5
        t = start_ns + rng.randrange(0, 3_600_000_000_000)
        span.start_time_unix_nano = t
        span.end_time_unix_nano = t + rng.randrange(1_000_000, 900_000_000)
        order = rng.randrange(orders)
        span.attributes.extend(
            [
                _kv("order.id", f"O-{order}"),
                _kv("customer.id", f"C-{order % 5000}"),
                _kv("sku.ids", [f"SKU-{rng.randrange(20000)}" for _ in range(1 + i % 3)]),
                _kv("biz.process", "order_to_cash"),
                _kv("biz.stage", STAGES[i % len(STAGES)]),
                _kv("biz.system", system),
                _kv("biz.channel", "web"),
                _kv("biz.amount", round(rng.uniform(10, 5000), 2)),
                _kv("biz.currency", "EUR"),
                _kv("biz.quantity", float(rng.randrange(1, 40))),
                _kv("biz.event_id", f"E-{order}-{i % 5}"),
                _kv("http.status_code", 200),
            ]
        )
        span.status.code = 2 if i % 50 == 0 else 0
    return request
