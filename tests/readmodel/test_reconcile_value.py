"""The transaction's value (CONVENTIONS "Machine-readable output"; issue 17 item 1) on spans with known amounts."""

from __future__ import annotations

from typing import Any

from biztrace.config import loads
from biztrace.readmodel.transactions import transactions

CONFIG = loads("{}")


def _span(p: Any, service: str, stage: str, minute: float, amount: float | None = None, currency: str = "EUR",
          error: bool = False, **keys: Any) -> None:  # fmt: skip
    attributes: dict[str, Any] = {"biz.stage": stage, **keys}
    if amount is not None:
        attributes |= {"biz.amount": amount, "biz.currency": currency}
    p.span(service, stage, minute, error=error, **attributes)


def _values(p: Any, config=CONFIG) -> dict[str, tuple[float | None, str]]:
    return {t.key: (t.amount, t.currency) for t in transactions(p.store, config, p.now)}


def test_an_orders_value_is_what_its_system_of_record_accepted(producers: Any) -> None:
    p = producers
    # captured at 120, the ERP accepted 110 (a discount), shipped and invoiced in parts
    _span(p, "shop", "order.captured", 0, 120.0, **{"order.id": "O-accepted"})
    _span(p, "erp", "order.accepted", 1, 110.0, **{"order.id": "O-accepted"})
    _span(p, "wms", "shipment.confirmed", 2, 60.0, **{"order.id": "O-accepted"})
    _span(p, "billing", "invoice.posted", 3, 60.0, **{"order.id": "O-accepted"})
    # not accepted yet: the first amount seen
    _span(p, "shop", "order.captured", 4, 75.5, "USD", **{"order.id": "O-captured"})
    # the ERP refused it (an error): no acceptance, so the first amount seen; then accepted on retry at 80
    _span(p, "shop", "order.captured", 5, 90.0, **{"order.id": "O-retried"})
    _span(p, "erp", "order.accepted", 6, 85.0, error=True, **{"order.id": "O-retried"})
    _span(p, "shop", "order.captured", 5, 90.0, **{"order.id": "O-refused"})
    _span(p, "erp", "order.accepted", 6, 85.0, error=True, **{"order.id": "O-refused"})
    _span(p, "erp", "order.accepted", 7, 80.0, **{"order.id": "O-retried"})
    # the acceptance was dead-lettered (parked, never accepted): the first amount seen
    _span(p, "shop", "order.captured", 5, 90.0, **{"order.id": "O-parked"})
    _span(p, "erp", "order.accepted", 6, 85.0, **{"order.id": "O-parked", "biz.dead_letter": True})
    # the acceptance carries no amount: the first amount seen
    _span(p, "shop", "order.captured", 8, 50.0, "JPY", **{"order.id": "O-no-amount"})
    _span(p, "erp", "order.accepted", 9, **{"order.id": "O-no-amount"})
    # nobody said an amount
    _span(p, "shop", "order.captured", 10, **{"order.id": "O-none"})
    # a return: what was credited, or before that the first amount seen (the authorization's)
    _span(p, "portal", "return.authorized", 11, 30.0, **{"return.id": "R-credited"})
    _span(p, "erp", "credit_memo.posted", 12, 25.0, **{"return.id": "R-credited"})
    _span(p, "portal", "return.authorized", 13, 30.0, **{"return.id": "R-open"})
    p.flush()
    assert _values(p) == {
        "O-accepted": (110.0, "EUR"), "O-captured": (75.5, "USD"), "O-retried": (80.0, "EUR"),
        "O-refused": (90.0, "EUR"), "O-parked": (90.0, "EUR"), "O-no-amount": (50.0, "JPY"), "O-none": (None, ""),
        "R-credited": (25.0, "EUR"), "R-open": (30.0, "EUR"),
    }  # fmt: skip


def test_the_value_stage_is_configuration(producers: Any) -> None:
    p = producers
    _span(p, "shop", "order.captured", 0, 120.0, **{"order.id": "O-1"})
    _span(p, "erp", "order.accepted", 1, 110.0, **{"order.id": "O-1"})
    _span(p, "billing", "invoice.posted", 2, 95.0, **{"order.id": "O-1"})
    p.flush()
    assert _values(p) == {"O-1": (110.0, "EUR")}
    by_invoice = loads("""
processes:
  order_to_cash:
    key: order.id
    value_stage: invoice.posted
    stages: [{name: order.captured}, {name: order.accepted}, {name: shipment.confirmed}, {name: invoice.posted}]
""")
    assert _values(p, by_invoice) == {"O-1": (95.0, "EUR")}
    no_stage = loads("""
processes:
  order_to_cash:
    key: order.id
    stages: [{name: order.captured}, {name: order.accepted}, {name: shipment.confirmed}, {name: invoice.posted}]
""")
    assert _values(p, no_stage) == {"O-1": (120.0, "EUR")}  # no value stage: the first amount seen


def test_a_value_stage_must_be_a_stage_of_its_process() -> None:
    import pytest

    from biztrace.config import ConfigError

    with pytest.raises(ConfigError, match="value_stage 'order.paid' is not one of its stages"):
        loads(
            "processes:\n  p:\n    key: order.id\n    value_stage: order.paid\n    stages: [{name: order.captured}]\n"
        )
