"""Full exports, every row streamed from ClickHouse: the exception queue as CSV or JSON lines.

An export of the exception queue is the list's own query (:func:`exceptions.queue` and
``sql/exceptions_list.sql``, every row, oldest problem first) that ClickHouse formats
(``sql/exports_exceptions*.sql``) and hands over block by block: no row becomes a Python object,
so the export and the list cannot disagree and its speed is ClickHouse's. The queue's Memory
tables live while the stream runs and are dropped when it ends, is closed, or is abandoned.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from string import Template
from typing import Literal, get_args

from biztrace.config import AlertsConfig
from biztrace.config.replay import ExceptionKind
from biztrace.readmodel import exceptions, reconcile
from biztrace.readmodel.transactions import sql, transactions_query
from biztrace.store import Store

ExportFormat = Literal["csv", "json"]
ORDER = "oldest first"
"""The export's order: the list's (one of :data:`exceptions.SORTS`)."""
KINDS = get_args(ExceptionKind)
EXCEPTION_CSV_COLUMNS = [
    "process", "key", "kind", "stage", "system", "state", "since", "age_s", "priority", "channel",
    "opened_at", "acknowledged_by", "assignee", "resolved_by", "resolved_at", "resolution_s", "note", "postponed_until",
    "runbook", "amount", "currency", "detected", "evidence", "detail", "postponed_by", "comments",
]  # fmt: skip
"""The CSV export's header (``sql/exports_exceptions_csv.sql`` selects them in this order): the columns
of the first export, then the value, the evidence (span ids separated by spaces), the detail (JSON
text), who postponed it and how many comments it has."""
CHUNK = 1 << 16
"""Bytes handed over at a time."""
_EVERY_ROW = 2**62


def export_exceptions(
    store: Store,
    config: AlertsConfig,
    now: datetime,
    *,
    process: str | None = None,
    kind: str | None = None,
    state: exceptions.ExceptionState | None = None,
    fmt: ExportFormat = "csv",
    shared: bool = False,
) -> Iterator[bytes]:
    """Every row of the exception queue at ``now`` that :func:`exceptions.list_exceptions` lists for
    the same filters (without ``state``: the open and acknowledged ones), as CSV with a header
    (:data:`EXCEPTION_CSV_COLUMNS`) or as JSON lines (the fields of :class:`exceptions.ExceptionItem`).

    A generator: nothing runs until the first chunk is asked for (the header, or the first rows),
    and its queue tables are dropped when it is exhausted or closed (a client that went away).
    ``shared``: as for :func:`exceptions.queue`.
    """
    states = [state] if state else ["open", "acknowledged"]
    with exceptions.queue(store, config, now, process=process, shared=shared) as table:
        listed = Template(sql("exceptions_list")).substitute(order=exceptions.SORTS[ORDER])
        parameters = {"queue": table, "db": store.database, "now": now, "states": states,
                      "kinds": [kind] if kind else [], "stage": "", "min_age_s": -_EVERY_ROW, "limit": _EVERY_ROW,
                      "offset": 0} | _runbooks(config)  # fmt: skip
        unvalued = f"SELECT DISTINCT key FROM ({listed}) WHERE amount IS NULL"
        missing = [key for (key,) in store.client.query(unvalued, parameters=parameters).result_rows]
        with _values(store, config, now, missing) as values:
            rows = Template(sql("exports_exceptions")).substitute(
                listed=listed, values=values, order=exceptions.SORTS[ORDER]
            )
            query = Template(sql(f"exports_exceptions_{fmt}")).substitute(rows=rows)
            header = _csv_line(EXCEPTION_CSV_COLUMNS) if fmt == "csv" else b""
            yield from _stream(store, query, parameters, "CSV" if fmt == "csv" else "JSONEachRow", header)


@contextmanager
def _values(store: Store, config: AlertsConfig, now: datetime, keys: list[str]) -> Iterator[str]:
    """The values (``sql/transactions.sql``'s amount and currency) of the transactions of ``keys``
    in a Memory table while the block runs, quoted for SQL text; an empty subquery for no key."""
    if not keys:
        yield reconcile.NO_VALUES
        return
    query, parameters = transactions_query(store, config, now, keys=keys)  # as the list's values (_with_values)
    with store.memory_table(f"SELECT process, key, amount, currency FROM ({query})", parameters,
                            "biztrace_export_values") as table:  # fmt: skip
        yield store.table(table)


def _runbooks(config: AlertsConfig) -> dict[str, list[str]]:
    """``config.runbook(kind, process)`` as arrays ``sql/exports_exceptions.sql`` looks up: per
    ``process/kind`` pair configured, and per kind for any other process."""
    processes = set(config.processes) | {r.process for r in config.runbooks if r.process}
    kinds = set(KINDS) | {r.kind for r in config.runbooks}
    pairs = sorted((p, k) for p in processes for k in kinds)
    return {
        "runbook_pairs": [f"{p}/{k}" for p, k in pairs] or [""],
        "runbook_urls": [config.runbook(k, p) for p, k in pairs] or [""],
        "runbook_kinds": sorted(kinds),
        "runbook_any": [config.runbook(k, "\x00") for k in sorted(kinds)],
    }


def _csv_line(values: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode()


def _stream(store: Store, query: str, parameters: dict, fmt: str, header: bytes) -> Iterator[bytes]:
    """``query``'s rows as ClickHouse formats them (``fmt``), a chunk at a time, after ``header``.

    Read on a client of its own: a stream holds its client until it ends, and a slow download
    must not hold up the other readers of the store."""
    client = store.new_client()
    try:
        # JSON must be UTF-8: a key's bytes that are not (a producer's) are replaced; ClickHouse writes them as
        # they are unless told to check
        settings = {"output_format_json_validate_utf8": 1} if fmt.startswith("JSON") else None
        stream = client.raw_stream(query, parameters=parameters, fmt=fmt, settings=settings)
        try:
            if header:
                yield header
            while chunk := stream.read(CHUNK):
                yield chunk
        finally:
            stream.close()
    finally:
        client.close()
