"""tracing -> OTLP -> collector -> ClickHouse -> lookup, with nothing faked on the way."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from biztrace import tracing
from biztrace.readmodel.lookup import key_history


def test_a_hop_instrumented_in_two_lines_reaches_the_order_view(start_collector):
    collector = start_collector()
    provider = TracerProvider(resource=Resource.create({"service.name": "wms-bridge"}))
    tracing.configure(provider=provider, endpoint=f"http://127.0.0.1:{collector.ports.http}/v1/traces")
    tracer = provider.get_tracer("wms-bridge")
    with tracing.hop("shipment.confirmed", system="wms", order_id="O-E2E", shipment_id="SH-1", quantity=4,
                     tracer=tracer):  # fmt: skip
        with tracer.start_as_current_span("carrier.book"):  # knows nothing about orders
            pass
    assert provider.force_flush(30_000)
    provider.shutdown()
    history = key_history(collector.store, "O-E2E")
    assert sorted((hop.span_name, hop.stage) for hop in history.hops) == [
        ("carrier.book", ""), ("wms.shipment.confirmed", "shipment.confirmed")]  # fmt: skip
    assert key_history(collector.store, "SH-1").hops[0].quantity == 4.0
