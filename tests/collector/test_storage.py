"""Storage (issue 18): the codecs the migrations declare, on new stores and on stores created
with older ones, and what a span costs on disk with them."""

from __future__ import annotations

import re
from datetime import datetime

from biztrace.store import schema

SPANS = 60_000

FILL = """
INSERT INTO {db:Identifier}.otel_traces
    (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, ResourceAttributes, ScopeName,
     SpanAttributes, Duration, StatusCode)
SELECT
    toDateTime64('2026-10-01 00:00:00', 9) + toIntervalSecond(order * 13 + hop * 1700) AS Timestamp,
    lower(hex(MD5(toString(order * 10 + intDiv(hop, 5))))) AS TraceId,
    substring(lower(hex(MD5(toString(n)))), 1, 16) AS SpanId,
    if(hop % 5 = 0, '', substring(lower(hex(MD5(toString(n - 1)))), 1, 16)) AS ParentSpanId,
    concat(system, '.', if(stage = '', 'step', stage)) AS SpanName, 'Internal' AS SpanKind, system AS ServiceName,
    map('service.name', system, 'deployment.environment', 'prod', 'host.name', concat(system, '-01')),
    'test' AS ScopeName,
    mapFilter((k, v) -> v != '', map(
        'order.id', concat('O-', toString(order)), 'customer.id', concat('C-', toString(order % 500)),
        'sku.ids', concat('["SKU-', toString(order % 200), '","SKU-', toString((order * 7) % 200), '"]'),
        'biz.process', 'order_to_cash', 'biz.stage', stage, 'biz.system', system,
        'biz.amount', toString(order % 1000 + 0.5), 'biz.currency', 'EUR', 'biz.quantity', toString(hop % 9 + 1),
        'biz.event_id', if(stage = '', '', concat('O-', toString(order), ':', stage)), 'http.status_code', '200')),
    toUInt64(1000000 + (n % 997) * 100000) AS Duration,
    if(n % 500 = 0, 'Error', 'Unset') AS StatusCode
FROM (
    SELECT number AS n, intDiv(number, 30) AS order, number % 30 AS hop,
           ['crm','erp','wms','wms','billing','middleware'][hop % 6 + 1] AS system,
           if(hop % 5 = 0, ['order.captured','order.accepted','inventory.allocated','shipment.confirmed',
                            'invoice.posted','payment.received'][intDiv(hop, 5) + 1], '') AS stage
    FROM numbers({rows:UInt64})
)
"""
"""Orders of 30 spans over 6 traces, as bench/lookup.py generates them (smaller)."""


def _bytes_per_span(store, table: str) -> float:
    store.client.command(f"OPTIMIZE TABLE {store.table(table)} FINAL")
    compressed = store.client.command(
        "SELECT sum(data_compressed_bytes) FROM system.parts WHERE active AND database = {db:String} "
        "AND table = {t:String}",
        parameters={"db": store.database, "t": table},
    )
    return int(compressed) / SPANS


def _codecs(store) -> dict[tuple[str, str], str]:
    rows = store.client.query(
        "SELECT table, name, compression_codec FROM system.columns WHERE database = {db:String}",
        parameters={"db": store.database},
    ).result_rows
    return {(table, column): codec for table, column, codec in rows}


def test_a_new_store_has_the_codecs_the_migrations_declare(store) -> None:
    have = _codecs(store)
    declared = schema.codecs(schema.SchemaOptions(), store.database)
    assert declared[schema.TRACES]["SpanAttributes"] == "CODEC(ZSTD(6))"
    for table, columns in declared.items():
        for column, codec in columns.items():
            assert have[(table, column)] == codec, (table, column)
    assert schema.apply_codecs(store, schema.SchemaOptions()) == [], "nothing to reconcile on a new store"


def test_a_store_created_with_older_codecs_gets_the_new_ones_and_keeps_its_data(empty_store) -> None:
    store = empty_store
    schema._ensure_migrations_table(store, schema.SchemaOptions())
    for migration in schema.migrations():  # every migration as it was before the codecs changed: ZSTD(1) everywhere
        for statement in schema.render(migration, schema.SchemaOptions(), store.database):
            store.client.command(re.sub(r"CODEC\((?:[^()]|\([^()]*\))*\)", "CODEC(ZSTD(1))", statement))
        checksum = next(iter(schema.RECODED.get(migration.version, {migration.checksum})))
        row = [migration.version, migration.name, checksum, datetime(2026, 1, 1)]
        columns = ["version", "name", "checksum", "applied_at"]
        store.client.insert(schema.MIGRATIONS, [row], column_names=columns, database=store.database)
    store.client.command(FILL, parameters={"db": store.database, "rows": 3000})
    assert _codecs(store)[(schema.TRACES, "SpanAttributes")] == "CODEC(ZSTD(1))"

    assert schema.apply(store, schema.SchemaOptions()) == []
    have = _codecs(store)
    for table, columns in schema.codecs(schema.SchemaOptions(), store.database).items():
        for column, codec in columns.items():
            assert have[(table, column)] == codec, (table, column)
    assert all(row.checksum_matches for row in schema.status(store, schema.SchemaOptions())), "not a changed file"
    store.client.command(f"OPTIMIZE TABLE {store.table(schema.HOPS)} FINAL")  # old parts rewritten with new codecs
    assert int(store.client.command(f"SELECT count() FROM {store.table(schema.HOPS)}")) == 3000
    assert schema.apply_codecs(store, schema.SchemaOptions()) == [], "the second pass changes nothing"


def test_the_cluster_layout_declares_the_codecs_on_the_local_tables() -> None:
    declared = schema.codecs(schema.SchemaOptions(cluster="biztrace", distributed=True), "otel")
    assert declared[schema.local(schema.TRACES)]["SpanAttributes"] == "CODEC(ZSTD(6))"
    assert schema.TRACES not in declared, "the Distributed table holds no data"


def test_a_span_and_its_business_rows_cost_what_the_codecs_promise(store) -> None:
    """Generated orders (every span a hop with order, customer and two SKUs): before issue 18's
    codecs the raw table took 46.3 B/span here and all five tables 112.5; with them 36.9 and 97.9."""
    store.client.command(FILL, parameters={"db": store.database, "rows": SPANS})
    per_table = {table: _bytes_per_span(store, table) for table in schema.SHARDED}
    assert per_table[schema.TRACES] < 40, per_table
    assert sum(per_table.values()) < 104, per_table


def test_a_columns_table_holds_what_was_given_for_its_block_only(store) -> None:
    """Store.columns_table: values inserted natively (quotes, unicode and 25,000 rows as given), dropped after."""
    keys = [f"O-{n}" for n in range(25_000)] + ["it's", "Ölfeld ✓", ""]
    with store.columns_table({"rule": "UInt16", "key": "String"}, [[n % 3 for n in range(len(keys))], keys]) as name:
        read = store.client.query(f"SELECT rule, key FROM {store.table(name)} ORDER BY rule, key").result_rows
        assert sorted(read) == sorted((n % 3, key) for n, key in enumerate(keys))
    assert not int(store.client.command(f"EXISTS TABLE {store.table(name)}"))
    with store.columns_table({"key": "String"}, [[]]) as empty:
        assert int(store.client.command(f"SELECT count() FROM {store.table(empty)}")) == 0
