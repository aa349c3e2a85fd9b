"""Mapping by configuration on spans of existing instrumentation (plain SDK, HTTP route names, keys
under other attribute names), applied to data already stored."""

from __future__ import annotations

from typing import Any

import pytest

from biztrace.config import ConfigError, loads
from biztrace.readmodel import mapping
from biztrace.readmodel.lookup import key_history
from biztrace.readmodel.transactions import transactions

MAPPED = """
mappings:
  - when: {service: legacy-oms, span_name: CreateSalesOrder}
    set: {stage: order.captured}
    keys: {order.id: sales_order_number, customer.id: sold_to}
  - when: {service: legacy-oms, span_name: "POST /api/orders/{id}/ship"}
    set: {stage: shipment.confirmed, process: order_to_cash, system: oms-shipping}
    keys: {order.id: "{id}"}
  - when: {service: legacy-oms}
    keys: {order.id: sales_order_number}
"""


def _legacy(p: Any) -> None:
    """A legacy OMS that knows nothing of CONVENTIONS, and an ERP that follows them."""
    p.span("legacy-oms", "CreateSalesOrder", 0, sales_order_number="SO-1", sold_to="C-9")
    p.span("erp", "accept", 1, **{"order.id": "SO-1", "biz.stage": "order.accepted"})
    p.span("legacy-oms", "GET /api/orders/{id}", 2, sales_order_number="SO-1")  # a child step, mapped by service
    p.span("legacy-oms", "POST /api/orders/SO-1/ship", 3)
    p.span("legacy-oms", "healthcheck", 4)  # no key: stays out


def test_mapping_rules_apply_to_spans_already_stored(producers: Any) -> None:
    _legacy(producers)
    store = producers.flush()
    assert [t.key for t in transactions(store, loads("{}"), producers.now)] == ["SO-1"]  # the ERP hop alone
    before = transactions(store, loads("{}"), producers.now)[0]
    assert before.stages_reached == ["order.accepted"]
    config = loads(MAPPED)  # added after the spans were stored
    [order] = transactions(store, config, producers.now)
    assert order.stages_reached == ["order.captured", "order.accepted", "inventory.allocated"][:2] + [
        "shipment.confirmed"]  # fmt: skip
    assert (order.key, order.first_system, order.last_system, order.hops) == ("SO-1", "legacy-oms", "oms-shipping", 4)
    changed = loads(MAPPED.replace("stage: shipment.confirmed", "stage: inventory.allocated"))  # a rule corrected
    assert transactions(store, changed, producers.now)[0].current_stage == "inventory.allocated"


def test_a_lookup_with_the_configuration_shows_mapped_hops(producers: Any) -> None:
    _legacy(producers)
    store = producers.flush()
    assert [h.span_name for h in key_history(store, "SO-1").hops] == ["accept"]
    history = key_history(store, "SO-1", config=loads(MAPPED))
    assert [(h.span_name, h.stage, h.mapped) for h in history.hops] == [
        ("CreateSalesOrder", "order.captured", True),
        ("accept", "order.accepted", False),
        ("GET /api/orders/{id}", "", True),
        ("POST /api/orders/SO-1/ship", "shipment.confirmed", True),
    ]
    assert history.hops[0].customer_id == "C-9"
    # the mapped span links its customer and its order: a lookup by the customer shows the order's tree
    assert key_history(store, "C-9", config=loads(MAPPED)).hops == history.hops


def test_a_mapping_rule_is_validated_on_load() -> None:
    with pytest.raises(ConfigError, match=r"keys.order.id: \{nr\} is not a placeholder"):
        loads('mappings: [{when: {service: s, span_name: "POST /o/{id}"}, keys: {order.id: "{nr}"}}]')
    with pytest.raises(ConfigError, match="mappings.0.keys.sku.ids"):
        loads("mappings: [{when: {service: s}, keys: {sku.ids: x}}]")


def test_the_dashboard_sees_the_mapped_hops_as_the_rules_do(producers: Any) -> None:
    from datetime import timedelta

    from biztrace.dashboard import data, queries

    _legacy(producers)
    store = producers.flush()
    config = loads(MAPPED)
    data.share_store(store)
    try:
        with queries.snapshot(config, queries.Filters(), producers.now, since=producers.now - timedelta(days=7)) as t:
            shown = store.client.query(f"SELECT key, current_stage FROM {t}").result_rows
    finally:
        data.share_store(None)
    [order] = transactions(store, config, producers.now)
    assert shown == [(order.key, order.current_stage)] == [("SO-1", "shipment.confirmed")]


def test_the_order_command_shows_mapped_hops_with_the_configuration(producers: Any, tmp_path, capsys) -> None:
    import json

    from biztrace.cli import main
    from support import store_dsn

    _legacy(producers)
    store = producers.flush()
    dsn = store_dsn(store.address.path, store.database)
    config = tmp_path / "mapped.yaml"
    config.write_text(MAPPED)
    assert main(["order", "SO-1", "--store", dsn, "--json"]) == 0
    assert [h["span_name"] for h in json.loads(capsys.readouterr().out)["hops"]] == ["accept"]
    assert main(["order", "SO-1", "--store", dsn, "--json", "--config", str(config)]) == 0
    hops = json.loads(capsys.readouterr().out)["hops"]
    assert [(h["span_name"], h["stage"]) for h in hops][0] == ("CreateSalesOrder", "order.captured") and len(hops) == 4
    config.write_text("mappings: [{when: {service: x}, set: {stage: 7}}]\n")
    assert main(["order", "SO-1", "--store", dsn, "--config", str(config)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


LINKING = """
mappings:
  - when: {service: legacy-wms, span_name: ConfirmShipment}
    set: {stage: shipment.confirmed, process: order_to_cash}
    keys: {shipment.id: shipment_no, order.id: sales_order_number}
"""


def test_a_mapped_span_with_two_keys_links_them_in_the_key_graph(producers: Any) -> None:
    """Only the legacy WMS knows which order a shipment belongs to; the invoice names the shipment alone."""
    p = producers
    p.span("crm", "capture", 0, **{"order.id": "SO-7", "biz.stage": "order.captured"})
    p.span("legacy-wms", "ConfirmShipment", 1, shipment_no="SH-7", sales_order_number="SO-7")
    p.span("billing", "post", 2, **{"invoice.id": "INV-7", "shipment.id": "SH-7", "biz.stage": "invoice.posted"})
    store = p.flush()
    assert "SO-7" not in key_history(store, "INV-7").tree  # the stored graph alone: invoice - shipment
    config = loads(LINKING)
    history = key_history(store, "INV-7", config=config)
    assert {"INV-7", "SH-7", "SO-7"} <= set(history.tree)
    assert [h.span_name for h in history.hops] == ["capture", "ConfirmShipment", "post"]
    # the invoice hop carries no order id: it is placed on SO-7 through the mapped link, by key or in a pass
    [by_key] = transactions(store, config, producers.now, keys=["SO-7"])  # its tree reaches INV-7 through SH-7
    [every] = [t for t in transactions(store, config, producers.now) if t.key == "SO-7"]
    for order in (by_key, every):
        assert (order.key, order.stages_reached[-1]) == ("SO-7", "invoice.posted"), order


def test_the_mapped_spans_read_once_give_the_answers_the_rules_give_each_statement(producers: Any) -> None:
    """``mapping.materialized`` (the alert pass's): the rules applied once into a table that every statement
    of the block reads, in this thread and in the lanes of ``Store.side_by_side``; the same transactions,
    keyed and not, and the same key graph, as applying them in each statement."""
    p = producers
    _legacy(p)
    p.span("legacy-wms", "ConfirmShipment", 5, shipment_no="SH-1", sales_order_number="SO-1")
    p.span("billing", "post", 6, **{"invoice.id": "INV-1", "shipment.id": "SH-1", "biz.stage": "invoice.posted"})
    store = p.flush()
    config = loads(MAPPED + LINKING.split("mappings:\n", 1)[1])
    each = transactions(store, config, p.now)
    keyed = transactions(store, config, p.now, keys=["INV-1"])
    assert "FROM {db:Identifier}.otel_traces" in mapping.mapped_spans_sql(config)
    with mapping.materialized(store, config):
        read = mapping.mapped_spans_sql(config)
        assert "otel_traces" not in read and "biztrace_mapped_" in read  # the block's table
        assert store.client.command(f"EXISTS TABLE {store.table(read.rsplit('`', 2)[1])}")
        assert "otel_traces" in mapping.mapped_spans_sql(loads(MAPPED))  # other rules: applied as before
        assert transactions(store, config, p.now) == each
        assert transactions(store, config, p.now, keys=["INV-1"]) == keyed
        lanes = store.side_by_side([lambda s: mapping.mapped_spans_sql(config)] * 2)
        assert lanes == [read, read]
        # a span stored after the block began is read by the next block (the alert loop's next pass)
        p.span("legacy-oms", "POST /api/orders/SO-2/ship", 7)
        p.flush()
        assert "SO-2" not in {t.key for t in transactions(store, config, p.now)}
    assert "otel_traces" in mapping.mapped_spans_sql(config)
    table = read.rsplit("`", 2)[1]
    assert not store.client.command(f"EXISTS TABLE {store.table(table)}")  # dropped with the block
    with mapping.materialized(store, config):
        assert "SO-2" in {t.key for t in transactions(store, config, p.now)}
    assert [t for t in transactions(store, config, p.now) if t.key != "SO-2"] == each
