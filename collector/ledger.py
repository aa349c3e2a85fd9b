"""Which requests are already stored, so that a client's retry is stored once.

OTLP clients retry a request whose answer they did not get. The collector acknowledges
only after commit, so a retry can follow a commit whose answer was lost: a client timeout,
or a collector killed between commit and answer. The ledger remembers the fingerprints of
committed requests (and, per request, which partition days were committed) for a window;
after a restart it rebuilds that memory from ``biztrace_ingest_ledger``, keeping only the
requests whose sample spans really are in ``otel_traces``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from biztrace.collector.intake import Sample
from biztrace.store import schema


class RequestLedger:
    """In-memory record of committed request fingerprints, bounded in time and size.

    Thread-safe. ``clock`` returns seconds; tests inject their own.
    """

    def __init__(self, window_s: float = 900.0, max_entries: int = 500_000, clock=time.monotonic) -> None:
        self.window_s = window_s
        self.max_entries = max_entries
        self._clock = clock
        self._days: OrderedDict[bytes, tuple[frozenset[int], float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._days)

    def committed_days(self, fingerprint: bytes) -> frozenset[int]:
        """Days of this request already committed; empty when unknown or expired."""
        with self._lock:
            entry = self._days.get(fingerprint)
            if entry is None or entry[1] < self._clock():
                return frozenset()
            return entry[0]

    def record(self, fingerprint: bytes, days: Iterable[int]) -> None:
        """Note that these days of this request are committed."""
        with self._lock:
            now = self._clock()
            old = self._days.pop(fingerprint, (frozenset(), 0.0))[0]
            self._days[fingerprint] = (old | frozenset(days), now + self.window_s)
            while len(self._days) > self.max_entries:
                self._days.popitem(last=False)
            while self._days:
                first = next(iter(self._days.values()))
                if first[1] >= now:
                    break
                self._days.popitem(last=False)


def present_samples(store, samples: list[Sample], chunk: int = 5_000) -> set[tuple[str, str]]:
    """Which of these sample spans are in ``otel_traces`` (found by the trace-id index)."""
    found: set[tuple[str, str]] = set()
    for start in range(0, len(samples), chunk):
        part = samples[start : start + chunk]
        # the bounds only prune; a second of margin covers timestamps stored at microsecond precision
        low = min(s.start_ns for s in part) - 1_000_000_000
        high = max(s.start_ns for s in part) + 1_000_000_000
        rows = store.client.query(
            f"SELECT TraceId, SpanId FROM {store.table(schema.TRACES)} "
            "WHERE Timestamp BETWEEN fromUnixTimestamp64Nano({low:Int64}) AND fromUnixTimestamp64Nano({high:Int64}) "
            "AND TraceId IN {traces:Array(String)} AND SpanId IN {spans:Array(String)}",
            parameters={
                "low": low,
                "high": high,
                "traces": sorted({s.trace_id for s in part}),
                "spans": sorted({s.span_id for s in part}),
            },
        ).result_rows
        found.update((trace, span) for trace, span in rows)
    return found


def recover(store, ledger: RequestLedger, now: datetime | None = None) -> int:
    """Rebuild the ledger from the store after a start; returns requests remembered."""
    now = now or datetime.now(UTC).replace(tzinfo=None)
    since = now - timedelta(seconds=ledger.window_s)
    rows = store.client.query(
        f"SELECT Fingerprint, SampleTraceId, SampleSpanId, toInt64(toUnixTimestamp64Nano(SampleTimestamp)), "
        f"toInt64(toUInt16(Day)) "
        f"FROM {store.table(schema.LEDGER)} WHERE WrittenAt >= {{since:DateTime64(3)}}",
        parameters={"since": since},
    ).result_rows
    if not rows:
        return 0
    samples = {}
    for fingerprint, trace_id, span_id, start_ns, day in rows:
        samples.setdefault(fingerprint, []).append(Sample(day, trace_id, span_id, start_ns))
    present = present_samples(store, [s for group in samples.values() for s in group])
    remembered = 0
    for fingerprint, group in samples.items():
        days = {s.day for s in group if (s.trace_id, s.span_id) in present}
        if days:
            ledger.record(bytes.fromhex(fingerprint), days)
            remembered += 1
    return remembered
