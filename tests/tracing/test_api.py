"""The hop API: attributes from typed arguments, validation by mode, failures, helpers."""

from __future__ import annotations

import asyncio
import logging

import pytest
from opentelemetry.trace import StatusCode

from biztrace import tracing
from biztrace.tracing import HopFailure, HopValidationError, hop


def test_hop_sets_convention_attributes_and_name(spans):
    business = {"order_id": "O-1", "customer_id": "C-9", "sku_ids": ["S-1", "S-2"], "amount": 129.9,
                "currency": "EUR", "quantity": 3, "priority": "high", "event_id": "E-1"}  # fmt: skip
    with hop("order.accepted", system="erp", tracer=spans.tracer, **business):
        pass
    [span] = spans.finished()
    assert span.name == "erp.order.accepted"
    attributes = dict(span.attributes)
    assert attributes == {"biz.process": "order_to_cash", "biz.stage": "order.accepted", "biz.system": "erp",
                          "order.id": "O-1", "customer.id": "C-9", "sku.ids": ("S-1", "S-2"), "biz.amount": 129.9,
                          "biz.currency": "EUR", "biz.quantity": 3.0, "biz.priority": "high",
                          "biz.event_id": "E-1"}  # fmt: skip


def test_child_spans_carry_the_keys_through_baggage(spans):
    with hop("shipment.confirmed", system="wms", order_id="O-2", sku_ids=["S-9"], tracer=spans.tracer):
        with spans.tracer.start_as_current_span("carrier.http.call"):
            pass
    child = spans.named("carrier.http.call")
    assert child.attributes["order.id"] == "O-2" and child.attributes["sku.ids"] == ("S-9",)
    assert "biz.stage" not in child.attributes


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"order_id": ""}, "order_id: String should have at least 1 character"),
        ({"order_id": "  "}, "order_id: String should match pattern"),
        ({"order_id": "O-1", "quantity": -1}, "quantity"),
        ({"order_id": "O-1", "priority": "urgent"}, "priority"),
        ({"order_id": "O-1", "currency": "euro"}, "currency"),
    ],
)
def test_invalid_arguments_raise_in_development(spans, development, arguments, problem):
    arguments = {"stage": "order.accepted", **arguments}
    with pytest.raises(HopValidationError, match=problem.split(":")[0]) as error:
        with hop(tracer=spans.tracer, **arguments):
            pass
    assert problem.split(": ")[-1] in str(error.value)
    assert spans.finished() == ()


def test_invalid_arguments_only_warn_in_production(spans, caplog):
    with caplog.at_level(logging.WARNING, logger="biztrace.tracing.api"):
        with hop("order.accepted", system="erp", order_id="O-3", quantity=-5, tracer=spans.tracer):
            pass
    [span] = spans.finished()
    assert span.attributes["order.id"] == "O-3" and "biz.quantity" not in span.attributes
    assert "invalid attributes" in caplog.text and "quantity" in caplog.text


def test_registered_process_accepts_its_stages(spans, development):
    tracing.register_process("procure_to_pay", ["po.created", "goods.received"])
    with hop("goods.received", process="procure_to_pay", system="wms", order_id="PO-1", tracer=spans.tracer):
        pass
    with hop("po.created", system="erp", order_id="PO-1", tracer=spans.tracer):  # placed by its stage
        pass
    with pytest.raises(HopValidationError, match="is not a stage of procure_to_pay"):
        with hop("invoice.paid", process="procure_to_pay", order_id="PO-1", tracer=spans.tracer):
            pass
    with pytest.raises(HopValidationError, match="is not a configured process"):
        with hop("anything", process="unregistered_process", order_id="X-1", tracer=spans.tracer):
            pass
    assert [s.attributes["biz.process"] for s in spans.finished()] == ["procure_to_pay"] * 2


def test_exceptions_fail_the_hop_and_propagate(spans):
    with pytest.raises(HopFailure):
        with hop("order.accepted", system="erp", order_id="O-4", tracer=spans.tracer):
            raise HopFailure("credit_hold", "customer over limit")
    with pytest.raises(ZeroDivisionError):
        with hop("inventory.allocated", system="wms", order_id="O-4", tracer=spans.tracer):
            1 / 0  # noqa: B018
    held, divided = spans.finished()
    assert held.status.status_code == StatusCode.ERROR and held.attributes["error.type"] == "credit_hold"
    assert divided.attributes["error.type"] == "ZeroDivisionError"
    assert [event.name for event in divided.events] == ["exception"]


def test_helpers_mark_what_integration_code_does(spans):
    with hop("order.captured", system="edi", order_id="O-5", tracer=spans.tracer):
        tracing.mark_duplicate("E-850-1")
        tracing.mark_retry(2)
        tracing.record(amount=10.5, currency="USD", quantity=4, status="open")
    with hop("order.captured", system="middleware", order_id="O-5", tracer=spans.tracer):
        tracing.mark_dead_letter("schema mismatch")
        tracing.mark_mapping_failure("unknown UoM 'CS'")
    captured, parked = spans.finished()
    assert captured.attributes["biz.event_id"] == "E-850-1" and captured.attributes["biz.retry_attempt"] == 2
    assert captured.attributes["biz.amount"] == 10.5 and captured.attributes["biz.status"] == "open"
    assert parked.attributes["biz.dead_letter"] is True and parked.attributes["error.type"] == "mapping_failed"
    assert parked.status.status_code == StatusCode.ERROR


def test_caused_by_links_to_a_hop_of_another_trace(spans):
    with hop("order.captured", system="crm", order_id="O-6", tracer=spans.tracer) as first:
        headers: dict[str, str] = {}
        tracing.inject(headers)
    with hop("order.accepted", system="erp", order_id="O-6", caused_by=headers["traceparent"], tracer=spans.tracer):
        pass
    captured, accepted = spans.finished()
    [link] = accepted.links
    assert link.context.trace_id == first.get_span_context().trace_id
    assert accepted.context.trace_id != captured.context.trace_id


def test_decorator_sync_and_async(spans):
    @hop("payment.received", system="billing", order_id="O-7", tracer=spans.tracer)
    def pay(amount: float) -> float:
        return amount

    @hop("invoice.posted", system="erp", order_id="O-7", tracer=spans.tracer)
    async def post() -> str:
        return "posted"

    assert pay(5.0) == 5.0 and pay(6.0) == 6.0
    assert asyncio.run(post()) == "posted"
    assert [s.name for s in spans.finished()] == ["billing.payment.received"] * 2 + ["erp.invoice.posted"]


@pytest.mark.parametrize(
    "arguments",
    [
        {"order_id": "O-1", "customer_id": "C-1", "sku_ids": ["S-1"], "amount": 10, "quantity": 2, "status": "open",
         "event_id": "E-1", "invoice_id": "I-1", "shipment_id": "SH-1", "return_id": "R-1"},
        {"order_id": "O-2", "amount": -5.5, "quantity": 0.0},
    ],
)  # fmt: skip
def test_the_fast_path_gives_what_the_model_gives(arguments):
    from biztrace.tracing.api import _validated, checked

    call = {"stage": "order.accepted", "system": "erp", **arguments}
    _validated(dict(call))  # first call: the full model, and the static part is cached
    assert _validated(dict(call)) == checked(call)[0]


@pytest.mark.parametrize(
    "bad",
    [{"order_id": " "}, {"sku_ids": ["S", ""]}, {"quantity": -1}, {"amount": "ten"},
     {"order_id": 7}, {"colour": "red"}, {"quantity": float("nan")}, {"sku_ids": ["S", 5]}, {"status": 3}],
)  # fmt: skip
def test_the_fast_path_never_accepts_what_the_model_rejects(spans, development, bad):
    with hop("order.accepted", system="erp", order_id="O-1", tracer=spans.tracer):
        pass  # the static part is now cached
    with pytest.raises(HopValidationError):
        with hop("order.accepted", system="erp", tracer=spans.tracer, **{"order_id": "O-1", **bad}):
            pass


def test_children_inherit_keys_but_not_the_process(spans):
    with hop("order.accepted", system="erp", order_id="O-P", tracer=spans.tracer):
        with spans.tracer.start_as_current_span("http.retry"):
            pass
    child = spans.named("http.retry")
    assert child.attributes["order.id"] == "O-P" and "biz.process" not in child.attributes


def test_a_hop_is_current_inside_and_the_outer_span_is_restored_after(spans):
    from opentelemetry import trace

    with spans.tracer.start_as_current_span("outer") as outer:
        with pytest.raises(KeyError):
            with hop("order.accepted", system="erp", order_id="O-C", tracer=spans.tracer) as inner:
                assert trace.get_current_span() is inner
                raise KeyError("x")
        assert trace.get_current_span() is outer
    accepted = spans.named("erp.order.accepted")
    assert accepted.parent.span_id == outer.get_span_context().span_id and accepted.end_time is not None
    assert accepted.attributes["error.type"] == "KeyError"
