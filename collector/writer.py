"""Writers commit batches of checked requests; only this module's ClickHouseWriter knows SQL.

A batch is written in two inserts: first its ledger rows (request fingerprints and sample
spans, see ``sql/006_ingest_ledger.sql``), then the request bodies themselves, which
ClickHouse parses (``FORMAT Protobuf``) and flattens into ``otel_traces``. The body insert
carries the batch id as ``insert_deduplication_token``: writing the same batch twice, as a
retry after an ambiguous failure does, stores it once, in ``otel_traces`` and in every
table its materialized views feed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Protocol

from biztrace.collector.intake import Intake
from biztrace.store import schema

PROTO_FILE = "otlp_trace.proto"
PROTO_MESSAGE = "ExportTraceServiceRequest"


@dataclass(frozen=True)
class Batch:
    """Requests written together; ``batch_id`` doubles as the deduplication token."""

    batch_id: str
    requests: Sequence[Intake]

    @property
    def spans(self) -> int:
        return sum(request.spans for request in self.requests)

    def stream(self) -> bytes:
        """The bodies as one length-delimited protobuf stream, as FORMAT Protobuf reads it."""
        parts = []
        for request in self.requests:
            parts.append(_varint(len(request.body)))
            parts.append(request.body)
        return b"".join(parts)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


class Writer(Protocol):
    """Commits a batch or raises; must be safe to call again with the same batch."""

    def write(self, batch: Batch) -> None:
        """Block until the batch is committed. Raises on any failure."""
        ...


class ClickHouseWriter:
    """Writes batches to ``otel_traces`` through the ``otlp_ingest`` null table.

    Args:
        store: the connected store; a second client on the same store is fine (chDB shares
            the engine), so several writers can insert in parallel.
        max_partitions: the most daily partitions one batch may touch: the days of the
            intake window (``max_span_age_days`` + ``max_span_future_s``), with a margin.
        schema_path: the ``format_schema`` path ClickHouse reads the OTLP schema from. The
            embedded engine reads the packaged file; a server needs the file in its
            ``format_schemas`` directory and this set to the bare file name.
    """

    def __init__(self, store, schema_path: str | None = None, max_partitions: int = 400) -> None:
        self._store = store
        if schema_path is None:
            schema_path = str(resources.files("biztrace.collector") / PROTO_FILE)
        self._settings = {
            "format_schema": f"{schema_path}:{PROTO_MESSAGE}",
            "input_format_protobuf_oneof_presence": 1,
            "deduplicate_blocks_in_dependent_materialized_views": 1,
            # The replacing tables (biz_hops, biz_keys, biz_links) are not collapsed within the
            # insert block: a duplicate row is collapsed when parts merge, as one across batches is
            # (their readers take distinct rows); collapsing cost half of biz_hops' insert.
            "optimize_on_insert": 0,
            # otel_traces feeds two views and biz_hops two more: pushed to them side by side
            "parallel_view_processing": 1,
            # otel_traces has a partition per day: a batch may hold every day of the intake window
            "max_partitions_per_insert_block": max_partitions,
        }
        self._ingest = store.table(schema.INGEST)
        self._ledger = schema.LEDGER

    def write(self, batch: Batch) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        ledger_rows = [
            [
                now,
                batch.batch_id,
                request.fingerprint.hex(),
                _day(sample.day),
                sample.trace_id,
                sample.span_id,
                datetime.fromtimestamp(sample.start_ns / 1e9, UTC).replace(tzinfo=None),
            ]
            for request in batch.requests
            for sample in request.samples
        ]
        client = self._store.client
        if ledger_rows:
            client.insert(
                self._ledger,
                ledger_rows,
                column_names=[
                    "WrittenAt",
                    "BatchId",
                    "Fingerprint",
                    "Day",
                    "SampleTraceId",
                    "SampleSpanId",
                    "SampleTimestamp",
                ],
                database=self._store.database,
                settings={"insert_deduplication_token": f"ledger-{batch.batch_id}"},
            )
        settings = dict(self._settings, insert_deduplication_token=batch.batch_id)
        client.raw_insert(self._ingest, None, batch.stream(), settings=settings, fmt="Protobuf")


def _day(day: int):
    from datetime import date, timedelta

    return date(1970, 1, 1) + timedelta(days=day)


class InMemoryWriter:
    """Keeps batches in a list: a test double for the pipeline, as OTel ships
    ``InMemorySpanExporter``. ``fail_next`` makes the next calls raise."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.fail_next = 0
        self._lock = threading.Lock()

    def write(self, batch: Batch) -> None:
        with self._lock:
            if self.fail_next:
                self.fail_next -= 1
                raise ConnectionError("store down (InMemoryWriter.fail_next)")
            if all(b.batch_id != batch.batch_id for b in self.batches):
                self.batches.append(batch)

    @property
    def spans(self) -> int:
        return sum(batch.spans for batch in self.batches)
