"""What the simulator produces: volumes, time span, mix and fault rates (validated config)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field, field_validator

FAULT_KINDS = (
    "stuck",
    "failed",
    "dead_letter",
    "duplicate",
    "amount_mismatch",
    "quantity_mismatch",
    "missing_hop",
)
"""Faults the simulator can inject; each is recorded in the ground-truth file."""


class FaultRates(BaseModel):
    """Share of orders (0..1) that get each fault; an order gets at most one."""

    stuck: float = Field(0.02, ge=0, le=1, description="order stops after a stage and never moves on")
    failed: float = Field(0.01, ge=0, le=1, description="a hop ends in ERROR (credit hold, mapping failure, timeout)")
    dead_letter: float = Field(0.005, ge=0, le=1, description="middleware parks the message in a dead-letter queue")
    duplicate: float = Field(0.01, ge=0, le=1, description="a business event is delivered twice")
    amount_mismatch: float = Field(0.01, ge=0, le=1, description="invoice amount differs from what shipped")
    quantity_mismatch: float = Field(0.005, ge=0, le=1, description="invoiced quantity differs from shipped")
    missing_hop: float = Field(0.005, ge=0, le=1, description="invoiced, but the WMS never reported the shipment")

    def total(self) -> float:
        return sum(getattr(self, kind) for kind in FAULT_KINDS)


class Scenario(BaseModel):
    """One simulated stretch of a distributor's business."""

    seed: int = Field(1, description="same seed, same orders, ids and faults")
    days: float = Field(1.0, gt=0, le=366, description="days of history ending at `now`")
    orders_per_day: int = Field(2000, ge=1, description="orders captured per day")
    now: datetime = Field(default_factory=lambda: datetime.now(UTC), description="the simulation's present")
    customers: int = Field(500, ge=1, description="distinct customer accounts")
    skus: int = Field(2000, ge=1, description="distinct SKUs")
    return_rate: float = Field(0.03, ge=0, le=1, description="share of shipped orders returned")
    backorder_rate: float = Field(
        0.08, ge=0, le=1, description="share of orders with a backordered line (split shipment)"
    )
    substitution_rate: float = Field(
        0.03, ge=0, le=1, description="share of orders where the WMS ships a substitute SKU"
    )
    customer_updates_per_day: int = Field(50, ge=0, description="customer master changes per day")
    faults: FaultRates = Field(default_factory=FaultRates)
    varied: bool = Field(
        False,
        description="producers as varied as real ones (CONVENTIONS v2's minimum): no biz.process or biz.system "
        "(service.name carries the system), invoices posted by billing and returns received by the erp, keys "
        "linked on separate hops (invoice: invoice.id + shipment.id; payment: invoice.id; a return's later hops: "
        "return.id). Same orders, ids, times and faults",
    )

    @field_validator("now")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @field_validator("faults")
    @classmethod
    def _at_most_one_each(cls, value: FaultRates) -> FaultRates:
        if value.total() > 1:
            raise ValueError(
                f"fault rates add up to {value.total():.2f}; an order gets at most one fault, so keep them <= 1"
            )
        return value
