"""The OCEL 2.0 JSON form: valid against the standard's schema, complete, consistent, readable by pm4py."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest

from biztrace.readmodel.ocel import EVENT_ATTRIBUTES, OBJECT_ATTRIBUTES, count_events, export_ocel

SCHEMA = Path(__file__).parent / "ocel20-schema-json.json"
"""The standard's JSON schema, copied unchanged (see SCHEMA_SOURCE.md)."""

WINDOW = "Timestamp >= '2026-11-01 00:00:00' AND Timestamp < '2026-11-21 00:00:00'"


@pytest.fixture(scope="module")
def log(exported) -> dict:
    return json.loads(exported["json"].read_text())


def test_the_log_is_valid_against_the_ocel_2_json_schema(log):
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()),
                                           format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)  # fmt: skip
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(log)]
    assert errors == []
    assert log["events"] and log["objects"]


def test_the_schema_copy_rejects_what_the_standard_rejects():
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()),
                                           format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)  # fmt: skip
    event = {"id": "e1", "type": "order.captured", "time": "2026-11-20T10:00:00Z"}
    good = {"eventTypes": [], "objectTypes": [], "events": [event], "objects": []}
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "events": [{**event, "time": "20 Nov 2026"}]})
    assert not validator.is_valid({**good, "events": [{**event, "attributes": [{"name": "amount", "value": 12.5}]}]})
    assert not validator.is_valid({key: value for key, value in good.items() if key != "objects"})


def test_every_relationship_points_at_an_object_in_the_log(log):
    objects = {o["id"] for o in log["objects"]}
    assert len(objects) == len(log["objects"])
    targets = [r["objectId"] for e in log["events"] for r in e["relationships"]]
    targets += [r["objectId"] for o in log["objects"] for r in o.get("relationships", [])]
    assert targets and set(targets) <= objects
    assert len({e["id"] for e in log["events"]}) == len(log["events"])


def test_objects_are_the_keys_of_the_store_by_type(log, simulated):
    by_type = Counter(o["type"] for o in log["objects"])
    orders = simulated.scalar(
        f"SELECT uniqExact(OrderId) FROM {{db:Identifier}}.biz_hops WHERE OrderId != '' AND {WINDOW}"
    )
    assert by_type["order"] == orders == simulated.truth.orders
    for kind, column in (("shipment", "ShipmentId"), ("invoice", "InvoiceId"), ("return", "ReturnId"),
                         ("customer", "CustomerId")):  # fmt: skip
        stored = simulated.scalar(f"SELECT uniqExact({column}) FROM {{db:Identifier}}.biz_hops WHERE {column} != ''")
        assert by_type[kind] == stored > 0, kind
    skus = simulated.scalar("SELECT uniqExact(arrayJoin(SkuIds)) FROM {db:Identifier}.biz_hops")
    assert by_type["sku"] == skus > 0
    assert by_type["return"] <= simulated.truth.returns


def test_events_are_the_stage_hops_typed_by_stage(log, simulated):
    stored = simulated.store.client.query(
        "SELECT Stage, count() FROM (SELECT Stage FROM {db:Identifier}.biz_hops FINAL WHERE Stage != '' "
        f"AND {WINDOW}) GROUP BY Stage",
        parameters={"db": simulated.store.database},
    ).result_rows
    assert Counter(e["type"] for e in log["events"]) == dict(stored)
    assert {"order.captured", "shipment.confirmed", "invoice.posted", "payment.received", "return.authorized",
            "customer.updated"} <= {t["name"] for t in log["eventTypes"]}  # fmt: skip
    times = [datetime.fromisoformat(e["time"]) for e in log["events"]]
    assert times == sorted(times)


def test_attributes_are_declared_with_their_types_and_values_read_as_those_types(log):
    declared = {t["name"]: {a["name"]: a["type"] for a in t["attributes"]} for t in log["eventTypes"]}
    for event in log["events"]:
        for attribute in event["attributes"]:
            kind = declared[event["type"]][attribute["name"]]
            assert kind == EVENT_ATTRIBUTES[attribute["name"]]
            if kind == "float":
                float(attribute["value"])
    captured = next(e for e in log["events"] if e["type"] == "order.captured")
    names = {a["name"] for a in captured["attributes"]}
    assert {"process", "system", "channel", "amount", "currency", "quantity", "status"} <= names
    failed = [e for e in log["events"] if any(a["name"] == "error_type" for a in e["attributes"])]
    assert failed, "the scenario's failed hops carry their error type"
    object_declared = {t["name"]: [a["name"] for a in t["attributes"]] for t in log["objectTypes"]}
    assert object_declared["order"] == list(OBJECT_ATTRIBUTES) and object_declared["sku"] == []


def test_object_attributes_are_time_stamped_changes(log):
    orders = [o for o in log["objects"] if o["type"] == "order"]
    statuses = {}
    for order in orders:
        changes = [(a["time"], a["value"]) for a in order["attributes"] if a["name"] == "status"]
        assert [t for t, _ in changes] == sorted(t for t, _ in changes)
        values = [v for _, v in changes]
        assert all(a != b for a, b in zip(values, values[1:], strict=False)), "only changes are kept"
        statuses[order["id"]] = values
    assert any(values[:3] == ["open", "routed", "accepted"] or values[:3] == ["closed_won", "routed", "accepted"]
               for values in statuses.values())  # fmt: skip
    paid = [o for o in log["objects"] if o["type"] == "invoice" and any(a["value"] == "paid" for a in o["attributes"])]
    assert paid, "a payment's status belongs to its invoice"


def test_object_to_object_relationships_follow_the_key_graph(log):
    objects = {o["id"]: o for o in log["objects"]}
    split = [o for o in objects.values() if o["type"] == "order"
             and sum(r["qualifier"] == "shipment" for r in o.get("relationships", [])) == 2]  # fmt: skip
    assert split, "a backordered order has two shipments"
    order = split[0]
    number = order["id"].removeprefix("order:O-")
    related = {(r["objectId"], r["qualifier"]) for r in order["relationships"]}
    assert {(f"shipment:SH-{number}-1", "shipment"), (f"shipment:SH-{number}-2", "shipment")} <= related
    assert sum(q == "customer" for _, q in related) == 1 and any(q == "sku" for _, q in related)
    shipment = objects[f"shipment:SH-{number}-1"]
    if f"invoice:INV-{number}-1" in objects:
        assert {"objectId": f"invoice:INV-{number}-1", "qualifier": "invoice"} in shipment["relationships"]
    returned = [o for o in objects.values() if o["type"] == "order"
                and any(r["qualifier"] == "return" for r in o.get("relationships", []))]  # fmt: skip
    assert returned, "a returned order links its return"


def test_a_window_holds_only_its_hops(simulated, tmp_path):
    path = tmp_path / "day.json"
    reported: Counter[str] = Counter()
    window = (datetime(2026, 11, 19), datetime(2026, 11, 20))
    summary = export_ocel(simulated.store, *window, path, lambda phase, rows: reported.update({phase: rows}))
    log = json.loads(path.read_text())
    assert reported == {"events": summary.events, "objects": summary.objects}
    assert count_events(simulated.store, *window) == summary.events
    assert summary.events == len(log["events"]) > 0
    assert all("2026-11-19T" <= e["time"] < "2026-11-20T" for e in log["events"])
    stored = simulated.scalar(
        "SELECT count() FROM {db:Identifier}.biz_hops FINAL WHERE Stage != '' "
        "AND Timestamp >= '2026-11-19 00:00:00' AND Timestamp < '2026-11-20 00:00:00'"
    )
    assert summary.events == stored
    assert summary.objects == len(log["objects"]) and summary.objects_by_type["order"] > 0


def test_an_empty_window_is_an_empty_valid_log(simulated, tmp_path):
    path = tmp_path / "empty.json"
    summary = export_ocel(simulated.store, datetime(2020, 1, 1), datetime(2020, 1, 2), path)
    log = json.loads(path.read_text())
    assert log == {"objectTypes": [], "eventTypes": [], "events": [], "objects": []}
    assert summary.events == summary.objects == 0


def test_pm4py_reads_the_log_back(exported, log):
    import pm4py

    ocel = pm4py.read_ocel2_json(str(exported["json"]))
    assert len(ocel.events) == len(log["events"])
    assert len(ocel.objects) == len(log["objects"])
    assert len(ocel.relations) == sum(len(e["relationships"]) for e in log["events"])
    assert len(ocel.o2o) == sum(len(o.get("relationships", [])) for o in log["objects"])
    assert dict(Counter(ocel.objects["ocel:type"])) == dict(Counter(o["type"] for o in log["objects"]))
    changes = sum(len(o["attributes"]) - len({a["name"] for a in o["attributes"]}) for o in log["objects"])
    assert len(ocel.object_changes) == changes
    amounts = ocel.events[ocel.events["ocel:activity"] == "order.captured"]["amount"]
    assert amounts.dtype.kind == "f" and amounts.notna().all()


@pytest.mark.parametrize("name", ["log.json", "log.sqlite"])
def test_a_refused_query_is_one_error_and_leaves_no_file(empty_store, tmp_path, name):
    from biztrace.readmodel.errors import QueryError

    with pytest.raises(QueryError, match="ClickHouse refused the export"):
        export_ocel(empty_store, datetime(2026, 11, 1), datetime(2026, 11, 2), tmp_path / name)
    assert list(tmp_path.iterdir()) == []
