"""The SQLite form's two writers: on an embedded store ClickHouse writes the objects' relationships and
attribute changes into a file beside the log (copied in at the end); on a server, Python writes every row.
Both must make the same log, whatever the producers put in their keys and values."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import timedelta

import pytest

from biztrace.readmodel.ocel import export_ocel
from biztrace.store import Store
from support import T0, Producers

from .conftest import SINCE, UNTIL

CONTROL = "\t\n\r\x08\x0c\x00\x01\x7f"
"""Control characters: ClickHouse's SQLite writer would turn the first six into backslash escapes."""
ODD = "-\\n\\'\"'é☃𝄞"
"""No control character, so ClickHouse writes it: a backslash before n and before a quote, quotes, non-ASCII."""


def _through_python(store: Store) -> Store:
    """The same store as a server is written to: every row bound from Python (no file beside the log)."""
    return Store(dataclasses.replace(store.address, embedded=False), store.client)


def _rows(path) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as db:
        db.text_factory = bytes  # compare the stored bytes, not what decoding makes of them
        tables = [name.decode() for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: sorted(db.execute(f'SELECT * FROM "{table}"'), key=repr) for table in tables}


def test_both_writers_make_the_same_log(simulated, tmp_path) -> None:
    if not simulated.store.address.embedded:
        pytest.skip("a server store has one writer (Python); the embedded run compares both")
    embedded, python = tmp_path / "by_clickhouse.sqlite", tmp_path / "by_python.sqlite"
    first = export_ocel(simulated.store, SINCE, UNTIL, embedded)
    second = export_ocel(_through_python(simulated.store), SINCE, UNTIL, python)
    assert first.model_dump(exclude={"output", "seconds"}) == second.model_dump(exclude={"output", "seconds"})
    assert first.object_object > 0 and first.objects > 0
    assert _rows(embedded) == _rows(python)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["by_clickhouse.sqlite", "by_python.sqlite"]


@pytest.fixture
def control_producers(start_collector) -> Producers:
    made = Producers(start_collector())
    yield made
    made.shutdown()


def test_keys_and_values_with_control_characters_arrive_as_sent(control_producers: Producers, tmp_path) -> None:
    p = control_producers
    order, customer, sku, status = f"SO{CONTROL}1", f"C\t{CONTROL}", f"SKU\n{CONTROL}", f"new{CONTROL}"
    captured = {"biz.stage": "order.captured", "biz.status": status, "biz.amount": 12.5}
    p.span("shop", "capture", 1, **{"order.id": order, "customer.id": customer, "sku.ids": [sku], **captured})
    p.span("shop", "capture", 2, **{"order.id": f"SO{ODD}", "customer.id": f"C{ODD}", "biz.stage": "order.captured",
                                    "biz.status": f"new{ODD}"})  # fmt: skip
    p.span("erp", "accept", 3, **{"order.id": order, "biz.stage": "order.accepted", "biz.status": "accepted"})
    store = p.flush()
    since, until = (T0 - timedelta(hours=1)).replace(tzinfo=None), (T0 + timedelta(hours=1)).replace(tzinfo=None)
    path = tmp_path / "control.sqlite"
    summary = export_ocel(store, since, until, path)
    with sqlite3.connect(path) as db:
        assert {row[0] for row in db.execute("SELECT ocel_id FROM object")} == {
            f"order:{order}", f"customer:{customer}", f"sku:{sku}", f"order:SO{ODD}", f"customer:C{ODD}"}  # fmt: skip
        targets = db.execute("SELECT ocel_target_id, ocel_qualifier FROM object_object WHERE ocel_source_id = ?",
                             (f"order:{order}",))  # fmt: skip
        assert set(targets) == {(f"customer:{customer}", "customer"), (f"sku:{sku}", "sku")}
        assert [r[0] for r in db.execute("SELECT status FROM object_order WHERE ocel_id = ? AND "
                                         "ocel_changed_field = 'status' ORDER BY ocel_time", (f"order:{order}",))] == [
            status, "accepted"]  # fmt: skip
        odd = db.execute("SELECT ocel_target_id FROM object_object WHERE ocel_source_id = ?", (f"order:SO{ODD}",))
        assert odd.fetchall() == [(f"customer:C{ODD}",)]
        assert db.execute("SELECT status FROM object_order WHERE ocel_id = ? AND ocel_changed_field = 'status'",
                          (f"order:SO{ODD}",)).fetchall() == [(f"new{ODD}",)]  # fmt: skip
        [[linked]] = db.execute("SELECT count() FROM event_object WHERE ocel_object_id = ?", (f"order:{order}",))
    assert linked == 2
    assert summary.object_object == 3  # the odd order's customer too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["control.sqlite"]
    python = tmp_path / "python.sqlite"
    export_ocel(_through_python(store), since, until, python)
    assert _rows(python) == _rows(path)
