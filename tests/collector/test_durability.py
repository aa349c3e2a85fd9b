"""Nothing lost, nothing doubled: real SDK exporters against a collector process that dies.

The collector runs as its own process (chDB: one per data directory); the tests stop it
with SIGTERM, kill it with SIGKILL, or let it crash right after a commit and before the
acknowledgement (``--fault-exit-after-commits``), restart it on the same directory and
ports, and check that the SDK's retries leave every span stored exactly once.
"""

from __future__ import annotations

import http.client
import random
import threading
import time

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from biztrace.collector.batcher import FAULT_EXIT_CODE
from support import query_store


def _emit(exporter, spans: int, batch: int = 100) -> None:
    """Send ``spans`` uniquely keyed spans through the SDK's batch processor, then flush."""
    provider = TracerProvider(resource=Resource.create({"service.name": "erp"}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=spans + 10, max_export_batch_size=batch, schedule_delay_millis=20)
    )
    tracer = provider.get_tracer("durability")
    for i in range(spans):
        with tracer.start_as_current_span(
            "erp.accept", attributes={"order.id": f"O-{i}", "biz.stage": "order.accepted"}
        ):
            pass
    assert provider.force_flush(180_000), "the SDK could not deliver every span"
    provider.shutdown()


def _stored(data_dir) -> tuple[int, int, int]:
    [[total, unique, hops]] = query_store(
        data_dir,
        "SELECT (SELECT count() FROM otel_traces), (SELECT uniqExact(SpanId) FROM otel_traces), "
        "(SELECT count() FROM biz_hops)",
    )
    return int(total), int(unique), int(hops)


def test_sigterm_writes_what_is_queued_before_exiting(collector_process):
    collector = collector_process("--flush-interval-ms", "10000", "--max-batch-spans", "1000000").start()
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for i in range(50):
        span = spans.add()
        span.trace_id, span.span_id = bytes([1] * 15 + [i + 1]), bytes([2] * 7 + [i + 1])
        span.name, span.start_time_unix_nano = "crm.capture", 1_790_000_000_000_000_000
    answers: list[int] = []

    def post() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", collector.http_port, timeout=60)
        connection.request(
            "POST", "/v1/traces", request.SerializeToString(), {"Content-Type": "application/x-protobuf"}
        )
        answers.append(connection.getresponse().status)
        connection.close()

    sender = threading.Thread(target=post)
    sender.start()
    time.sleep(1.0)  # the request waits in the queue: the flush interval is 10 s
    assert not answers
    assert collector.terminate() == 0
    sender.join(30)
    assert answers == [200]
    assert _stored(collector.data_dir)[:2] == (50, 50)


def test_crash_between_commit_and_ack_then_sdk_retry_stores_once(collector_process):
    collector = collector_process("--flush-interval-ms", "20", "--writers", "1")
    collector.start("--fault-exit-after-commits", "3")

    def restart_after_crash() -> None:
        assert collector.wait(120) == FAULT_EXIT_CODE
        collector.start()

    restarter = threading.Thread(target=restart_after_crash)
    restarter.start()
    _emit(HttpExporter(endpoint=f"{collector.http_url}/v1/traces", timeout=90), spans=1000)
    restarter.join(60)
    log = collector.log.read_text()
    assert "fault injection: exiting after commit 3" in log
    assert "remembered" in log, "the restarted collector did not rebuild its ledger"
    assert collector.terminate() == 0
    assert _stored(collector.data_dir) == (1000, 1000, 1000)


def test_random_sigkills_with_grpc_sdk_retries_store_every_span_once(collector_process):
    collector = collector_process("--flush-interval-ms", "20").start()
    stop = threading.Event()
    kills: list[float] = []

    def chaos() -> None:
        rng = random.Random(7)
        for _ in range(2):
            if stop.wait(rng.uniform(0.5, 1.5)):
                return
            collector.kill()
            kills.append(time.monotonic())
            collector.start()

    killer = threading.Thread(target=chaos)
    killer.start()
    try:
        _emit(GrpcExporter(endpoint=f"127.0.0.1:{collector.grpc_port}", insecure=True, timeout=90), spans=3000)
    finally:
        stop.set()
        killer.join(120)
    assert len(kills) >= 1
    assert collector.terminate() == 0
    total, unique, hops = _stored(collector.data_dir)
    assert (total, unique, hops) == (3000, 3000, 3000)
