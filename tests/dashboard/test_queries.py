"""What the pages ask, checked against the alerts' own functions on the same store."""

from __future__ import annotations

from alerts import config as alerts_config
from alerts import exceptions as alert_exceptions
from dashboard import data, queries


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
