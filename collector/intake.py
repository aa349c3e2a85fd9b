"""Check one OTLP request before it is queued; pure functions, no I/O.

ClickHouse itself turns request bodies into ``otel_traces`` rows (see
``sql/003_otlp_ingest.sql``), so the collector's Python work per span is small: parse with
upb, reject spans the store must not get (bad ids, over a limit), and note what crash
recovery needs (a fingerprint of the request and one sample span per day it touches).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from biztrace.collector.errors import DecodeError

NS_PER_DAY = 86_400 * 1_000_000_000


@dataclass(frozen=True)
class Limits:
    """Per-span limits; a span over any of them is rejected (OTLP partial success).

    Every string and count a span carries is bounded: attribute counts (span, resource,
    scope, event, link), attribute values and status messages (``max_value_length``), names
    and attribute keys (``max_name_length``), events and links per span, the whole encoded
    span (``max_span_bytes``), and its start time, which must lie within ``max_span_age_s``
    before and ``max_span_future_s`` after the intake clock.
    """

    max_attributes: int = 128
    max_value_length: int = 16_384
    max_name_length: int = 1_024
    max_events: int = 128
    max_links: int = 128
    max_span_bytes: int = 1 << 20
    max_span_age_s: float = 366 * 86_400.0
    max_span_future_s: float = 86_400.0


@dataclass(frozen=True)
class Sample:
    """One span that proves, if found in the store, that its request's day was committed."""

    day: int
    trace_id: str
    span_id: str
    start_ns: int


@dataclass
class Intake:
    """A checked request, ready for the batcher.

    ``body`` is the binary protobuf to store: the original bytes when every span was
    accepted, a re-serialized request without the rejected spans otherwise.
    """

    body: bytes
    fingerprint: bytes
    spans: int
    samples: list[Sample]
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def error_message(self) -> str:
        """A readable summary for ``partial_success.error_message``."""
        if not self.errors:
            return ""
        shown = "; ".join(self.errors[:5])
        more = len(self.errors) - 5
        return shown + (f" (and {more} more)" if more > 0 else "")

    def without_days(self, days: set[int]) -> Intake:
        """This request minus the spans that start on ``days`` (already committed)."""
        request = ExportTraceServiceRequest.FromString(self.body)
        kept = 0
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                keep = [s for s in scope_spans.spans if s.start_time_unix_nano // NS_PER_DAY not in days]
                kept += len(keep)
                del scope_spans.spans[:]
                scope_spans.spans.extend(keep)
        samples = [s for s in self.samples if s.day not in days]
        return Intake(request.SerializeToString(), self.fingerprint, kept, samples)


def parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    """Parse a binary OTLP request; raises :class:`DecodeError` for malformed bytes."""
    try:
        return ExportTraceServiceRequest.FromString(body)
    except Exception as exc:  # upb raises google.protobuf.message.DecodeError
        raise DecodeError(f"body is not a valid OTLP ExportTraceServiceRequest protobuf ({exc})") from exc


_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


MAX_JSON_DEPTH = 400
"""The deepest nesting of arrays and objects an OTLP/JSON body may have (400 Bad Request beyond)."""


def parse_json(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON request: hex ids, integer enums, lowerCamelCase keys.

    Raises :class:`DecodeError` for malformed JSON, nesting deeper than ``max_depth``, or a
    document that is not an OTLP trace request.
    """
    from google.protobuf import json_format

    if _nested_deeper(body, max_depth):
        raise DecodeError(f"JSON nesting exceeds the limit of {max_depth} levels")
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"body is not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise DecodeError(f"JSON nesting exceeds the limit of {max_depth}") from exc
    if not isinstance(document, dict):
        raise DecodeError("body must be a JSON object with a 'resourceSpans' array")
    try:
        _hex_ids_to_base64(document)
        return json_format.ParseDict(document, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        raise DecodeError(f"body is not a valid OTLP/JSON trace request ({exc})") from exc
    except RecursionError as exc:
        raise DecodeError("body nests values deeper than an OTLP trace request can") from exc


_ESCAPE = re.compile(rb"\\.", re.S)
_STRING = re.compile(rb'"[^"]*+"')
_INNERMOST = re.compile(rb"\[\]|\{\}")
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}"')


def _nested_deeper(body: bytes, max_depth: int) -> bool:
    """Whether a JSON text nests arrays/objects deeper than ``max_depth``.

    No recursion and no Python loop over the text: strings are cut out, the brackets kept,
    and innermost pairs removed once per level.
    """
    structure = _ESCAPE.sub(b"", body).translate(None, _NOT_STRUCTURE)
    brackets = _STRING.sub(b"", structure)
    for _ in range(max_depth):
        if not brackets:
            return False
        brackets = _INNERMOST.sub(b"", brackets)  # exactly one level per pass
    return _INNERMOST.search(brackets) is not None  # an unbalanced rest is json.loads's to report


def _hex_ids_to_base64(node: object) -> None:
    """OTLP/JSON carries ids as hex; protobuf's JSON mapping expects base64."""
    import base64

    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError as exc:
                    raise DecodeError(f"{key} {value!r} is not a hex string") from exc
            else:
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)


def fingerprint(body: bytes) -> bytes:
    """Identity of a request's content: a client's retry carries the same bytes."""
    return hashlib.blake2b(body, digest_size=16).digest()


def check(
    request: ExportTraceServiceRequest, body: bytes | None, limits: Limits = Limits(), now_ns: int | None = None
) -> Intake:
    """Validate every span, drop the rejected ones, and note samples per day.

    A span that ends before it starts is kept with its end set to its start (a duration
    never wraps), and so is an event stamped outside the accepted window (set to the span's
    start); both are named in the error message without counting as rejected.

    Args:
        request: the parsed request.
        body: its binary encoding when it arrived as protobuf (reused when nothing is
            rejected or changed), or ``None`` to serialize the request here.
        limits: per-span limits.
        now_ns: the intake clock (Unix nanoseconds); the system clock when None.
    """
    if now_ns is None:
        now_ns = time.time_ns()
    earliest = max(0, now_ns - int(limits.max_span_age_s * 1e9))
    latest = now_ns + int(limits.max_span_future_s * 1e9)
    small_bytes = min(limits.max_value_length, limits.max_name_length)  # no string inside can be over a limit
    rejected = 0
    errors: list[str] = []
    samples: dict[int, Sample] = {}
    spans = 0
    changed = False
    for resource_spans in request.resource_spans:
        resource_problem = _attribute_problem(resource_spans.resource.attributes, limits, "resource")
        for scope_spans in resource_spans.scope_spans:
            problem_of_scope = resource_problem or _scope_problem(scope_spans.scope, limits)
            bad: list[int] = []
            for index, span in enumerate(scope_spans.spans):
                trace_id, span_id, start = span.trace_id, span.span_id, span.start_time_unix_nano
                if (  # the common span passes these cheap checks and needs no other
                    problem_of_scope
                    or len(trace_id) != 16
                    or trace_id == _ZERO_TRACE
                    or len(span_id) != 8
                    or span_id == _ZERO_SPAN
                    or not earliest <= start <= latest
                    or span.ByteSize() > small_bytes
                    or len(span.attributes) > limits.max_attributes
                    or len(span.events)
                    or len(span.links)
                    or not start <= span.end_time_unix_nano <= latest
                ):
                    problem = problem_of_scope or _span_problem(span, limits, earliest, latest)
                    if problem:
                        bad.append(index)
                        rejected += 1
                        if len(errors) < 20:
                            errors.append(f"span {_shown(span.name)}: {problem}")
                        continue
                    note = _clamp_times(span, earliest, latest)
                    if note:
                        changed = True
                        if len(errors) < 20:
                            errors.append(f"span {_shown(span.name)}: {note}")
                spans += 1
                day = start // NS_PER_DAY
                if day not in samples:
                    samples[day] = Sample(day, span.trace_id.hex(), span.span_id.hex(), start)
            if bad:
                changed = True
                for index in reversed(bad):
                    del scope_spans.spans[index]
    if body is None or changed:
        body = request.SerializeToString()
    return Intake(body, fingerprint(body), spans, list(samples.values()), rejected, errors)


_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)


def _shown(name: str, limit: int = 80) -> str:
    """A span name as an error message quotes it: never more than ``limit`` characters."""
    return repr(name if len(name) <= limit else name[:limit] + "...")


def _span_problem(span, limits: Limits, earliest: int, latest: int) -> str:
    """Why this span must not be stored, or ``""``; cheapest checks first."""
    if len(span.trace_id) != 16 or span.trace_id == _ZERO_TRACE:
        return f"trace_id must be 16 bytes, not all zero (got {len(span.trace_id)} bytes)"
    if len(span.span_id) != 8 or span.span_id == _ZERO_SPAN:
        return f"span_id must be 8 bytes, not all zero (got {len(span.span_id)} bytes)"
    start = span.start_time_unix_nano
    if not earliest <= start <= latest:
        return (
            f"start time {_when(start)} is outside the accepted window "
            f"[{_when(earliest)}, {_when(latest)}] (--max-span-age-days, --max-span-future-s)"
        )
    size = span.ByteSize()
    if size > limits.max_span_bytes:
        return f"{size} bytes encoded exceed the span limit of {limits.max_span_bytes}"
    if len(span.name.encode()) > limits.max_name_length:
        return f"name is over the limit of {limits.max_name_length} bytes"
    if len(span.status.message.encode()) > limits.max_value_length:
        return f"status message is over the limit of {limits.max_value_length} bytes"
    if len(span.events) > limits.max_events:
        return f"{len(span.events)} events exceed the limit of {limits.max_events}"
    if len(span.links) > limits.max_links:
        return f"{len(span.links)} links exceed the limit of {limits.max_links}"
    if (
        size <= min(limits.max_value_length, limits.max_name_length)
        and len(span.attributes) <= limits.max_attributes
        and not (span.events or span.links)
    ):
        return ""  # nothing inside can be over a limit the whole span is under
    problem = _attribute_problem(span.attributes, limits, "span")
    if problem:
        return problem
    for event in span.events:
        if len(event.name.encode()) > limits.max_name_length:
            return f"an event name is over the limit of {limits.max_name_length} bytes"
        problem = _attribute_problem(event.attributes, limits, f"event {_shown(event.name, 40)}")
        if problem:
            return problem
    for link in span.links:
        problem = _attribute_problem(link.attributes, limits, "link")
        if problem:
            return problem
    return ""


def _scope_problem(scope, limits: Limits) -> str:
    if len(scope.name.encode()) > limits.max_name_length or len(scope.version.encode()) > limits.max_name_length:
        return f"instrumentation scope name or version is over the limit of {limits.max_name_length} bytes"
    return _attribute_problem(scope.attributes, limits, "scope")


def _clamp_times(span, earliest: int, latest: int) -> str:
    """Mend times that would corrupt stored figures; returns what was mended, or ``""``."""
    notes = []
    start = span.start_time_unix_nano
    if span.end_time_unix_nano < start or span.end_time_unix_nano > latest:
        span.end_time_unix_nano = start
        notes.append("end time before its start or in the future: set to its start")
    moved = 0
    for event in span.events:
        if not earliest <= event.time_unix_nano <= latest:
            event.time_unix_nano = start
            moved += 1
    if moved:
        notes.append(f"{moved} event time(s) outside the accepted window: set to the span's start")
    return "; ".join(notes)


def _when(ns: int) -> str:
    seconds = ns // 1_000_000_000
    if seconds > 253_402_300_799:  # past 9999-12-31
        return f"{ns} ns"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _attribute_problem(attributes, limits: Limits, where: str) -> str:
    if len(attributes) > limits.max_attributes:
        return f"{len(attributes)} {where} attributes exceed the limit of {limits.max_attributes}"
    for kv in attributes:
        if len(kv.key.encode()) > limits.max_name_length:
            return f"a {where} attribute key is over the limit of {limits.max_name_length} bytes"
        if kv.value.ByteSize() > limits.max_value_length:
            return f"{where} attribute {_shown(kv.key, 80)} is over the limit of {limits.max_value_length} bytes"
    return ""
