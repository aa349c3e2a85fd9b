"""Business keys and trace context across threads, asyncio, HTTP and message headers."""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from biztrace import tracing
from biztrace.tracing import attached, business_context, extract, hop, inject


def test_threads_keep_the_keys_with_propagate_and_submit(spans):
    with business_context(order_id="O-T", customer_id="C-1"):
        worker = threading.Thread(target=tracing.propagate(lambda: spans.tracer.start_span("thread.work").end()))
        worker.start()
        worker.join()
        with ThreadPoolExecutor(1) as pool:
            tracing.submit(pool, lambda: spans.tracer.start_span("pool.work").end()).result()
    assert spans.named("thread.work").attributes["order.id"] == "O-T"
    assert spans.named("pool.work").attributes["customer.id"] == "C-1"


def test_asyncio_tasks_inherit_the_keys(spans):
    async def child() -> None:
        with spans.tracer.start_as_current_span("async.child"):
            await asyncio.sleep(0)

    async def main() -> None:
        with hop("order.accepted", system="erp", order_id="O-A", tracer=spans.tracer):
            await asyncio.gather(asyncio.create_task(child()), asyncio.create_task(child()))

    asyncio.run(main())
    children = [s for s in spans.finished() if s.name == "async.child"]
    parent = spans.named("erp.order.accepted")
    assert len(children) == 2
    assert all(s.attributes["order.id"] == "O-A" and s.parent.span_id == parent.context.span_id for s in children)


def test_http_call_to_a_real_server_continues_the_trace_and_keys(spans):
    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            with attached(extract(dict(self.headers))):
                with hop("inventory.allocated", system="wms", tracer=spans.tracer) as span:
                    seen["trace_id"] = span.get_span_context().trace_id
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with hop("order.accepted", system="erp", order_id="O-H", sku_ids=["S-1"], tracer=spans.tracer) as span:
            headers: dict[str, str] = {}
            inject(headers)
            request = urllib.request.Request(f"http://127.0.0.1:{server.server_address[1]}/allocate", headers=headers)
            urllib.request.urlopen(request, timeout=10).close()
            caller_trace = span.get_span_context().trace_id
    finally:
        server.shutdown()
        server.server_close()
    downstream = spans.named("wms.inventory.allocated")
    assert seen["trace_id"] == caller_trace
    assert downstream.attributes["order.id"] == "O-H" and downstream.attributes["sku.ids"] == ("S-1",)


def test_message_headers_dict_and_kafka_list(spans):
    with hop("order.captured", system="edi", order_id="O-M", customer_id="C-4", tracer=spans.tracer):
        rabbit: dict[str, str] = {"content-type": "application/edi-x12"}
        kafka: list[tuple[str, bytes]] = [("source", b"edi")]
        inject(rabbit)
        inject(kafka)
    assert "traceparent" in rabbit and "baggage" in rabbit
    assert dict(kafka)["traceparent"].startswith(b"00-") and ("source", b"edi") in kafka
    for carrier, name in ((rabbit, "consumer.rabbit"), (kafka, "consumer.kafka")):
        with attached(extract(carrier)):
            spans.tracer.start_span(name).end()
    producer = spans.named("edi.order.captured")
    for name in ("consumer.rabbit", "consumer.kafka"):
        consumer = spans.named(name)
        assert consumer.context.trace_id == producer.context.trace_id
        assert consumer.attributes["order.id"] == "O-M" and consumer.attributes["customer.id"] == "C-4"


def test_traceparent_parsing():
    context = tracing.span_context_from_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert context is not None and format(context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert tracing.span_context_from_traceparent("garbage") is None
    assert tracing.span_context_from_traceparent("00-" + "0" * 32 + "-b7ad6b7169203331-01") is None
