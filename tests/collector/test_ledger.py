"""The committed-request ledger: its bounds in time and size, and recovery after a restart."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from biztrace.collector import intake
from biztrace.collector.ledger import RequestLedger, recover
from biztrace.collector.writer import Batch, ClickHouseWriter


def test_memory_is_bounded_in_time_and_size():
    now = [0.0]
    ledger = RequestLedger(window_s=10, max_entries=2, clock=lambda: now[0])
    ledger.record(b"a", {1})
    ledger.record(b"b", {1})
    ledger.record(b"c", {2})
    assert len(ledger) == 2 and ledger.committed_days(b"a") == frozenset()
    assert ledger.committed_days(b"c") == frozenset({2})
    now[0] = 11
    assert ledger.committed_days(b"c") == frozenset()


def _request(start_ns: int) -> intake.Intake:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = bytes([5] * 16), bytes([6] * 8), "erp.accept"
    span.start_time_unix_nano = start_ns
    return intake.check(request, None)


def test_recovery_finds_committed_requests_at_nanosecond_precision(store):
    committed = _request(1_790_000_000_123_456_789)  # not representable in a float's microseconds
    ClickHouseWriter(store).write(Batch("b-1", [committed]))
    ledger = RequestLedger()
    assert recover(store, ledger) == 1
    assert ledger.committed_days(committed.fingerprint) == frozenset(s.day for s in committed.samples)


def test_recovery_ignores_requests_whose_spans_never_arrived(store):
    ghost = _request(1_790_000_000_000_000_000)
    writer = ClickHouseWriter(store)
    writer._ingest = store.table("otel_traces_trace_id_ts")  # the ledger row lands, the spans do not
    try:
        writer.write(Batch("b-2", [ghost]))
    except Exception:  # the body insert fails on purpose: a crash between ledger and spans
        pass
    ledger = RequestLedger()
    assert recover(store, ledger) == 0
    assert ledger.committed_days(ghost.fingerprint) == frozenset()
