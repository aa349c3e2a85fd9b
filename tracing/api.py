"""``hop``: one integration step as a span with the business attributes, in two lines.

Example:
    with hop("order.accepted", system="erp", order_id="O-1182", amount=129.9, currency="EUR"):
        accept(order)

    @hop("shipment.confirmed", system="wms")
    def ship(order_id: str) -> None: ...

Arguments are validated by a pydantic model, and the stage against the configured processes
(``tracing.processes``: the server's YAML, or none). Without ``process=`` the hop is placed in
the one configured process that has its stage, or left for the server to place. An invalid
argument (an empty key, a negative quantity, a stage its process lacks) raises
:class:`HopValidationError` in development mode; in production mode it is logged as a warning,
the span records every valid attribute, and ``biztrace.dropped`` names what was left out. A
key, an amount, a quantity or a system is never dropped because another attribute is wrong;
instrumentation never crashes the host.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from opentelemetry import context, trace
from opentelemetry.trace import Link, SpanContext, Status, StatusCode
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from biztrace.tracing import conventions as c
from biztrace.tracing import processes
from biztrace.tracing.propagation import span_context_from_traceparent

logger = logging.getLogger(__name__)
TRACER_NAME = "biztrace.tracing"
MODE_ENV = processes.MODE_ENV
DROPPED = c.DROPPED


class HopValidationError(ValueError):
    """A hop's arguments break the conventions (raised in development mode only)."""


Key = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]
"""A business key: not empty, not blank (checked in pydantic's core, not in Python)."""


class HopAttributes(BaseModel):
    """The business attributes of one hop, as ``shared/CONVENTIONS.md`` defines them.

    Field aliases are the attribute names, so ``attributes()`` is one ``model_dump``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    stage: str | None = Field(None, min_length=1, serialization_alias=c.STAGE)
    process: str | None = Field(None, min_length=1, serialization_alias=c.PROCESS)
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

    def attributes(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


STATIC_FIELDS = ("stage", "process", "system", "channel", "priority", "currency")
"""Arguments that repeat from call to call at one call site: validated once per combination."""


_KEY, _SKUS, _AMOUNT, _COUNT, _TEXT = range(5)
_PER_CALL: dict[str, tuple[str, int]] = {
    "order_id": (c.ORDER_ID, _KEY), "customer_id": (c.CUSTOMER_ID, _KEY), "invoice_id": (c.INVOICE_ID, _KEY),
    "shipment_id": (c.SHIPMENT_ID, _KEY), "return_id": (c.RETURN_ID, _KEY), "event_id": (c.EVENT_ID, _KEY),
    "sku_ids": (c.SKU_IDS, _SKUS), "amount": (c.AMOUNT, _AMOUNT), "quantity": (c.QUANTITY, _COUNT),
    "status": (c.STATUS, _TEXT),
}  # fmt: skip
"""Arguments that change from call to call: the attribute each sets, and how it is checked."""
_STATIC = frozenset(STATIC_FIELDS)
_static_cache: dict[tuple | None, dict[str, Any]] = {}
_STATIC_CACHE_SIZE = 4096


def _fast(arguments: dict[str, Any], base: dict[str, Any]) -> dict[str, Any] | None:
    """The per-call values checked against exactly the model's constraints, or None to ask pydantic.

    Pydantic costs ~25 us a call here, a third of a span; valid calls skip it, and anything
    this does not accept goes through the model, which stays the authority on errors.
    """
    attributes = base.copy()
    for name, value in arguments.items():
        check = _PER_CALL.get(name)
        if check is None:
            if name in _STATIC:
                continue
            return None
        if value is None:
            continue
        attribute, kind = check
        kind_of = value.__class__
        if kind == _KEY:
            if kind_of is not str or not value or value.isspace():
                return None
        elif kind == _AMOUNT or kind == _COUNT:
            if kind_of is int:
                value = float(value)
            elif kind_of is not float:
                return None
            if kind == _COUNT and not value >= 0:  # NaN too: the model decides
                return None
        elif kind == _SKUS:
            if kind_of is not list:
                return None
            for item in value:
                if item.__class__ is not str or not item or item.isspace():
                    return None
        elif kind_of is not str:
            return None
        attributes[attribute] = value
    return attributes


def _validated(arguments: dict[str, Any]) -> dict[str, Any]:
    get = arguments.get
    static = (get("stage"), get("process"), get("system"), get("channel"), get("priority"), get("currency"))
    try:
        base = _static_cache.get(static)
    except TypeError:  # an unhashable value (a list for a system...): the model will say what is wrong
        base = static = None
    if base is not None:
        fast = _fast(arguments, base)
        if fast is not None:
            return fast
    attributes, problems, dropped = checked(arguments)
    if problems:
        return _invalid(arguments, attributes, problems, dropped)
    if static is not None and len(_static_cache) < _STATIC_CACHE_SIZE:
        _static_cache[static] = {k: v for k, v in attributes.items() if k in _STATIC_ATTRIBUTES}
    return attributes


_STATIC_ATTRIBUTES = frozenset(HopAttributes.model_fields[name].serialization_alias for name in STATIC_FIELDS)
processes.on_change(_static_cache.clear)


def checked(arguments: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[str]]:
    """A hop's valid attributes, its problems, and the names of the attributes left out.

    Each invalid argument is left out on its own; the others are all recorded. The process is
    the one given, or the configured process that has the stage (``processes.place``).
    """
    problems: list[str] = []
    dropped: list[str] = []
    kept = dict(arguments)
    model = None
    while model is None:
        try:
            model = HopAttributes(**kept)
        except ValidationError as exc:
            before = len(kept)
            for error in exc.errors():
                problems.append(f"{'.'.join(map(str, error['loc'])) or 'hop'}: {error['msg']}")
                name = str(error["loc"][0]) if error["loc"] else ""
                if name in kept:
                    del kept[name]
                    field = HopAttributes.model_fields.get(name)
                    dropped.append(field.serialization_alias if field is not None else name)  # type: ignore[arg-type]
            if len(kept) == before:  # cannot happen: every field is optional
                model = HopAttributes()
    attributes = model.attributes()
    given = attributes.get(c.PROCESS)
    process, problem = processes.place(attributes.get(c.STAGE), given)
    if problem is not None:
        problems.append(problem)
    if process is not None:
        attributes[c.PROCESS] = process
    elif given is not None:
        del attributes[c.PROCESS]
        dropped.append(c.PROCESS)
    return attributes, problems, dropped


def _invalid(arguments: dict[str, Any], attributes: dict[str, Any], problems: list[str],
             dropped: list[str]) -> dict[str, Any]:  # fmt: skip
    if processes.mode() == "development":
        raise HopValidationError(f"hop {arguments.get('stage')!r}: {'; '.join(problems)}")
    logger.warning("biztrace: hop %r has invalid attributes (%s); recording the valid ones%s",
                   arguments.get("stage"), "; ".join(problems),
                   f", not {', '.join(dropped)}" if dropped else "")  # fmt: skip
    if dropped:
        attributes[DROPPED] = dropped
    return attributes


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

    __slots__ = ("_arguments", "_name", "_links", "_caused_by", "_tracer", "_token", "span")

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
        business["stage"] = stage  # a fresh dict each call: no copy
        self._arguments = business
        self._name = name
        self._links = links
        self._caused_by = caused_by
        self._tracer = tracer
        self._token: object = None
        self.span: trace.Span | None = None

    def __enter__(self) -> trace.Span:
        attributes = _validated(self._arguments)
        name = self._name or f"{attributes.get(c.SYSTEM) or 'hop'}.{attributes.get(c.STAGE, 'hop')}"
        links = self._links
        if links or self._caused_by is not None:
            links = _links([*(links or ()), *([self._caused_by] if self._caused_by is not None else [])])
        tracer = self._tracer or trace.get_tracer(TRACER_NAME)
        # start_span and attach, not start_as_current_span: the same span and context, without
        # its two generator-based context managers (a tenth of a bare span's cost).
        self.span = span = tracer.start_span(name, attributes=attributes, links=links, record_exception=False,
                                             set_status_on_exception=False)  # fmt: skip
        self._token = context.attach(trace.set_span_in_context(span))
        return span

    def __exit__(self, exc_type, exc, tb) -> bool:
        span = self.span
        try:
            if exc is not None and span is not None:
                mark_failed(type(exc).__name__ if not isinstance(exc, HopFailure) else exc.error_type, str(exc),
                            span=span, exception=exc)  # fmt: skip
        finally:
            try:
                context.detach(self._token)  # type: ignore[arg-type]
            finally:
                if span is not None:
                    span.end()
        return False

    def __call__(self, function: Callable) -> Callable:
        """As a decorator: a new hop around every call (sync or async)."""
        arguments, name, links, caused_by, tracer = (self._arguments, self._name, self._links, self._caused_by,
                                                     self._tracer)  # fmt: skip

        def fresh() -> hop:
            return hop(name=name, links=links, caused_by=caused_by, tracer=tracer, **arguments)

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
