"""Drive a simulation: backfill history over OTLP/HTTP, then optionally go on live.

Backfill builds OTLP requests directly and sends every hop up to ``now``. Live mode goes
through the real OpenTelemetry SDK exporters (one provider per system, as each system runs
its own SDK): it sends the later hops of backfilled orders when their time comes, and the
hops of new orders captured at the scenario's daily rate. The ground-truth file lists the
faults whose evidence exists by the time it is written.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field

from biztrace.simulator.otlp import encode, requests
from biztrace.simulator.scenario import Scenario
from biztrace.simulator.sender import OtlpHttpSender
from biztrace.simulator.world import Fault, Hop, World, generate

logger = logging.getLogger(__name__)

SCENARIO_ATTRIBUTE = "biztrace.simulation.scenario"
MARKER_SERVICE = "biztrace-simulator"
MARKER_SPAN = "biztrace.simulation"
"""Each backfill (and resume) sends one marker span: service ``MARKER_SERVICE``, name ``MARKER_SPAN``,
no business attribute, timed at the scenario's window start, the scenario as JSON in the resource
attribute ``SCENARIO_ATTRIBUTE``. A later run regenerates the same world from it and carries on
after the last stored hop (:func:`resume`). One span per run, not ~360 bytes on every span."""


def marker_request(scenario: Scenario) -> bytes:
    """The OTLP request of the span that names the simulation (see ``MARKER_SPAN``)."""
    start_ns = int((scenario.now - timedelta(days=scenario.days)).timestamp() * 1e9)
    hop = Hop(MARKER_SERVICE, MARKER_SPAN, os.urandom(16), os.urandom(8), b"", start_ns, start_ns, {})
    return encode(MARKER_SERVICE, [hop], {SCENARIO_ATTRIBUTE: scenario.model_dump_json()})


def live_day(scenario: Scenario, day: int) -> Scenario:
    """The new orders live mode generates for its ``day``-th day after ``scenario.now``."""
    return scenario.model_copy(
        update={"now": scenario.now + timedelta(days=day), "days": 1.0, "seed": scenario.seed * 1000 + day}
    )


class GroundTruth(BaseModel):
    """What the simulation did, for tests and detection checks."""

    seed: int
    written_at: datetime
    window_start: datetime
    window_end: datetime
    orders: int
    returns: int
    customer_updates: int
    spans_sent: int
    faults: list[Fault]

    def by_kind(self) -> dict[str, int]:
        return dict(Counter(fault.kind for fault in self.faults))

    @classmethod
    def load(cls, path: str | Path) -> GroundTruth:
        return cls.model_validate_json(Path(path).read_text())


class RunSummary(BaseModel):
    """What ``biztrace simulate --json`` prints."""

    mode: str = Field(description="backfill, or backfill+live")
    orders: int
    returns: int
    customer_updates: int
    spans_sent: int
    requests_sent: int
    spans_pending: int = Field(description="later hops of these orders, not yet due")
    seconds: float
    spans_per_second: float
    faults: dict[str, int] = Field(description="ground-truth faults by exception kind")
    ground_truth: str | None


def _truth(scenario: Scenario, world: World, sent: int, until_ns: int, window_end: datetime) -> GroundTruth:
    return GroundTruth(
        seed=scenario.seed,
        written_at=datetime.fromtimestamp(until_ns / 1e9, UTC),
        window_start=scenario.now - timedelta(days=scenario.days),
        window_end=window_end,
        orders=world.orders,
        returns=world.returns,
        customer_updates=world.customer_updates,
        spans_sent=sent,
        faults=sorted((f for f in world.faults if f.at_ns <= until_ns), key=lambda f: (f.at_ns, f.key)),
    )


def backfill(
    scenario: Scenario,
    sender: OtlpHttpSender,
    *,
    ground_truth: Path | None = None,
    progress: Callable[[int], None] | None = None,
    keep_future: bool = False,
) -> tuple[RunSummary, World, list[Hop]]:
    """Send every hop up to ``scenario.now``; returns the summary, the world and (if asked)
    the hops still to come."""
    world = World()
    now_ns = int(scenario.now.timestamp() * 1e9)
    future: list[Hop] = []
    started = time.monotonic()
    sender.submit(marker_request(scenario)).result()
    sent = sent_requests = 1

    later = 0

    def due() -> Iterable[Hop]:
        nonlocal later
        for hop in generate(scenario, world):
            if hop.start_ns <= now_ns:
                yield hop
            else:
                later += 1
                if keep_future:
                    future.append(hop)

    in_flight = []
    for body, spans in requests(due()):
        in_flight.append(sender.submit(body))
        sent += spans
        sent_requests += 1
        if progress:
            progress(spans)
        if len(in_flight) > 256:  # surface a refused request early; result() raises it
            for done in [f for f in in_flight if f.done()]:
                done.result()
            in_flight = [f for f in in_flight if not f.done()]
    for request in in_flight:
        request.result()
    seconds = time.monotonic() - started
    truth = _truth(scenario, world, sent, now_ns, scenario.now)
    if ground_truth:
        ground_truth.write_text(truth.model_dump_json(indent=2))
    summary = RunSummary(
        mode="backfill",
        orders=world.orders,
        returns=world.returns,
        customer_updates=world.customer_updates,
        spans_sent=sent,
        requests_sent=sent_requests,
        spans_pending=later,
        seconds=round(seconds, 3),
        spans_per_second=round(sent / seconds, 1) if seconds else 0.0,
        faults=truth.by_kind(),
        ground_truth=str(ground_truth) if ground_truth else None,
    )
    return summary, world, future


class SdkEmitter:
    """Emits hops through the OpenTelemetry SDK: one TracerProvider and OTLP exporter per system."""

    def __init__(self, endpoint: str, token: str | None = None) -> None:
        self._endpoint = endpoint.rstrip("/")
        if not self._endpoint.endswith("/v1/traces"):
            self._endpoint += "/v1/traces"
        self._headers = {"Authorization": f"Bearer {token}"} if token else None
        self._providers: dict[str, object] = {}
        self._contexts: dict[bytes, object] = {}

    def _tracer(self, system: str):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = self._providers.get(system)
        if provider is None:
            provider = TracerProvider(resource=Resource.create({"service.name": system}))
            exporter = OTLPSpanExporter(endpoint=self._endpoint, headers=self._headers)
            provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
            self._providers[system] = provider
        return provider.get_tracer("biztrace.simulator")

    def emit(self, hop: Hop) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        parent = self._contexts.pop(hop.parent_id, None) if hop.parent_id else None
        context = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent is not None else None
        kinds = {
            1: SpanKind.INTERNAL,
            2: SpanKind.SERVER,
            3: SpanKind.CLIENT,
            4: SpanKind.PRODUCER,
            5: SpanKind.CONSUMER,
        }
        span = self._tracer(hop.system).start_span(
            hop.name, context=context, kind=kinds.get(hop.kind, SpanKind.INTERNAL),
            attributes=hop.attributes, start_time=hop.start_ns,
        )  # fmt: skip
        if hop.error:
            span.set_status(Status(StatusCode.ERROR, hop.error))
        span.end(end_time=hop.end_ns)
        self._contexts[hop.span_id] = span.get_span_context()
        if parent is not None:  # a parent with several children stays available for the next one
            self._contexts[hop.parent_id] = parent
        if len(self._contexts) > 100_000:
            self._contexts.clear()

    def flush(self) -> None:
        for provider in self._providers.values():
            provider.force_flush()

    def shutdown(self) -> None:
        for provider in self._providers.values():
            provider.shutdown()


def live(
    scenario: Scenario,
    emitter: SdkEmitter,
    future: list[Hop],
    world: World,
    *,
    duration_s: float | None,
    ground_truth: Path | None,
    stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.time,
    days_done: int = 0,
) -> int:
    """Send hops as their time comes: the backfill's later hops and new orders' hops.

    ``days_done``: days of new orders already generated (by :func:`resume`). Returns the spans
    sent. Writes the ground truth every 10 s and at the end.
    """
    counter = itertools.count()
    heap = [(hop.start_ns, next(counter), hop) for hop in future]
    heapq.heapify(heap)
    day = days_done
    horizon_end = scenario.now + timedelta(days=days_done)
    sent = 0
    started = clock()
    last_truth = 0.0
    while not stop() and (duration_s is None or clock() - started < duration_s):
        now = datetime.fromtimestamp(clock(), UTC)
        if now + timedelta(hours=1) > horizon_end:  # generate the next day of new orders ahead of time
            day += 1
            horizon_end = scenario.now + timedelta(days=day)
            for hop in generate(live_day(scenario, day), world):
                heapq.heappush(heap, (hop.start_ns, next(counter), hop))
        now_ns = int(clock() * 1e9)
        while heap and heap[0][0] <= now_ns:
            emitter.emit(heapq.heappop(heap)[2])
            sent += 1
        if ground_truth and clock() - last_truth > 10:
            ground_truth.write_text(_truth(scenario, world, sent, now_ns, now).model_dump_json(indent=2))
            last_truth = clock()
        time.sleep(0.2)
    emitter.flush()
    if ground_truth:
        now_ns = int(clock() * 1e9)
        ground_truth.write_text(
            _truth(scenario, world, sent, now_ns, datetime.fromtimestamp(now_ns / 1e9, UTC)).model_dump_json(indent=2)
        )
    return sent


def resume(
    scenario: Scenario,
    after_ns: int,
    sender: OtlpHttpSender,
    *,
    until: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[RunSummary, World, list[Hop], int]:
    """Carry a simulation on after its last stored hop (``after_ns``, ns since the epoch), as if it
    had never stopped.

    The world is regenerated as the first run made it (its backfill and the days of new orders
    live mode adds, up to ``until``): the hops after ``after_ns`` up to ``until`` are sent, nothing
    before is sent again, and the later ones are returned for :func:`live`. Returns the summary,
    the world, the hops still to come and the days of new orders generated (``live``'s ``days_done``).
    """
    until = until or datetime.now(UTC)
    until_ns = int(until.timestamp() * 1e9)
    world = World()
    days = 0
    while scenario.now + timedelta(days=days) < until + timedelta(hours=1):  # live mode's look-ahead
        days += 1
    future: list[Hop] = []
    started = time.monotonic()

    def due() -> Iterable[Hop]:
        for part in (scenario, *(live_day(scenario, day) for day in range(1, days + 1))):
            for hop in generate(part, world):
                if hop.start_ns <= after_ns:
                    continue  # stored already
                if hop.start_ns > until_ns:
                    future.append(hop)
                else:
                    yield hop

    sender.submit(marker_request(scenario)).result()
    sent = sent_requests = 1
    in_flight = []
    for body, spans in requests(due()):
        in_flight.append(sender.submit(body))
        sent, sent_requests = sent + spans, sent_requests + 1
        if progress:
            progress(spans)
    for request in in_flight:
        request.result()
    seconds = time.monotonic() - started
    truth = _truth(scenario, world, sent, until_ns, until)
    summary = RunSummary(
        mode="resume", orders=world.orders, returns=world.returns, customer_updates=world.customer_updates,
        spans_sent=sent, requests_sent=sent_requests, spans_pending=len(future), seconds=round(seconds, 3),
        spans_per_second=round(sent / seconds, 1) if seconds else 0.0, faults=truth.by_kind(), ground_truth=None,
    )  # fmt: skip
    return summary, world, future, days
