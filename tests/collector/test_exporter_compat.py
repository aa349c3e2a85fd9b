"""Compatibility with the OpenTelemetry Collector contrib ClickHouse exporter, both ways.

1. Rows biztrace writes equal what the exporter writes for the same OTLP spans (checked
   against an independent oracle of pcommon's AsString and the exporter's column mapping).
2. A table created from the exporter's published DDL, filled with the exporter's own
   22-column INSERT, feeds everything biztrace builds on top; and biztrace's own table
   accepts that INSERT and has the same columns and types.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from biztrace.collector import intake
from biztrace.collector.writer import Batch, ClickHouseWriter
from biztrace.readmodel.lookup import key_history
from biztrace.store import schema

from .otlp_reference import expected_row, go_float

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "otel-clickhouse-exporter-traces.sql"
INSERT_COLUMNS = list(schema.EXPORTER_INSERT_COLUMNS)


def _value(item: object) -> AnyValue:
    if isinstance(item, bool):
        return AnyValue(bool_value=item)
    if isinstance(item, int):
        return AnyValue(int_value=item)
    if isinstance(item, float):
        return AnyValue(double_value=item)
    if isinstance(item, bytes):
        return AnyValue(bytes_value=item)
    if isinstance(item, list):
        value = AnyValue()
        value.array_value.values.extend(_value(x) for x in item)
        return value
    if isinstance(item, dict):
        value = AnyValue()
        value.kvlist_value.values.extend(KeyValue(key=k, value=_value(v)) for k, v in item.items())
        return value
    if item is None:
        return AnyValue()
    return AnyValue(string_value=str(item))


EVERY_KIND = {
    "order.id": "O-1182",
    "s.special": 'a "quote" \\ back/slash <b>&amp; é ✓',
    "s.empty": "",
    "i.pos": 42,
    "i.neg": -7,
    "i.big": 9_007_199_254_740_993,
    "b.true": True,
    "b.false": False,
    "d.tenth": 0.1,
    "d.whole": 123456789.0,
    "d.big": 1e21,
    "d.tiny": 1e-7,
    "d.mid": 1e-6,
    "d.neg": -2.5,
    "d.precise": 3.141592653589793,
    "bytes": b"\x00\x01\xfe",
    "a.strings": ["SKU-1", "SKU-<2>"],
    "a.mixed": [1, "two", 3.5, True, None],
    "a.empty": [],
    "m.map": {"z": 1, "a": "x", "m": 0.25},
    "none": None,
}


def _request() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(
        [KeyValue(key="service.name", value=_value("erp")), KeyValue(key="host.cpus", value=_value(8))]
    )
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "erp-integration", "2.3.1"
    span = ss.spans.add()
    span.trace_id, span.span_id, span.parent_span_id = bytes(range(1, 17)), bytes(range(1, 9)), bytes(range(9, 17))
    span.trace_state = "vendor=1"
    span.name, span.kind = "erp.order.accept", 2
    span.start_time_unix_nano, span.end_time_unix_nano = 1_790_000_000_123_456_789, 1_790_000_001_000_000_000
    span.attributes.extend(KeyValue(key=k, value=_value(v)) for k, v in EVERY_KIND.items())
    span.status.code, span.status.message = 2, "credit hold"
    event = span.events.add()
    event.time_unix_nano, event.name = 1_790_000_000_500_000_000, "exception"
    event.attributes.extend([KeyValue(key="exception.type", value=_value("CreditHold")),
                             KeyValue(key="retry", value=_value(3))])  # fmt: skip
    link = span.links.add()
    link.trace_id, link.span_id, link.trace_state = bytes([9] * 16), bytes([8] * 8), "x=y"
    link.attributes.extend([KeyValue(key="link.kind", value=_value("caused_by")),
                            KeyValue(key="w", value=_value(0.5))])  # fmt: skip
    root = ss.spans.add()
    root.trace_id, root.span_id, root.name = bytes([3] * 16), bytes([4] * 8), "crm.capture"
    root.parent_span_id = bytes(8)  # all zero: the exporter writes ''
    root.start_time_unix_nano = root.end_time_unix_nano = 1_790_000_000_000_000_000
    return request


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def test_biztrace_rows_equal_the_exporter_rows(store):
    request = _request()
    ClickHouseWriter(store).write(Batch("compat-1", [intake.check(request, None)]))
    rows = {
        row["SpanId"]: row
        for row in store.client.query(
            f"SELECT {', '.join(f'`{c}`' for c in INSERT_COLUMNS)}, toUnixTimestamp64Nano(Timestamp) AS ts_ns, "
            "arrayMap(t -> toUnixTimestamp64Nano(t), `Events.Timestamp`) AS events_ns "
            f"FROM {store.table('otel_traces')}"
        ).named_results()
    }
    rs = request.resource_spans[0]
    ss = rs.scope_spans[0]
    assert len(rows) == 2
    for span in ss.spans:
        expected = expected_row(rs, ss, span)
        row = rows[expected["SpanId"]]
        assert row["ts_ns"] == expected.pop("Timestamp")
        assert list(row["events_ns"]) == expected.pop("Events.Timestamp")
        row.pop("Timestamp"), row.pop("Events.Timestamp")
        for column, value in expected.items():
            actual = row[column]
            if isinstance(value, list):
                actual = [dict(v) if isinstance(v, dict) else v for v in actual]
            assert actual == value, column


@pytest.mark.parametrize(
    ("value", "go"),
    [(1.0, "1"), (0.1, "0.1"), (1e21, "1e+21"), (1e20, "100000000000000000000"), (1e-7, "1e-7"), (1e-6, "0.000001"),
     (-0.0, "-0"), (123456789.0, "123456789"), (1.5e300, "1.5e+300"), (5e-324, "5e-324"), (float("inf"),
     "json: unsupported value: +Inf")],
)  # fmt: skip
def test_the_oracle_formats_doubles_like_go(value, go):
    assert go_float(value) == go


def _reference_ddl(database: str) -> list[str]:
    """Block [H] of the reference file: the exporter's DDL rendered for a database."""
    if not REFERENCE.exists():
        raise AssertionError(f"the exporter's reference DDL is missing: {REFERENCE}")
    text = REFERENCE.read_text()
    block = text[text.index("-- [H]") :]
    block = block[block.index("CREATE DATABASE") :]
    statements = [s.strip() for s in block.split(";") if s.strip().startswith("CREATE")]
    statements = [s for s in statements if not s.startswith("CREATE DATABASE")]
    return [re.sub(r"`otel`\.", f"`{database}`.", s) for s in statements]


def _exporter_insert(store, table: str, trace: str, span: str, attributes: dict[str, str]) -> None:
    # an hour ago: the exporter's reference DDL expires rows after 3 days, so a fixed date would age out
    at = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=1)
    row = [
        at, trace, span, "", "", "erp.order.accept", "Server", "erp",
        {"service.name": "erp"}, "scope", "1.0", attributes, 1_500_000, "Ok", "", [], [], [], [], [], [], [],
    ]  # fmt: skip
    store.client.insert(table, [row], column_names=INSERT_COLUMNS, database=store.database)


def test_exporter_created_table_feeds_biztrace(empty_store):
    store = empty_store
    for statement in _reference_ddl(store.database):
        store.client.command(statement)
    schema.apply(store, schema.SchemaOptions())  # on top of the exporter's own tables
    attributes = {"order.id": "O-77", "customer.id": "C-1", "sku.ids": '["SKU-1","SKU-2"]',
                  "biz.stage": "order.accepted", "biz.amount": "99.5"}  # fmt: skip
    _exporter_insert(store, "otel_traces", "a" * 32, "b" * 16, attributes)
    history = key_history(store, "O-77")
    assert [(h.stage, h.system, h.amount, h.status) for h in history.hops] == [("order.accepted", "erp", 99.5, "Ok")]
    assert key_history(store, "SKU-2").found
    lookup = store.client.command(f"SELECT count() FROM {store.table('otel_traces_trace_id_ts')}")
    assert int(lookup) == 1


def test_biztrace_table_accepts_the_exporter_insert_and_matches_its_columns(store, empty_store):
    _exporter_insert(store, "otel_traces", "c" * 32, "d" * 16, {"order.id": "O-88"})
    assert key_history(store, "O-88").found
    for statement in _reference_ddl(empty_store.database):
        empty_store.client.command(statement)

    def columns(s, table: str) -> list[tuple[str, str]]:
        return s.client.query(
            "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} "
            "ORDER BY position",
            parameters={"db": s.database, "t": table},
        ).result_rows

    for table in ("otel_traces", "otel_traces_trace_id_ts"):
        assert columns(store, table) == columns(empty_store, table), table
