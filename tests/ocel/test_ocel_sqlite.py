"""The OCEL 2.0 SQLite form: the standard's relational tables, keys and references, read back by pm4py."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter

import pytest


@pytest.fixture(scope="module")
def db(exported):
    connection = sqlite3.connect(exported["sqlite"])
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def log(exported) -> dict:
    return json.loads(exported["json"].read_text())


def _columns(db, table: str) -> dict[str, tuple[str, int]]:
    """column -> (declared type, position in the primary key)."""
    return {row[1]: (row[2], row[5]) for row in db.execute(f"PRAGMA table_info({json.dumps(table)})")}


def _references(db, table: str) -> set[tuple[str, str, str]]:
    """(column, referenced table, referenced column)."""
    return {(row[3], row[2], row[4]) for row in db.execute(f"PRAGMA foreign_key_list({json.dumps(table)})")}


def test_the_type_independent_tables_have_the_standard_columns_keys_and_references(db):
    assert set(_columns(db, "event")) == {"ocel_id", "ocel_type"} and _columns(db, "event")["ocel_id"][1] == 1
    assert set(_columns(db, "object")) == {"ocel_id", "ocel_type"} and _columns(db, "object")["ocel_id"][1] == 1
    for table in ("event_map_type", "object_map_type"):
        assert set(_columns(db, table)) == {"ocel_type", "ocel_type_map"} and _columns(db, table)["ocel_type"][1] == 1
    e2o = _columns(db, "event_object")
    assert {name for name, (_, pk) in e2o.items() if pk} == {"ocel_event_id", "ocel_object_id", "ocel_qualifier"}
    o2o = _columns(db, "object_object")
    assert {name for name, (_, pk) in o2o.items() if pk} == {"ocel_source_id", "ocel_target_id", "ocel_qualifier"}
    assert _references(db, "event") == {("ocel_type", "event_map_type", "ocel_type")}
    assert _references(db, "object") == {("ocel_type", "object_map_type", "ocel_type")}
    assert _references(db, "event_object") == {("ocel_event_id", "event", "ocel_id"),
                                               ("ocel_object_id", "object", "ocel_id")}  # fmt: skip
    assert _references(db, "object_object") == {("ocel_source_id", "object", "ocel_id"),
                                                ("ocel_target_id", "object", "ocel_id")}  # fmt: skip


def test_there_is_one_table_per_type_and_no_other(db):
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    event_maps = dict(db.execute("SELECT ocel_type, ocel_type_map FROM event_map_type"))
    object_maps = dict(db.execute("SELECT ocel_type, ocel_type_map FROM object_map_type"))
    standard = {"event", "object", "event_object", "object_object", "event_map_type", "object_map_type"}
    assert tables == standard | {f"event_{m}" for m in event_maps.values()} | {
        f"object_{m}" for m in object_maps.values()
    }
    assert event_maps["order.captured"] == "order_captured"
    assert set(object_maps) == {"order", "shipment", "invoice", "return", "customer", "sku"}
    for mapped in event_maps.values():
        columns = _columns(db, f"event_{mapped}")
        assert columns["ocel_id"] == ("TEXT", 1) and columns["ocel_time"][0] == "TIMESTAMP"
        assert _references(db, f"event_{mapped}") == {("ocel_id", "event", "ocel_id")}
    for mapped in object_maps.values():
        columns = _columns(db, f"object_{mapped}")
        assert columns["ocel_time"][0] == "TIMESTAMP" and "ocel_changed_field" in columns
        assert _references(db, f"object_{mapped}") == {("ocel_id", "object", "ocel_id")}
    assert _columns(db, "object_order")["amount"][0] == "REAL"
    assert _columns(db, "event_order_captured")["amount"][0] == "REAL"


def test_the_rows_are_those_of_the_json_form(db, log):
    assert dict(db.execute("SELECT ocel_type, count() FROM event GROUP BY ocel_type")) == Counter(
        e["type"] for e in log["events"])  # fmt: skip
    assert dict(db.execute("SELECT ocel_type, count() FROM object GROUP BY ocel_type")) == Counter(
        o["type"] for o in log["objects"])  # fmt: skip
    [[e2o]] = db.execute("SELECT count() FROM event_object")
    assert e2o == sum(len(e["relationships"]) for e in log["events"])
    [[o2o]] = db.execute("SELECT count() FROM object_object")
    assert o2o == sum(len(o["relationships"]) for o in log["objects"])
    for kind, mapped in db.execute("SELECT ocel_type, ocel_type_map FROM event_map_type").fetchall():
        [[rows]] = db.execute(f'SELECT count() FROM "event_{mapped}" t JOIN event e USING (ocel_id) '
                              "WHERE e.ocel_type = ?", (kind,))  # fmt: skip
        assert rows == sum(e["type"] == kind for e in log["events"])
    [[changes]] = db.execute("SELECT count() FROM object_order WHERE ocel_changed_field IS NOT NULL")
    assert changes == sum(len(o["attributes"]) for o in log["objects"] if o["type"] == "order")


def test_every_relationship_and_typed_row_points_at_an_existing_row(db):
    for sql in (
        "SELECT count() FROM event_object WHERE ocel_object_id NOT IN (SELECT ocel_id FROM object)",
        "SELECT count() FROM event_object WHERE ocel_event_id NOT IN (SELECT ocel_id FROM event)",
        "SELECT count() FROM object_object WHERE ocel_source_id NOT IN (SELECT ocel_id FROM object)",
        "SELECT count() FROM object_object WHERE ocel_target_id NOT IN (SELECT ocel_id FROM object)",
        "SELECT count() FROM event WHERE ocel_type NOT IN (SELECT ocel_type FROM event_map_type)",
        "SELECT count() FROM object WHERE ocel_type NOT IN (SELECT ocel_type FROM object_map_type)",
    ):
        assert db.execute(sql).fetchone() == (0,), sql
    [[checked]] = db.execute("PRAGMA foreign_key_check").fetchall() or [[None]]
    assert checked is None


def test_object_changes_carry_typed_values(db):
    rows = db.execute("SELECT ocel_time, ocel_changed_field, status, amount FROM object_order "
                      "WHERE ocel_id = (SELECT min(ocel_id) FROM object WHERE ocel_type = 'order') "
                      "ORDER BY ocel_time").fetchall()  # fmt: skip
    assert rows[0][:2] == ("1970-01-01 00:00:00", None)
    amounts = [r for r in rows if r[1] == "amount"]
    assert amounts and all(isinstance(r[3], float) and r[2] is None for r in amounts)
    assert [r[2] for r in rows if r[1] == "status"][:2] in (["open", "routed"], ["closed_won", "routed"])


def test_pm4py_validates_and_reads_the_database_back(exported, log):
    import pm4py
    from pm4py.objects.ocel.validation import ocel20_rel_validation

    satisfied, unsatisfied = ocel20_rel_validation.apply(str(exported["sqlite"]))
    assert unsatisfied == [] and len(satisfied) == 24
    ocel = pm4py.read_ocel2_sqlite(str(exported["sqlite"]))
    assert len(ocel.events) == len(log["events"])
    assert len(ocel.objects) == len(log["objects"])
    assert len(ocel.relations) == sum(len(e["relationships"]) for e in log["events"])
    assert len(ocel.o2o) == sum(len(o["relationships"]) for o in log["objects"])
    assert len(ocel.object_changes) == sum(len(o["attributes"]) for o in log["objects"])


def test_progress_counts_what_the_database_holds(simulated, tmp_path):
    from datetime import datetime

    from biztrace.readmodel.ocel import export_ocel

    reported: Counter[str] = Counter()
    path = tmp_path / "day.sqlite"
    summary = export_ocel(simulated.store, datetime(2026, 11, 19), datetime(2026, 11, 20), path,
                          lambda phase, rows: reported.update({phase: rows}))  # fmt: skip
    with sqlite3.connect(path) as db:
        [[events]] = db.execute("SELECT count() FROM event")
        [[objects]] = db.execute("SELECT count() FROM object")
    assert reported == {"events": events, "objects": objects} == {"events": summary.events, "objects": summary.objects}
    assert events > 0
