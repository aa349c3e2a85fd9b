"""Inference on plain-SDK spans: a shared stage without biz.process is reported, not guessed; the
system comes from service.name."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from biztrace.config import loads
from biztrace.readmodel.placement import unplaced_hops
from biztrace.readmodel.transactions import transactions

SHARED = loads("""
processes:
  exchanges:
    key: return.id
    stages:
      - {name: return.authorized}
      - {name: exchange.shipped}
""")
"""returns and exchanges both declare return.authorized."""


def test_a_hop_of_a_stage_two_processes_share_is_reported_unless_it_names_its_process(producers: Any) -> None:
    p = producers
    p.span("portal", "authorize rma", 0, **{"return.id": "R-1", "biz.stage": "return.authorized"})  # which process?
    p.span("portal", "authorize rma", 1, **{"return.id": "R-2", "biz.stage": "return.authorized",
                                              "biz.process": "exchanges"})  # fmt: skip
    p.span("portal", "authorize rma", 2, **{"return.id": "R-3", "biz.stage": "return.authorized",
                                              "biz.process": "returns"})  # fmt: skip
    p.span("wms", "receive", 3, **{"return.id": "R-3", "biz.stage": "return.received"})  # only returns has it
    p.span("crm", "capture", 4, **{"order.id": "O-1", "biz.stage": "order.capturd"})  # a typo
    store = p.flush()
    report = unplaced_hops(store, SHARED, p.now, since=p.t0 - timedelta(days=1))
    assert (report.shared_stage_hops, report.unknown_stage_hops) == (1, 1)
    shared, unknown = report.stages
    assert (shared.reason, shared.stage, shared.processes) == (
        "shared_stage",
        "return.authorized",
        ["returns", "exchanges"],
    )
    assert [(e.trace_id != "", e.service, e.span_name, e.process) for e in shared.examples] == [
        (True, "portal", "authorize rma", "")]  # fmt: skip
    assert (unknown.reason, unknown.stage, unknown.examples[0].process) == (
        "unknown_stage",
        "order.capturd",
        "order_to_cash",
    )
    found = {(t.process, t.key): t.stages_reached for t in transactions(store, SHARED, p.now)}
    assert ("returns", "R-1") not in found and ("exchanges", "R-1") not in found  # not guessed
    assert found[("exchanges", "R-2")] == ["return.authorized"]
    assert found[("returns", "R-3")] == ["return.authorized", "return.received"]
    assert unplaced_hops(store, SHARED, p.now, since=p.t0 + timedelta(minutes=5)).stages == []  # the window


def test_the_system_of_a_hop_without_biz_system_is_its_service_name(producers: Any) -> None:
    p = producers
    p.span("shopfront-api", "capture", 0, **{"order.id": "O-7", "biz.stage": "order.captured"})
    p.span("sap-s4", "accept", 1, error=True, **{"order.id": "O-7", "biz.stage": "order.accepted",
                                                 "error.type": "credit_hold"})  # fmt: skip
    store = p.flush()
    [order] = transactions(store, loads("{}"), p.now)
    assert (order.first_system, order.state, order.trouble_system) == ("shopfront-api", "failed", "sap-s4")
