"""The scorecard tests' ground truth: the orders of a small process, each customer on one hop only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from support import T0

CONFIG = """
processes:
  sc_orders:
    key: order.id
    stages:
      - name: sc.captured
      - name: sc.accepted
        system: erp
        sla: {within: 1h, by_customer: {C-ACME: 30m}, by_partner: {edi-gw: 2h}}
      - name: sc.shipped
        system: wms
        sla: {within: 4h}
    end_to_end: {within: 6h}
"""
NOW = T0 + timedelta(days=2)
"""The scorecards are asked at this time, for the day before it (and the day before that)."""
PERIOD = timedelta(days=1)


@dataclass
class Order:
    """One order as the producer sends it: (stage, minute after T0, system) per hop."""

    key: str
    customer: str
    hops: list[tuple[str, float, str]]
    amount: float
    currency: str = "EUR"
    customer_on: int = 0  # which hop carries customer.id (the others do not)
    failed_at: str = ""  # the stage whose hop fails
    duplicate: bool = False  # the capture is delivered twice (one event id)
    extra: dict = field(default_factory=dict)


N = (NOW - T0).total_seconds() / 60  # NOW in minutes after T0
ORDERS = [
    # the current period (started in the last day)
    Order(
        "O-1",
        "C-ACME",
        [("sc.captured", 1500, "edi-gw"), ("sc.accepted", 1540, "erp"), ("sc.shipped", 1600, "wms")],
        100.0,
        duplicate=True,
    ),  # accepted in 40 min: late by the 30 min contract, in time by the 1 h SLA
    Order(
        "O-2",
        "C-ACME",
        [("sc.captured", 1500, "web"), ("sc.accepted", 1520, "erp"), ("sc.shipped", 1900, "wms")],
        200.0,
        customer_on=2,
    ),  # shipped 380 min after acceptance: late
    Order(
        "O-3", "C-BETA", [("sc.captured", 1600, "edi-gw"), ("sc.accepted", 1700, "erp")], 300.0, "USD", customer_on=1
    ),  # accepted in 100 min: in time by edi-gw's 2 h; never shipped: stuck
    Order("O-4", "", [("sc.captured", 1700, "web"), ("sc.accepted", 1710, "erp")], 50.0, failed_at="sc.accepted"),
    Order("O-7", "C-ACME", [("sc.captured", N - 45, "web")], 70.0),  # 45 min without acceptance: stuck by contract
    # the previous period
    Order(
        "O-5",
        "C-ACME",
        [("sc.captured", 100, "web"), ("sc.accepted", 110, "erp"), ("sc.shipped", 200, "wms")],
        10.0,
        customer_on=1,
    ),
    Order(
        "O-6", "C-ACME", [("sc.captured", 200, "edi-gw"), ("sc.accepted", 300, "erp"), ("sc.shipped", 400, "wms")], 20.0
    ),  # accepted in 100 min: late by contract
]


def naive(at: datetime) -> datetime:
    return at.replace(tzinfo=None)
