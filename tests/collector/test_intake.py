"""Request checks before queueing: ids, limits, fingerprints, samples, OTLP/JSON."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from biztrace.collector.errors import DecodeError
from biztrace.collector.intake import NS_PER_DAY, Limits, check, fingerprint, parse_json, parse_protobuf


def _request(spans: list[dict]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    ss = request.resource_spans.add().scope_spans.add()
    for i, options in enumerate(spans):
        span = ss.spans.add()
        span.trace_id = options.get("trace_id", bytes([1] * 15 + [i + 1]))
        span.span_id = options.get("span_id", bytes([2] * 7 + [i + 1]))
        span.name = f"s{i}"
        span.start_time_unix_nano = options.get("start", 1_790_000_000_000_000_000)
        span.end_time_unix_nano = options.get("end", span.start_time_unix_nano + 1_000_000)
        for key, value in options.get("attributes", {}).items():
            kv = span.attributes.add()
            kv.key, kv.value.string_value = key, value
    return request


def test_valid_request_keeps_its_bytes():
    body = _request([{}, {}]).SerializeToString()
    intake = check(parse_protobuf(body), body)
    assert intake.body is body and intake.spans == 2 and intake.rejected == 0
    assert intake.fingerprint == fingerprint(body) and len(intake.fingerprint) == 16


@pytest.mark.parametrize(
    ("span", "problem"),
    [
        ({"trace_id": b"\x01" * 8}, "trace_id must be 16 bytes"),
        ({"trace_id": bytes(16)}, "not all zero"),
        ({"span_id": b""}, "span_id must be 8 bytes"),
        ({"attributes": {f"k{i}": "v" for i in range(5)}}, "5 span attributes exceed the limit of 4"),
        ({"attributes": {"note": "x" * 100}}, "span attribute 'note' is over the limit of 64 bytes"),
    ],
)
def test_bad_spans_are_rejected_one_by_one(span, problem):
    request = _request([{}, span, {}])
    intake = check(request, request.SerializeToString(), Limits(max_attributes=4, max_value_length=64))
    assert (intake.spans, intake.rejected) == (2, 1)
    assert problem in intake.error_message()
    kept = parse_protobuf(intake.body).resource_spans[0].scope_spans[0].spans
    assert [s.name for s in kept] == ["s0", "s2"]


def test_resource_over_a_limit_rejects_its_spans():
    request = _request([{}, {}])
    for i in range(3):
        kv = request.resource_spans[0].resource.attributes.add()
        kv.key, kv.value.string_value = f"r{i}", "v"
    intake = check(request, None, Limits(max_attributes=2))
    assert (intake.spans, intake.rejected) == (0, 2) and "resource attributes" in intake.error_message()


def test_samples_one_per_day_and_filtering_committed_days():
    day = 1_790_000_000_000_000_000 // NS_PER_DAY
    request = _request(
        [{"start": day * NS_PER_DAY}, {"start": day * NS_PER_DAY + 5}, {"start": (day + 1) * NS_PER_DAY}]
    )
    intake = check(request, None)
    assert sorted(s.day for s in intake.samples) == [day, day + 1]
    rest = intake.without_days({day})
    assert rest.spans == 1 and [s.day for s in rest.samples] == [day + 1]
    assert rest.fingerprint == intake.fingerprint


def test_otlp_json_with_hex_ids_and_errors():
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c",
                "spanId": "b7ad6b7169203331", "name": "x", "kind": 2, "startTimeUnixNano": "1"}]}]}],
                "unknownField": 1}  # fmt: skip
    parsed = parse_json(json.dumps(document).encode())
    span = parsed.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c" and span.kind == 2
    bad_id = b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}'
    for bad, message in ((b"{", "not valid JSON"), (b"[1]", "must be a JSON object"), (bad_id, "not a hex")):
        with pytest.raises(DecodeError, match=message):
            parse_json(bad)
    with pytest.raises(DecodeError, match="not a valid OTLP"):
        parse_protobuf(b"\xff\xff\xff")
