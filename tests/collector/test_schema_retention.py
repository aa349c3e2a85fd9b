"""Retention set after creation: ``db init --ttl-days N`` on a store created without it."""

from __future__ import annotations

from biztrace.store import schema


def _ttl(store, table: str) -> str:
    query = store.client.command(
        "SELECT create_table_query FROM system.tables WHERE database = {db:String} AND name = {name:String}",
        parameters={"db": store.database, "name": table},
    )
    return query[query.index("TTL") :] if "TTL" in query else ""


def test_retention_is_applied_changed_and_idempotent(store):
    assert _ttl(store, "otel_traces") == ""
    assert schema.apply_retention(store, schema.SchemaOptions(ttl_days=30)) == [
        "otel_traces", "otel_traces_trace_id_ts", "biz_hops", "biz_keys", "biz_links"
    ]  # fmt: skip
    assert "toDateTime(Timestamp) + toIntervalDay(30)" in _ttl(store, "otel_traces")
    assert "toDateTime(Start) + toIntervalDay(30)" in _ttl(store, "otel_traces_trace_id_ts")
    assert schema.apply_retention(store, schema.SchemaOptions(ttl_days=30)) == []
    assert len(schema.apply_retention(store, schema.SchemaOptions(ttl_days=7))) == 5
    assert "toIntervalDay(7)" in _ttl(store, "biz_keys")
    assert schema.apply_retention(store, schema.SchemaOptions(ttl_days=0)) == []
    assert "toIntervalDay(7)" in _ttl(store, "biz_hops")
