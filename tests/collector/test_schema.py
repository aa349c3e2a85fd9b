"""Schema management: idempotent, versioned, upgradable, and the cluster DDL parses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from biztrace.store import schema


def test_apply_twice_is_a_no_op(empty_store):
    first = schema.apply(empty_store, schema.SchemaOptions())
    assert [m.version for m in first] == [m.version for m in schema.migrations()]
    assert schema.apply(empty_store, schema.SchemaOptions()) == []
    assert all(row.applied and row.checksum_matches for row in schema.status(empty_store, schema.SchemaOptions()))


def test_an_older_store_is_upgraded_in_place(empty_store):
    store = empty_store
    older = schema.migrations()[:3]
    schema._ensure_migrations_table(store, schema.SchemaOptions())
    for migration in older:
        for statement in schema.render(migration, schema.SchemaOptions(), store.database):
            store.client.command(statement)
        row = [migration.version, migration.name, migration.checksum, datetime(2026, 1, 1)]
        store.client.insert(schema.MIGRATIONS, [row], column_names=["version", "name", "checksum", "applied_at"],
                            database=store.database)  # fmt: skip
    store.client.command(
        f"INSERT INTO {store.table('otel_traces')} (Timestamp, TraceId, SpanId, SpanName, SpanAttributes) "
        "VALUES (now64(9), 'aaaa', 'bbbb', 'old.span', map('order.id', 'O-OLD'))"
    )
    pending = [row.version for row in schema.status(store, schema.SchemaOptions()) if not row.applied]
    assert pending == [m.version for m in schema.migrations()[3:]]
    applied = schema.apply(store, schema.SchemaOptions())
    assert [m.version for m in applied] == pending
    assert int(store.client.command(f"SELECT count() FROM {store.table('otel_traces')}")) == 1
    new_span = "INSERT INTO {t} (Timestamp, TraceId, SpanId, SpanName, SpanAttributes) VALUES " \
               "(now64(9), 'cccc', 'dddd', 'new.span', map('order.id', 'O-NEW'))"  # fmt: skip
    store.client.command(new_span.format(t=store.table("otel_traces")))
    # the hop of the span stored before the upgrade is derived by it; the new one is fed by the view
    assert int(store.client.command(f"SELECT count() FROM {store.table('biz_hops')}")) == 2


def test_cluster_ddl_uses_on_cluster_replicated_engines_and_ttl_and_parses(empty_store):
    options = schema.SchemaOptions(cluster="biztrace_cluster", replicated=True, ttl_days=30)
    statements = [s for m in schema.migrations() for s in schema.render(m, options, "biztrace")]
    creates = [s for s in statements if s.startswith("CREATE")]
    assert creates and all("ON CLUSTER `biztrace_cluster`" in s for s in creates)
    tables = [s for s in creates if s.startswith("CREATE TABLE") and "ENGINE = Null" not in s]
    assert all("ENGINE = Replicated" in s for s in tables)
    assert "ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')" in "".join(
        tables
    )
    assert all("non_replicated_deduplication_window" not in s for s in tables)
    spans = next(s for s in tables if "`biztrace`.otel_traces ON" in s)
    assert "TTL toDateTime(Timestamp) + toIntervalDay(30)" in spans
    for statement in statements:  # chDB cannot run ON CLUSTER without Keeper, but it parses it
        formatted = empty_store.client.command("SELECT formatQuery({q:String})", parameters={"q": statement})
        assert "CLUSTER" in str(formatted) or not statement.startswith("CREATE")


def test_rebuild_rederives_business_rows_a_crash_lost_and_is_repeatable(store):
    from datetime import timedelta

    from biztrace.readmodel.lookup import key_history

    at = datetime(2026, 11, 20, 10, 0)
    store.client.command(
        f"INSERT INTO {store.table('otel_traces')} (Timestamp, TraceId, SpanId, SpanName, ServiceName, SpanAttributes) "
        "VALUES ({at:DateTime64(9)}, 'ab', 'cd', 'wms.ship', 'wms', map('order.id', 'O-LOST', 'shipment.id', 'SH-9'))",
        parameters={"at": at},
    )
    store.client.command(f"TRUNCATE TABLE {store.table('biz_hops')}")  # as if the crash hit between the commits
    store.client.command(f"TRUNCATE TABLE {store.table('biz_keys')}")
    assert not key_history(store, "O-LOST").found
    for _ in range(2):
        schema.rebuild(store, at - timedelta(hours=1), at + timedelta(hours=1))
    store.client.command(f"OPTIMIZE TABLE {store.table('biz_hops')} FINAL")
    assert [h.system for h in key_history(store, "O-LOST").hops] == ["wms"]
    assert key_history(store, "SH-9").found
    assert int(store.client.command(f"SELECT count() FROM {store.table('biz_hops')}")) == 1


def test_repair_derives_only_the_business_rows_a_crash_left_missing(store):
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC).replace(tzinfo=None)
    store.client.command(
        f"INSERT INTO {store.table(schema.TRACES)} (Timestamp, TraceId, SpanId, SpanName, ServiceName, "
        "SpanAttributes, Duration, StatusCode) SELECT {t:DateTime64(9)} + toIntervalSecond(number), "
        "lower(hex(MD5(toString(number)))), substring(lower(hex(MD5(toString(number + 1000)))), 1, 16), 'wms.ship', "
        "'wms', if(number % 2 = 0, map('order.id', concat('O-', toString(number)), 'biz.stage', 'shipment.confirmed'),"
        " map('http.route', '/x')), 1000, 'Unset' FROM numbers(40)",
        parameters={"t": now},
    )
    assert store.client.command(f"SELECT count() FROM {store.table(schema.HOPS)}") == 20
    store.client.command(f"ALTER TABLE {store.table(schema.HOPS)} DELETE WHERE OrderId IN ('O-0', 'O-2', 'O-4') "
                         "SETTINGS mutations_sync = 2")  # fmt: skip
    assert store.client.command(f"SELECT count() FROM {store.table(schema.HOPS)}") == 17
    assert schema.repair(store, now - timedelta(hours=1))[schema.HOPS] == 3
    again = schema.repair(store, now - timedelta(hours=1))
    assert {schema.HOPS, schema.KEYS, schema.TRACE_ID_TS} <= set(again) and not any(again.values()), "no second copy"
    orders = store.client.query(f"SELECT OrderId FROM {store.table(schema.HOPS)} ORDER BY OrderId").result_rows
    assert sorted(o for (o,) in orders) == sorted(f"O-{n}" for n in range(0, 40, 2))


def _older(store, version: int):
    """``store`` as this version's migrations before ``version`` made it."""
    schema._ensure_migrations_table(store, schema.SchemaOptions())
    for migration in [m for m in schema.migrations() if m.version < version]:
        for statement in schema.render(migration, schema.SchemaOptions(), store.database):
            store.client.command(statement)
        row = [migration.version, migration.name, migration.checksum, datetime(2026, 1, 1)]
        store.client.insert(schema.MIGRATIONS, [row], column_names=["version", "name", "checksum", "applied_at"],
                            database=store.database)  # fmt: skip
    return store


def test_a_view_an_upgrade_adds_derives_what_the_store_already_holds(empty_store):
    store = _older(empty_store, 8)
    store.client.command(
        f"INSERT INTO {store.table('otel_traces')} (Timestamp, TraceId, SpanId, SpanName, SpanAttributes) "
        "VALUES (now64(9), 'aaaa', 'bbbb', 'wms.ship', map('order.id', 'O-OLD', 'shipment.id', 'SH-OLD'))"
    )
    assert int(store.client.command(f"SELECT count() FROM {store.table('biz_hops')}")) == 1
    schema.apply(store, schema.SchemaOptions())  # adds biz_links and its view (008)
    links = store.client.query(f"SELECT DISTINCT Key, Linked FROM {store.table('biz_links')} ORDER BY Key").result_rows
    assert links == [("O-OLD", "SH-OLD"), ("SH-OLD", "O-OLD")]
    schema.apply(store, schema.SchemaOptions())  # nothing pending: nothing derived twice
    assert int(store.client.command(f"SELECT count() FROM {store.table('biz_links')}")) == 2


def test_the_upgrade_to_a_key_row_per_order_derives_them_from_the_stored_hops(empty_store):
    """Migration 015 makes ``biz_keys`` again (a row per key and order, not per key and hop): an
    upgraded store's key rows are derived from the hops it holds, and its keys still find them."""
    from biztrace.readmodel.lookup import key_history

    store = _older(empty_store, 15)
    store.client.command(
        f"INSERT INTO {store.table('otel_traces')} (Timestamp, TraceId, SpanId, SpanName, SpanAttributes) "
        "SELECT now64(9) - toIntervalSecond(number), 'aaaa', toString(number), 'erp.step', "
        "map('order.id', 'O-OLD', 'customer.id', 'C-OLD') FROM numbers(5)"
    )
    assert int(store.client.command(f"SELECT count() FROM {store.table('biz_keys')}")) == 10  # per key and hop
    assert 15 in [m.version for m in schema.apply(store, schema.SchemaOptions())]
    store.client.command(f"OPTIMIZE TABLE {store.table('biz_keys')} FINAL")
    rows = store.client.query(f"SELECT Key, OrderId FROM {store.table('biz_keys')} ORDER BY Key").result_rows
    assert rows == [("C-OLD", "O-OLD"), ("O-OLD", "O-OLD")]
    assert len(key_history(store, "C-OLD").hops) == 5


def test_the_upgrade_that_stamps_exception_events_gives_the_stored_ones_its_time(empty_store):
    """Migration 016 adds ``Inserted`` (the server's clock when an event was written, which the loop's
    bookkeeping reads to find people's actions since its last pass): events stored before it get its time,
    and every later insert, naming the columns it always named, gets the server's clock."""
    store = _older(empty_store, 16)
    events = store.table(schema.EXCEPTION_EVENTS)
    insert = f"INSERT INTO {events} (At, Process, Key, Kind, Action, Actor) VALUES "
    store.client.command(insert + "('2026-01-01 00:00:00', 'order_to_cash', 'O-1', 'stuck', 'open', 'biztrace')")
    before = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(seconds=1)
    assert 16 in [m.version for m in schema.apply(store, schema.SchemaOptions())]
    store.client.command(insert + "('2026-01-02 00:00:00', 'order_to_cash', 'O-1', 'stuck', 'resolve', 'ann')")
    stamps = store.client.query(f"SELECT Action, Inserted FROM {events} ORDER BY At").result_rows
    assert [action for action, _ in stamps] == ["open", "resolve"]
    assert all(inserted >= before for _, inserted in stamps), stamps


def test_the_upgrade_that_marks_alert_updates_keeps_the_stored_alerts_as_transitions(empty_store):
    """Migration 017 adds ``Updated`` (a row that refreshes a firing alert's figures, not a transition): the
    alerts stored before it are transitions, listed in the history, their state's start where it was."""
    from biztrace.readmodel import alert_store

    store = _older(empty_store, 17)
    store.client.command(
        f"INSERT INTO {store.table(schema.ALERT_EVENTS)} (At, Rule, Fingerprint, Labels, State, Value, Transactions) "
        "VALUES ('2026-01-01 00:00:00', 'DeadLetters', 'f1', map('alertname', 'DeadLetters'), 'firing', 3, '[]')"
    )
    assert 17 in [m.version for m in schema.apply(store, schema.SchemaOptions())]
    [stored] = alert_store.current_alerts(store).values()
    assert (stored.alert.state, stored.alert.value, stored.since) == ("firing", 3, datetime(2026, 1, 1))
    assert [(row["State"], row["Value"]) for row in alert_store.history(store)] == [("firing", 3)]
