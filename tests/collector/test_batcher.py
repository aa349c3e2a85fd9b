"""The bounded queue: batching by size and time, ack after commit, retries, push-back, dedup."""

from __future__ import annotations

import time

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from biztrace.collector.batcher import Batcher
from biztrace.collector.errors import Overloaded, StoreUnavailable
from biztrace.collector.intake import check
from biztrace.collector.ledger import RequestLedger
from biztrace.collector.writer import InMemoryWriter


def _intake(spans: int, seed: int):
    request = ExportTraceServiceRequest()
    ss = request.resource_spans.add().scope_spans.add()
    for i in range(spans):
        span = ss.spans.add()
        span.trace_id, span.span_id = bytes([seed] * 15 + [i + 1]), bytes([seed] * 7 + [i + 1])
        span.start_time_unix_nano = 1_790_000_000_000_000_000
    return check(request, None)


def test_batches_by_size_and_acknowledges_after_the_write():
    writer = InMemoryWriter()
    batcher = Batcher([writer], max_batch_spans=10, min_batch_spans=10, flush_interval_ms=10_000)
    batcher.start()
    futures = [batcher.submit(_intake(5, seed)) for seed in (1, 2)]
    for future in futures:
        future.result(5)
    assert [batch.spans for batch in writer.batches] == [10]
    batcher.shutdown(5)


def test_flushes_by_time_when_little_arrives():
    writer = InMemoryWriter()
    batcher = Batcher([writer], min_batch_spans=1000, flush_interval_ms=20)
    batcher.start()
    batcher.submit(_intake(3, 1)).result(5)
    assert writer.spans == 3
    batcher.shutdown(5)


def test_a_full_queue_pushes_back():
    batcher = Batcher([InMemoryWriter()], max_queue_spans=5)  # not started: nothing drains
    batcher.submit(_intake(4, 1))
    with pytest.raises(Overloaded, match="queue holds 4 of 5"):
        batcher.submit(_intake(4, 2))


def test_failed_writes_are_retried_with_the_same_batch_then_given_up():
    writer = InMemoryWriter()
    writer.fail_next = 2
    batcher = Batcher([writer], flush_interval_ms=1, retry_initial_s=0.01, write_timeout_s=5)
    batcher.start()
    batcher.submit(_intake(2, 1)).result(5)
    assert len(writer.batches) == 1 and batcher.metrics.batch_retries._value.get() == 2
    writer.fail_next = 1000
    failing = batcher.submit(_intake(2, 2))
    batcher.write_timeout_s = 0.05
    with pytest.raises(StoreUnavailable, match="did not commit"):
        failing.result(5)
    writer.fail_next = 0
    batcher.shutdown(5)


def test_retried_requests_are_acknowledged_without_a_second_write():
    writer = InMemoryWriter()
    ledger = RequestLedger()
    batcher = Batcher([writer], ledger, flush_interval_ms=1)
    batcher.start()
    intake = _intake(3, 7)
    batcher.submit(intake).result(5)
    batcher.submit(_intake(3, 7)).result(5)  # same bytes: a client's retry
    assert writer.spans == 3 and batcher.metrics.spans_deduplicated._value.get() == 3
    batcher.shutdown(5)


def test_the_same_request_in_flight_twice_shares_one_future():
    batcher = Batcher([InMemoryWriter()], flush_interval_ms=10_000, min_batch_spans=10_000)
    first, second = batcher.submit(_intake(2, 3)), batcher.submit(_intake(2, 3))
    assert first is second and batcher.queued_spans == 2


def test_shutdown_writes_what_is_queued():
    writer = InMemoryWriter()
    batcher = Batcher([writer], flush_interval_ms=60_000, min_batch_spans=10_000)
    batcher.start()
    future = batcher.submit(_intake(4, 9))
    time.sleep(0.05)
    assert not future.done()
    assert batcher.shutdown(5)
    assert future.result(0) is None and writer.spans == 4
    with pytest.raises(Overloaded, match="shutting down"):
        batcher.submit(_intake(1, 10))
