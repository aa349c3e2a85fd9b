"""Check one OTLP request before it is queued; pure functions, no I/O.

ClickHouse itself turns request bodies into ``otel_traces`` rows (see
``sql/003_otlp_ingest.sql``), so the collector's Python work per span is small: parse with
upb, reject spans the store must not get (bad ids, over a limit), and note what crash
recovery needs (a fingerprint of the request and one sample span per day it touches).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from biztrace.collector.errors import DecodeError

NS_PER_DAY = 86_400 * 1_000_000_000


@dataclass(frozen=True)
class Limits:
    """Per-span limits; a span over any of them is rejected (OTLP partial success)."""

    max_attributes: int = 128
    max_value_length: int = 16_384


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


def parse_json(body: bytes) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON request: hex ids, integer enums, lowerCamelCase keys."""
    from google.protobuf import json_format

    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"body is not valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise DecodeError("body must be a JSON object with a 'resourceSpans' array")
    _hex_ids_to_base64(document)
    try:
        return json_format.ParseDict(document, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        raise DecodeError(f"body is not a valid OTLP/JSON trace request ({exc})") from exc


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


def check(request: ExportTraceServiceRequest, body: bytes | None, limits: Limits = Limits()) -> Intake:
    """Validate every span, drop the rejected ones, and note samples per day.

    Args:
        request: the parsed request.
        body: its binary encoding when it arrived as protobuf (reused when nothing is
            rejected), or ``None`` to serialize the request here.
        limits: per-span limits.
    """
    rejected = 0
    errors: list[str] = []
    samples: dict[int, Sample] = {}
    spans = 0
    changed = False
    max_attrs = limits.max_attributes
    max_len = limits.max_value_length
    for resource_spans in request.resource_spans:
        resource_problem = _attribute_problem(resource_spans.resource.attributes, max_attrs, max_len, "resource")
        for scope_spans in resource_spans.scope_spans:
            bad: list[int] = []
            for index, span in enumerate(scope_spans.spans):
                problem = resource_problem
                if not problem:
                    if len(span.trace_id) != 16 or span.trace_id == bytes(16):
                        problem = f"trace_id must be 16 bytes, not all zero (got {len(span.trace_id)} bytes)"
                    elif len(span.span_id) != 8 or span.span_id == bytes(8):
                        problem = f"span_id must be 8 bytes, not all zero (got {len(span.span_id)} bytes)"
                    elif len(span.attributes) > max_attrs or span.ByteSize() > max_len:
                        problem = _attribute_problem(span.attributes, max_attrs, max_len, "span")
                if problem:
                    bad.append(index)
                    rejected += 1
                    if len(errors) < 20:
                        errors.append(f"span {span.name!r}: {problem}")
                    continue
                spans += 1
                start = span.start_time_unix_nano
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


def _attribute_problem(attributes, max_attrs: int, max_len: int, where: str) -> str:
    if len(attributes) > max_attrs:
        return f"{len(attributes)} {where} attributes exceed the limit of {max_attrs}"
    for kv in attributes:
        if kv.value.ByteSize() > max_len:
            return f"{where} attribute {kv.key!r} is over the limit of {max_len} bytes"
    return ""
