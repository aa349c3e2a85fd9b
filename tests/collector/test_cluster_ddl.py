"""The cluster layout's DDL: pinned by a golden file, and every statement parses in ClickHouse.

chDB cannot run ``ON CLUSTER`` without Keeper, but its parser is the server's: ``formatQuery``
rejects any statement a cluster would reject as a syntax error. Regenerate the golden file
after an intended change with ``BIZTRACE_UPDATE_GOLDEN=1 pytest tests/collector/test_cluster_ddl.py``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from biztrace.store import schema

GOLDEN = Path(__file__).parent / "golden" / "cluster_ddl.sql"
CLUSTER = schema.SchemaOptions(cluster="biztrace", distributed=True, ttl_days=30)


def _text(statements: list[str]) -> str:
    return ";\n\n".join(statements) + ";\n"


def test_the_cluster_ddl_matches_the_golden_file() -> None:
    text = _text(schema.plan(CLUSTER, "otel"))
    if os.environ.get("BIZTRACE_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "cluster DDL changed: review it, then regenerate the golden file"


def test_every_cluster_statement_parses(store) -> None:
    for statement in schema.plan(CLUSTER, "otel"):
        formatted = store.client.query("SELECT formatQuery({q:String})", parameters={"q": statement})
        assert formatted.result_rows[0][0].startswith(("CREATE", "ALTER", "DROP"))


def test_a_broken_statement_would_not_parse(store) -> None:
    from clickhouse_connect.driver.exceptions import DatabaseError

    broken = schema.plan(CLUSTER, "otel")[1].replace("ENGINE = ", "ENGINE = (", 1)
    with pytest.raises(DatabaseError, match="Syntax error"):
        store.client.query("SELECT formatQuery({q:String})", parameters={"q": broken})


def test_sharded_tables_are_local_replicas_behind_distributed_tables_with_the_readers_names() -> None:
    statements = schema.plan(CLUSTER, "otel")
    assert all(" ON CLUSTER `biztrace`" in s for s in statements)
    for table in schema.SHARDED:
        # the table as its last migration makes it (biz_keys: made again by 015)
        *_, local = [s for s in statements if s.startswith(f"CREATE TABLE IF NOT EXISTS `otel`.{table}_local ")]
        assert "ENGINE = Replicated" in local and "/clickhouse/tables/{shard}/" in local
        assert "TTL toDateTime(" in local
        *_, front = [s for s in statements if s.startswith(f"CREATE TABLE IF NOT EXISTS `otel`.{table} ")]
        assert f"AS `otel`.{table}_local" in front
        assert f"Distributed(`biztrace`, `otel`, {table}_local, {schema.SHARDING_KEYS[table]})" in front


def test_each_shard_derives_business_rows_from_its_own_spans_and_ingest_goes_through_the_distributed_table() -> None:
    views = {re.search(r"VIEW IF NOT EXISTS `otel`\.(\w+)", s).group(1): s
             for s in schema.plan(CLUSTER, "otel") if "MATERIALIZED VIEW" in s}  # fmt: skip
    assert "TO `otel`.otel_traces AS" in views["otlp_ingest_mv"], "ingest is sharded by the Distributed table"
    assert "TO `otel`.biz_hops_local AS" in views["biz_hops_mv"]
    assert "FROM `otel`.otel_traces_local" in views["biz_hops_mv"]
    assert "TO `otel`.biz_keys_local AS" in views["biz_keys_mv"]
    assert "FROM `otel`.biz_hops_local" in views["biz_keys_mv"]
    assert "FROM `otel`.otel_traces_local" in views["otel_traces_trace_id_ts_mv"]


def test_small_tables_are_replicated_to_every_node() -> None:
    for statement in schema.plan(CLUSTER, "otel"):
        name = re.search(r"CREATE TABLE IF NOT EXISTS `otel`\.(\w+)", statement)
        if name and name.group(1).startswith("biztrace_"):
            assert "/clickhouse/tables/all/" in statement and "Distributed" not in statement


def test_a_hop_written_through_the_distributed_table_goes_to_its_spans_shard(store) -> None:
    """``rebuild`` inserts hops through the Distributed ``biz_hops``: the shard its key picks must be
    the one the view filled from the span, or the rebuilt copy would not collapse with the original."""
    store.client.command(
        f"INSERT INTO {store.table(schema.TRACES)} (Timestamp, TraceId, SpanId, ServiceName, SpanAttributes) VALUES "
        "(now64(9), 'aa01', 's1', 'erp', {'order.id': 'O-1', 'biz.stage': 'order.accepted'}), "
        "(now64(9), 'aa02', 's2', 'crm', {'customer.id': 'C-1', 'biz.stage': 'customer.updated'}), "
        "(now64(9), 'aa03', 's3', 'wms', {'order.id': 'O-2', 'shipment.id': 'SH-1'})"
    )
    rows = store.client.query(
        f"SELECT s.SpanId, s.k, h.k FROM (SELECT SpanId, {schema.SHARDING_KEYS[schema.TRACES]} AS k "
        f"FROM {store.table(schema.TRACES)}) AS s JOIN (SELECT SpanId, {schema.SHARDING_KEYS[schema.HOPS]} AS k "
        f"FROM {store.table(schema.HOPS)}) AS h USING SpanId ORDER BY s.SpanId"
    ).result_rows
    assert [span_id for span_id, _, _ in rows] == ["s1", "s2", "s3"]
    assert all(span_key == hop_key for _, span_key, hop_key in rows), rows
    assert len({span_key for _, span_key, _ in rows}) == 3, "no order id: sharded by trace, not all to one shard"


def test_distributed_needs_a_cluster() -> None:
    with pytest.raises(ValueError, match="need a cluster name"):
        schema.SchemaOptions(distributed=True)


def test_single_node_plan_is_what_apply_creates(empty_store) -> None:
    schema.apply(empty_store, schema.SchemaOptions())
    planned = {
        re.search(r"(?:TABLE|VIEW) IF NOT EXISTS `[^`]+`\.(\w+)", s).group(1)
        for s in schema.plan(schema.SchemaOptions(), empty_store.database)
        if not s.startswith(("ALTER", "DROP"))  # a later migration's change to a table created before
    }
    created = {row[0] for row in empty_store.client.query(
        "SELECT name FROM system.tables WHERE database = {db:String}", parameters={"db": empty_store.database}
    ).result_rows}  # fmt: skip
    assert planned == created
    assert not any(name.endswith("_local") for name in created)
