"""A test oracle: what the contrib ClickHouse exporter writes for an OTLP span, in Python.

Independent of the product's SQL: pcommon ``Value.AsString()`` (Go's strconv and
encoding/json rules) and the exporter's column mapping, written from their documentation.
"""

from __future__ import annotations

import base64
import json
import math
from decimal import Decimal

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")


def go_float(value: float) -> str:
    """strconv.FormatFloat as pcommon's float64AsString uses it (ES6 number form)."""
    if math.isinf(value) or math.isnan(value):
        return "json: unsupported value: " + ("NaN" if math.isnan(value) else "+Inf" if value > 0 else "-Inf")
    magnitude = abs(value)
    text = repr(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        mantissa, _, exponent = text.partition("e")
        sign = "-" if exponent.startswith("-") else "+"
        digits = exponent.lstrip("+-").lstrip("0") or "0"
        return f"{mantissa.removesuffix('.0')}e{sign}{digits}"
    fixed = format(Decimal(text), "f")
    if "." in fixed:
        fixed = fixed.rstrip("0").rstrip(".")
    return fixed


def _go_json_string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    return encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _go_json(value: AnyValue) -> str:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return _go_json_string(value.string_value)
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return go_float(value.double_value)
    if kind == "bytes_value":
        return '"' + base64.b64encode(value.bytes_value).decode() + '"'
    if kind == "array_value":
        return "[" + ",".join(_go_json(item) for item in value.array_value.values) + "]"
    if kind == "kvlist_value":
        items = sorted((kv.key, kv.value) for kv in value.kvlist_value.values)
        return "{" + ",".join(_go_json_string(k) + ":" + _go_json(v) for k, v in items) + "}"
    return "null"


def as_string(value: AnyValue) -> str:
    """pcommon Value.AsString()."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return go_float(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind in ("array_value", "kvlist_value"):
        return _go_json(value)
    return ""


def attributes(kvs) -> dict[str, str]:
    return {kv.key: as_string(kv.value) for kv in kvs}


def _hex(raw: bytes, width: int) -> str:
    text = raw.hex()
    return "" if text == "0" * width else text


def expected_row(resource_spans, scope_spans, span) -> dict[str, object]:
    """The exporter's row for one span (Timestamp and Duration in nanoseconds)."""
    resource = attributes(resource_spans.resource.attributes)
    return {
        "Timestamp": span.start_time_unix_nano,
        "TraceId": _hex(span.trace_id, 32),
        "SpanId": _hex(span.span_id, 16),
        "ParentSpanId": _hex(span.parent_span_id, 16),
        "TraceState": span.trace_state,
        "SpanName": span.name,
        "SpanKind": SPAN_KINDS[span.kind],
        "ServiceName": resource.get("service.name", ""),
        "ResourceAttributes": resource,
        "ScopeName": scope_spans.scope.name,
        "ScopeVersion": scope_spans.scope.version,
        "SpanAttributes": attributes(span.attributes),
        "Duration": span.end_time_unix_nano - span.start_time_unix_nano,
        "StatusCode": STATUS_CODES[span.status.code],
        "StatusMessage": span.status.message,
        "Events.Timestamp": [event.time_unix_nano for event in span.events],
        "Events.Name": [event.name for event in span.events],
        "Events.Attributes": [attributes(event.attributes) for event in span.events],
        "Links.TraceId": [_hex(link.trace_id, 32) for link in span.links],
        "Links.SpanId": [_hex(link.span_id, 16) for link in span.links],
        "Links.TraceState": [link.trace_state for link in span.links],
        "Links.Attributes": [attributes(link.attributes) for link in span.links],
    }
