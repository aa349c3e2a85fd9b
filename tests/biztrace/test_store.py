"""The store's Memory tables built side by side (Store.create_memory_tables / memory_tables)."""

from __future__ import annotations

import pytest

from biztrace.store.connection import SIDE_BY_SIDE


def _tables(store, prefix: str) -> list[str]:
    return [name for (name,) in store.client.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND startsWith(name, {prefix:String})",
        parameters={"db": store.database, "prefix": prefix}).result_rows]  # fmt: skip


def test_each_statement_gets_its_own_table_in_order_and_all_are_dropped_after(empty_store):
    store = empty_store
    statements = [
        (f"SELECT number * {{factor:UInt32}} AS n FROM numbers({size})", {"factor": factor}, f"t_side_{size}")
        for size, factor in ((3, 1), (5, 10), (2, 100), (4, 1000))
    ]
    with store.memory_tables(statements) as names:
        assert [name.rsplit("_", 1)[0] for name in names] == ["t_side_3", "t_side_5", "t_side_2", "t_side_4"]
        contents = [[n for (n,) in store.client.query(f"SELECT n FROM {store.table(name)} ORDER BY n").result_rows]
                    for name in names]  # fmt: skip
        assert contents == [[0, 1, 2], [0, 10, 20, 30, 40], [0, 100], [0, 1000, 2000, 3000]]
    assert _tables(store, "t_side_") == []


def test_one_failing_statement_leaves_no_table_behind(empty_store):
    store = empty_store
    statements = [
        ("SELECT 1 AS n", {}, "t_ok_a"),
        ("SELECT n FROM table_that_is_not_there", {}, "t_bad"),
        ("SELECT 2 AS n", {}, "t_ok_b"),
    ]
    with pytest.raises(Exception, match="table_that_is_not_there"):
        store.create_memory_tables(statements)
    assert _tables(store, "t_ok_") == [] and _tables(store, "t_bad") == []
    store.client.command("SELECT 1")  # the store's own client still answers


def test_side_by_side_answers_in_the_calls_order_on_lanes_of_their_own(empty_store):
    store = empty_store
    clients = []

    def ask(n: int):
        def call(view):
            clients.append(id(view.client))
            view.client.command("SELECT sleepEachRow(0.05) FROM numbers(2) FORMAT Null")  # a call that lasts
            return int(view.client.command(f"SELECT sum(number) FROM numbers({n})"))

        return call

    assert store.side_by_side([ask(n) for n in (10, 100, 1000, 5)]) == [45, 4950, 499500, 10]
    assert 1 < len(set(clients)) <= SIDE_BY_SIDE and id(store.client) in clients


def test_side_by_side_raises_the_first_failure_after_every_call_ended(empty_store):
    store = empty_store
    ended = []

    def good(view):
        view.client.command("SELECT sleepEachRow(0.1) FROM numbers(3) FORMAT Null")
        ended.append("good")

    def bad(view):
        view.client.command("SELECT * FROM table_that_is_not_there")

    with pytest.raises(Exception, match="table_that_is_not_there"):
        store.side_by_side([bad, good, good])
    assert ended == ["good", "good"]
