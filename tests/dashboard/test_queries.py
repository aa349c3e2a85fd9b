"""What the pages ask, checked against the alerts' own functions on the same store."""

from __future__ import annotations

from biztrace import config as alerts_config
from biztrace.dashboard import data, queries
from biztrace.readmodel import exceptions as alert_exceptions


def test_an_orders_page_shows_the_same_exceptions_as_the_queue_even_when_found_by_shipment(populated) -> None:
    dsn, store = populated
    data.share_store(store)
    try:
        config = alerts_config.load()
        at = queries.now()
        queue = alert_exceptions.list_exceptions(store, config, at)
        mismatch = next(item for item in queue if item.kind == "mismatch")
        order = mismatch.key
        by_order = queries.order_view(config, order, at)
        assert {(i.kind, i.key) for i in by_order.exceptions} == {
            (i.kind, i.key) for i in alert_exceptions.list_exceptions(store, config, at,
                                                                      alert_exceptions.Filters(key=order))
        }  # fmt: skip
        shipment = next(hop.span_id for hop in by_order.history.hops if hop.stage == "shipment.confirmed")
        shipment_id = store.client.command(
            f"SELECT ShipmentId FROM {store.table('biz_hops')} WHERE SpanId = {{s:String}} LIMIT 1",
            parameters={"s": shipment},
        )
        by_shipment = queries.order_view(config, str(shipment_id), at)
        assert ("mismatch", order) in {(i.kind, i.key) for i in by_shipment.exceptions}
        assert [t.key for t in by_shipment.transactions] == [order]
    finally:
        data.share_store(None)


def test_prefix_search_lists_ids_of_every_kind_starting_with_the_text(populated) -> None:
    _, store = populated
    data.share_store(store)
    try:
        found = queries.search_keys("SH-", limit=5)
        assert len(found) == 5 and all(key.startswith("SH-") for key in found["key"])
        assert set(found["kind"]) == {"shipment"}
        assert queries.search_keys("NOTHING-LIKE-THIS").empty
    finally:
        data.share_store(None)


def test_the_queue_page_holds_what_the_alerts_list_sorted_and_paged_in_clickhouse(populated) -> None:
    _, store = populated
    data.share_store(store)
    try:
        config = alerts_config.load()
        at = queries.now()
        filters = queries.Filters(window="7d")
        expected = alert_exceptions.list_exceptions(store, config, at, since=filters.since(at))
        assert len(expected) > 12, "the simulator injected faults"
        whole = queries.exception_page(config, filters, at, page_size=10_000)
        assert whole.matching == len(expected) == len(whole.rows)
        assert list(zip(whole.rows["process"], whole.rows["key"], whole.rows["kind"], whole.rows["state"],
                        strict=True)) == [(i.process, i.key, i.kind, i.state) for i in expected]  # fmt: skip
        assert whole.count("open") + whole.count("acknowledged") == len(expected)
        first, second = (queries.exception_page(config, filters, at, page=n, page_size=5) for n in (0, 1))
        assert list(first.rows["key"]) + list(second.rows["key"]) == [i.key for i in expected[:10]]
        assert first.matching == len(expected)
        by_priority = queries.exception_page(config, filters, at, sort="priority, then age", page_size=10_000)
        ranks = by_priority.rows["priority"].map({"high": 0, "normal": 1, "low": 2}).fillna(3)
        assert ranks.is_monotonic_increasing and set(by_priority.rows["key"]) == set(whole.rows["key"])
        stuck = queries.exception_page(config, filters, at, kinds=("stuck",), page_size=10_000)
        assert stuck.matching == sum(1 for i in expected if i.kind == "stuck") == len(stuck.rows) > 0
    finally:
        data.share_store(None)


def test_a_resolved_exception_counts_in_the_resolution_kpis_and_leaves_the_open_queue(populated) -> None:
    _, store = populated
    data.share_store(store)
    try:
        config = alerts_config.load()
        filters = queries.Filters(window="7d")
        before = queries.exception_page(config, filters, queries.now(), page_size=1)
        process, key, kind = (before.rows.iloc[0][name] for name in ("process", "key", "kind"))
        queries.act_on_exception(config, (process, key, kind), "resolve", "tester", note="fixed")
        after = queries.exception_page(config, filters, queries.now(), states=("resolved",), page_size=100)
        resolved = set(zip(after.rows["process"], after.rows["key"], after.rows["kind"], strict=True))
        assert (process, key, kind) in resolved
        assert after.count("resolved") >= 1 and after.median_resolution_s is not None
        assert after.rows.loc[after.rows["key"] == key, "resolved_by"].iloc[0] == "tester"
        still_open = queries.exception_page(config, filters, queries.now(), page_size=10_000)
        assert key not in set(still_open.rows["key"][still_open.rows["kind"] == kind])
        assert still_open.count("open") + still_open.count("acknowledged") == before.matching - 1
    finally:
        data.share_store(None)


def test_the_warm_up_runs_every_pages_queries_and_stops_when_asked(populated, monkeypatch) -> None:
    from biztrace.dashboard.warmup import WarmUp

    _, store = populated
    data.share_store(store)
    try:
        warm = WarmUp().start()
        warm.stop()  # waits for the step under way: nothing runs after this returns
        assert len(warm.done) < 7
        finished = WarmUp().start()
        finished._thread.join(300)
        assert finished.done == ["dimensions", "overview", "order search", "reconciliation", "exception queue",
                                 "alerts", "process map"]  # fmt: skip
        failing = WarmUp(lambda: [("broken", lambda: 1 / 0), ("next", lambda: None)]).start()
        failing._thread.join(30)
        assert failing.done == ["next"], "a failed step is logged, and the others still run"
    finally:
        data.share_store(None)


def test_latency_percentiles_are_exact_the_same_on_every_read_and_by_placed_process(store) -> None:
    """The Overview's p50/p95 hop latency (and the process map's medians, the p95 rule: the same function) are
    the exact percentiles, interpolated between the two nearest durations, and the same every time they are
    read: ClickHouse's `quantile` samples 8,192 values at random beyond that many (seen moving the 7-day
    medians by 600 s between two reads of one store). Its process filter counts a hop that leaves out
    biz.process in the process its stage belongs to (it matched the raw attribute, and found nothing)."""
    import random
    from datetime import timedelta

    import pandas as pd

    rng = random.Random(11)
    at = queries.now()
    durations = [rng.randrange(1_000_000, 5_000_000_000) for _ in range(30_000)]  # ns: more than one reservoir
    store.client.insert(
        "biz_hops",
        [[at - timedelta(minutes=1 + n % 600), f"s{n}", f"O-{n % 97}", "", "order.accepted", "erp", d, "Unset"]
         for n, d in enumerate(durations)],
        column_names=["Timestamp", "SpanId", "OrderId", "Process", "Stage", "System", "Duration", "StatusCode"],
        database=store.database,
    )  # fmt: skip
    data.share_store(store)
    try:
        config = alerts_config.load()
        filters = queries.Filters(process="order_to_cash")
        reads = [queries.hop_latency(config, filters, at - timedelta(hours=24), at) for _ in range(3)]
    finally:
        data.share_store(None)
    assert reads[0].equals(reads[1]) and reads[0].equals(reads[2])
    [row] = reads[0].to_dict("records")
    exact = pd.Series(durations) / 1e6
    assert (row["system"], row["stage"], row["hops"]) == ("erp", "order.accepted", 30_000)
    assert abs(row["p50_ms"] - exact.quantile(0.5)) < 1e-6 and abs(row["p95_ms"] - exact.quantile(0.95)) < 1e-6


def test_the_overview_and_its_previous_period_side_by_side_equal_each_alone(populated) -> None:
    """Computed side by side (each on a lane's own client), the figures are those computed one after the other,
    and their time counts as the run's query time."""
    _, store = populated
    data.share_store(store)
    try:
        config, filters, at = alerts_config.load(), queries.Filters(window="7d"), queries.now()
        alone = queries.overview(config, filters, at), queries.previous_sla_trend(config, filters, at)
        data.reset_query_time()
        figures, previous = queries.overview_with_previous(config, filters, at)
        assert data.query_time() > 0
        assert figures.model_dump(exclude={"states", "sla", "trend", "latency", "sla_trend"}) == alone[0].model_dump(
            exclude={"states", "sla", "trend", "latency", "sla_trend"})  # fmt: skip
        for name in ("states", "sla", "trend", "latency", "sla_trend"):
            assert getattr(figures, name).equals(getattr(alone[0], name)), name
        assert previous.equals(alone[1])
    finally:
        data.share_store(None)


def test_each_call_side_by_side_reads_its_lanes_client(populated) -> None:
    _, store = populated
    data.share_store(store)
    try:

        def ask() -> int:
            data.store().client.command("SELECT sleepEachRow(0.05) FROM numbers(2) FORMAT Null")  # a call that lasts
            return id(data.store().client)

        seen = data.side_by_side([ask for _ in range(6)])
        assert 1 < len(set(seen)) and id(store.client) in seen
        assert data.store() is store  # outside the lanes, the shared store again
    finally:
        data.share_store(None)
