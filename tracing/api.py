"""``hop``: one integration step as a span with the business attributes, in two lines.

Example:
    with hop("order.accepted", system="erp", order_id="O-1182", amount=129.9, currency="EUR"):
        accept(order)

    @hop("shipment.confirmed", system="wms")
    def ship(order_id: str) -> None: ...

Arguments are validated by a pydantic model. An invalid one (an empty key, a negative
quantity, an unknown stage of a registered process) raises :class:`HopValidationError` in
development mode; in production mode it is logged as a warning and the span still opens
with the valid attributes — instrumentation never crashes the host.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, Status, StatusCode
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from biztrace.tracing import conventions as c
from biztrace.tracing.processes import stages_of
from biztrace.tracing.propagation import span_context_from_traceparent

logger = logging.getLogger(__name__)
TRACER_NAME = "biztrace.tracing"
MODE_ENV = "BIZTRACE_TRACING_MODE"


class HopValidationError(ValueError):
    """A hop's arguments break the conventions (raised in development mode only)."""


Key = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]
"""A business key: not empty, not blank (checked in pydantic's core, not in Python)."""


class HopAttributes(BaseModel):
    """The business attributes of one hop, as ``shared/CONVENTIONS.md`` defines them.

    Field aliases are the attribute names, so ``attributes()`` is one ``model_dump``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    stage: str = Field(min_length=1, serialization_alias=c.STAGE)
    process: str = Field("order_to_cash", min_length=1, serialization_alias=c.PROCESS)
    system: str | None = Field(None, serialization_alias=c.SYSTEM)
    order_id: Key | None = Field(None, serialization_alias=c.ORDER_ID)
    customer_id: Key | None = Field(None, serialization_alias=c.CUSTOMER_ID)
    sku_ids: list[Key] | None = Field(None, serialization_alias=c.SKU_IDS)
    invoice_id: Key | None = Field(None, serialization_alias=c.INVOICE_ID)
    shipment_id: Key | None = Field(None, serialization_alias=c.SHIPMENT_ID)
    return_id: Key | None = Field(None, serialization_alias=c.RETURN_ID)
    channel: str | None = Field(None, serialization_alias=c.CHANNEL)
    priority: Literal["high", "normal", "low"] | None = Field(None, serialization_alias=c.PRIORITY)
    amount: float | None = Field(None, serialization_alias=c.AMOUNT)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", serialization_alias=c.CURRENCY)
    quantity: float | None = Field(None, ge=0, serialization_alias=c.QUANTITY)
    status: str | None = Field(None, serialization_alias=c.STATUS)
    event_id: Key | None = Field(None, serialization_alias=c.EVENT_ID)

    @model_validator(mode="after")
    def _known_stage(self) -> HopAttributes:
        stages = stages_of(self.process)
        if stages is not None and self.stage not in stages:
            raise ValueError(f"stage {self.stage!r} is not a stage of {self.process} ({', '.join(stages)})")
        return self

    def attributes(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


def _mode() -> str:
    return os.environ.get(MODE_ENV, "production").lower()


STATIC_FIELDS = ("stage", "process", "system", "channel", "priority", "currency")
"""Arguments that repeat from call to call at one call site: validated once per combination."""


_KEY_ARGS = {"order_id": c.ORDER_ID, "customer_id": c.CUSTOMER_ID, "invoice_id": c.INVOICE_ID,
             "shipment_id": c.SHIPMENT_ID, "return_id": c.RETURN_ID, "event_id": c.EVENT_ID}  # fmt: skip
_static_cache: dict[tuple, dict[str, Any]] = {}
_STATIC_CACHE_SIZE = 4096


def _fast(arguments: dict[str, Any], base: dict[str, Any]) -> dict[str, Any] | None:
    """The per-call values checked against exactly the model's constraints, or None to ask pydantic.

    Pydantic costs ~25 us a call here, a third of a span; valid calls skip it, and anything
    this does not accept goes through the model, which stays the authority on errors.
    """
    attributes = dict(base)
    for name, value in arguments.items():
        if name in STATIC_FIELDS or value is None:
            continue
        key = _KEY_ARGS.get(name)
        if key is not None:
            if type(value) is not str or not value.strip():
                return None
            attributes[key] = value
        elif name == "sku_ids":
            if type(value) is not list or not all(type(v) is str and v.strip() for v in value):
                return None
            attributes[c.SKU_IDS] = value
        elif name in ("amount", "quantity"):
            if type(value) not in (int, float) or (name == "quantity" and value < 0):
                return None
            attributes[c.AMOUNT if name == "amount" else c.QUANTITY] = float(value)
        elif name == "status" and type(value) is str:
            attributes[c.STATUS] = value
        else:
            return None
    return attributes


def _validated(arguments: dict[str, Any]) -> dict[str, Any]:
    static = tuple(arguments.get(name) for name in STATIC_FIELDS)
    base = _static_cache.get(static)
    if base is not None:
        fast = _fast(arguments, base)
        if fast is not None:
            return fast
    try:
        attributes = HopAttributes(**arguments).attributes()
    except ValidationError as exc:
        return _invalid(arguments, exc)
    if len(_static_cache) < _STATIC_CACHE_SIZE:
        names = {HopAttributes.model_fields[name].serialization_alias for name in STATIC_FIELDS}
        _static_cache[static] = {k: v for k, v in attributes.items() if k in names}
    return attributes


def _invalid(arguments: dict[str, Any], exc: ValidationError) -> dict[str, Any]:
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'hop'}: {e['msg']}" for e in exc.errors())
    if _mode() == "development":
        raise HopValidationError(f"hop {arguments.get('stage')!r}: {problems}") from None
    logger.warning("biztrace: hop %r has invalid attributes (%s); recording the valid ones",
                   arguments.get("stage"), problems)  # fmt: skip
    bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
    kept = {k: v for k, v in arguments.items() if k not in bad}
    try:
        return HopAttributes(**kept).attributes()
    except ValidationError:
        return {c.STAGE: str(arguments.get("stage", "")), c.PROCESS: str(arguments.get("process", ""))}


class hop:  # noqa: N801 (used like a function: with hop(...), @hop(...))
    """Open a span for one integration step with its business attributes (see module doc).

    Args:
        stage: the milestone this hop reaches, e.g. ``order.accepted``.
        name: span name (default ``<system>.<stage>``).
        links / caused_by: the hop that caused this one in another trace (a SpanContext or a
            W3C traceparent string); links must be known when the span starts.
        tracer: the tracer to use (default: the global provider's).
        **business: process, system, order_id, customer_id, sku_ids, invoice_id, shipment_id,
            return_id, channel, priority, amount, currency, quantity, status, event_id.

    Child spans in this process inherit the keys (BusinessSpanProcessor); ``tracing.inject``
    carries them onward as baggage. Thread-safe; not reentrant (use a new ``hop`` per step).
    """

    def __init__(
        self,
        stage: str,
        *,
        name: str | None = None,
        links: Sequence[Link | SpanContext | str] | None = None,
        caused_by: SpanContext | str | None = None,
        tracer: trace.Tracer | None = None,
        **business: Any,
    ) -> None:
        self._arguments = {"stage": stage, **business}
        self._name = name
        self._links = list(links or []) + ([caused_by] if caused_by is not None else [])
        self._tracer = tracer
        self._scope: Any = None
        self.span: trace.Span | None = None

    def __enter__(self) -> trace.Span:
        attributes = _validated(self._arguments)
        system = attributes.get(c.SYSTEM) or "hop"
        name = self._name or f"{system}.{attributes.get(c.STAGE, 'hop')}"
        tracer = self._tracer or trace.get_tracer(TRACER_NAME)
        self._scope = tracer.start_as_current_span(
            name,
            attributes=attributes,
            links=_links(self._links) if self._links else None,
            record_exception=False,
            set_status_on_exception=False,
        )
        self.span = self._scope.__enter__()
        return self.span

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc is not None and self.span is not None:
                mark_failed(type(exc).__name__ if not isinstance(exc, HopFailure) else exc.error_type, str(exc),
                            span=self.span, exception=exc)  # fmt: skip
        finally:
            self._scope.__exit__(exc_type, exc, tb)
        return False

    def __call__(self, function: Callable) -> Callable:
        """As a decorator: a new hop around every call (sync or async)."""
        arguments, name, links, tracer = self._arguments, self._name, self._links, self._tracer

        def fresh() -> hop:
            return hop(name=name, links=links, tracer=tracer, **arguments)

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args, **kwargs):
                with fresh():
                    return await function(*args, **kwargs)

            return async_wrapper

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with fresh():
                return function(*args, **kwargs)

        return wrapper


def _links(items: Sequence[Link | SpanContext | str]) -> list[Link]:
    links = []
    for item in items:
        if isinstance(item, Link):
            links.append(item)
        elif isinstance(item, SpanContext):
            links.append(Link(item))
        else:
            found = span_context_from_traceparent(str(item))
            if found is not None:
                links.append(Link(found))
            else:
                logger.warning("biztrace: %r is not a W3C traceparent; link dropped", item)
    return links


class HopFailure(Exception):
    """Raise inside a hop to fail it with an OpenTelemetry ``error.type`` (e.g. credit_hold)."""

    def __init__(self, error_type: str, message: str = "") -> None:
        super().__init__(message or error_type)
        self.error_type = error_type


def _current(span: trace.Span | None) -> trace.Span:
    return span if span is not None else trace.get_current_span()


def mark_failed(error_type: str, message: str = "", *, span: trace.Span | None = None,
                exception: BaseException | None = None) -> None:  # fmt: skip
    """Fail the hop: status ERROR and ``error.type`` (mapping_failed, credit_hold, timeout ...)."""
    target = _current(span)
    target.set_attribute(c.ERROR_TYPE, error_type)
    target.set_status(Status(StatusCode.ERROR, message or error_type))
    if exception is not None:
        target.record_exception(exception)


def mark_duplicate(event_id: str | None = None, *, span: trace.Span | None = None) -> None:
    """This delivery repeats an event already processed (same ``biz.event_id``)."""
    target = _current(span)
    if event_id:
        target.set_attribute(c.EVENT_ID, event_id)
    target.set_attribute("biz.duplicate", True)
    target.add_event("duplicate_delivery", {c.EVENT_ID: event_id or ""})


def mark_retry(attempt: int, *, span: trace.Span | None = None) -> None:
    """This is retry number ``attempt`` of the step."""
    _current(span).set_attribute("biz.retry_attempt", attempt)


def mark_dead_letter(reason: str, *, span: trace.Span | None = None) -> None:
    """The hop gave up and parked the message in a dead-letter queue."""
    target = _current(span)
    target.set_attribute(c.DEAD_LETTER, True)
    target.add_event("dead_lettered", {"reason": reason})


def mark_mapping_failure(detail: str, *, span: trace.Span | None = None) -> None:
    """The message could not be mapped between systems' formats."""
    mark_failed("mapping_failed", detail, span=span)


def record(*, amount: float | None = None, currency: str | None = None, quantity: float | None = None,
           status: str | None = None, span: trace.Span | None = None) -> None:  # fmt: skip
    """Record what this system says about the entity now (amount, quantity, status)."""
    target = _current(span)
    for key, value in ((c.AMOUNT, amount), (c.CURRENCY, currency), (c.QUANTITY, quantity), (c.STATUS, status)):
        if value is not None:
            target.set_attribute(key, value)


def link_to(span_context: SpanContext | str, *, span: trace.Span | None = None) -> None:
    """Record the causing hop of another trace on a running span (as an event with its ids).

    Prefer ``hop(..., caused_by=...)``: real links must be known when the span starts.
    """
    found = span_context if isinstance(span_context, SpanContext) else span_context_from_traceparent(span_context)
    if found is None:
        logger.warning("biztrace: %r is not a W3C traceparent; link dropped", span_context)
        return
    _current(span).add_event("caused_by", {"trace_id": format(found.trace_id, "032x"),
                                           "span_id": format(found.span_id, "016x")})  # fmt: skip
