"""Every span is checked before it joins a batch: its times within the window, its duration
never wrapped, every string and count bounded; a JSON body nested too deep is a 400."""

from __future__ import annotations

import http.client
import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from biztrace.collector.errors import DecodeError
from biztrace.collector.intake import Limits, check, parse_json, parse_protobuf

NOW_NS = 1_796_000_000 * 10**9  # 2026-12-01
DAY_NS = 86_400 * 10**9
SMALL = Limits(max_attributes=4, max_value_length=64, max_name_length=32, max_events=2, max_links=2,
               max_span_bytes=4096, max_span_age_s=30 * 86_400, max_span_future_s=3_600)  # fmt: skip


def _request(*mutations) -> ExportTraceServiceRequest:
    """One good span, then one span per mutation (each changes a fresh good span)."""
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for i, mutate in enumerate((lambda span: None, *mutations)):
        span = scope_spans.spans.add()
        span.trace_id, span.span_id = (i + 1).to_bytes(16, "big"), (i + 1).to_bytes(8, "big")
        span.name = f"s{i}"
        span.start_time_unix_nano = NOW_NS - DAY_NS
        span.end_time_unix_nano = span.start_time_unix_nano + 10**9
        mutate(span)
    return request


def _events(count: int, attributes: int = 0, name: str = "exception"):
    def mutate(span) -> None:
        for _ in range(count):
            event = span.events.add(name=name, time_unix_nano=span.start_time_unix_nano)
            for a in range(attributes):
                event.attributes.add(key=f"e{a}").value.string_value = "v"

    return mutate


def _links(count: int, value: str = "v"):
    def mutate(span) -> None:
        for _ in range(count):
            link = span.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
            link.attributes.add(key="l").value.string_value = value

    return mutate


def _set(**fields):
    def mutate(span) -> None:
        for name, value in fields.items():
            if name == "status_message":
                span.status.message = value
            else:
                setattr(span, name, value)

    return mutate


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (_set(start_time_unix_nano=NOW_NS - 31 * DAY_NS), "outside the accepted window"),
        (_set(start_time_unix_nano=NOW_NS + 2 * 3600 * 10**9), "outside the accepted window"),
        (_set(start_time_unix_nano=6_000_000_000 * 10**9), "outside the accepted window"),  # after 2149
        (_set(start_time_unix_nano=0), "outside the accepted window"),
        (_set(name="n" * 33), "name is over the limit of 32 bytes"),
        (_set(status_message="m" * 65), "status message is over the limit of 64 bytes"),
        (_events(3), "3 events exceed the limit of 2"),
        (_links(3), "3 links exceed the limit of 2"),
        (_events(1, attributes=5), "5 event 'exception' attributes exceed the limit of 4"),
        (_events(1, name="e" * 33), "an event name is over the limit of 32 bytes"),
        (_links(1, value="x" * 65), "link attribute 'l' is over the limit of 64 bytes"),
    ],
)
def test_a_span_over_any_bound_is_rejected_alone(mutate, problem):
    request = _request(mutate)
    intake = check(request, request.SerializeToString(), SMALL, now_ns=NOW_NS)
    assert (intake.spans, intake.rejected) == (1, 1), intake.errors
    assert problem in intake.error_message()
    assert [s.name for s in parse_protobuf(intake.body).resource_spans[0].scope_spans[0].spans] == ["s0"]


def test_a_span_within_every_bound_but_too_big_as_a_whole_is_rejected():
    def big(span) -> None:
        for a in range(10):
            span.attributes.add(key=f"a{a}").value.string_value = "y" * 200

    request = _request(big)
    intake = check(request, None, Limits(max_span_bytes=1024), now_ns=NOW_NS)
    assert (intake.spans, intake.rejected) == (1, 1) and "exceed the span limit of 1024" in intake.error_message()


def test_scope_over_a_bound_rejects_its_spans():
    request = _request()
    request.resource_spans[0].scope_spans[0].scope.name = "scope" * 10
    intake = check(request, None, SMALL, now_ns=NOW_NS)
    assert (intake.spans, intake.rejected) == (0, 1) and "instrumentation scope" in intake.error_message()
    request = _request()
    for a in range(5):
        request.resource_spans[0].scope_spans[0].scope.attributes.add(key=f"s{a}").value.string_value = "v"
    intake = check(request, None, SMALL, now_ns=NOW_NS)
    assert (intake.spans, intake.rejected) == (0, 1) and "5 scope attributes" in intake.error_message()


def test_a_huge_name_is_not_repeated_in_the_message():
    request = _request(_set(name="n" * 10_000_000))
    intake = check(request, None, Limits(), now_ns=NOW_NS)
    assert intake.rejected == 1 and len(intake.error_message()) < 500


def test_end_before_start_is_clamped_not_wrapped_and_named():
    start = NOW_NS - DAY_NS
    request = _request(_set(name="backwards", end_time_unix_nano=start - 10**9), _set(end_time_unix_nano=0))
    intake = check(request, request.SerializeToString(), SMALL, now_ns=NOW_NS)
    assert (intake.spans, intake.rejected) == (3, 0)
    spans = parse_protobuf(intake.body).resource_spans[0].scope_spans[0].spans
    assert [s.end_time_unix_nano - s.start_time_unix_nano for s in spans] == [10**9, 0, 0]
    assert "span 'backwards': end time before its start" in intake.error_message()


def test_the_default_window_takes_a_150_day_backfill():
    request = _request(_set(start_time_unix_nano=NOW_NS - 150 * DAY_NS))
    assert check(request, None, Limits(), now_ns=NOW_NS).rejected == 0


def _deep(depth: int) -> bytes:
    value = "1"
    for _ in range(depth - 6):  # the request's own 6 levels hold the attribute value
        value = '{"arrayValue": {"values": [' + value + "]}}"
    return (
        '{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c", '
        '"spanId": "b7ad6b7169203331", "name": "x", "attributes": [{"key": "k", "value": ' + value + "}]}]}]}]}"
    ).encode()


def test_json_nesting_is_bounded_at_400():
    with pytest.raises(DecodeError, match="nesting exceeds the limit of 400"):
        parse_json(b"[" * 401 + b"]" * 401)
    with pytest.raises(DecodeError, match="nesting"):
        parse_json(_deep(1500))
    parse_json(b'{"resourceSpans": []' + b', "x": ' + b"[" * 398 + b"]" * 398 + b"}")  # 399 levels: fine
    assert parse_json(b'{"a": "[[[[\\"[[[[", "resourceSpans": []}', max_depth=2) is not None  # strings don't count


@pytest.mark.parametrize("depth", [450, 1_200, 100_000])
def test_a_deeply_nested_json_body_answers_400_not_500(start_collector, depth):
    collector = start_collector()
    connection = http.client.HTTPConnection("127.0.0.1", collector.ports.http, timeout=30)
    connection.request("POST", "/v1/traces", _deep(depth), {"Content-Type": "application/json"})
    response = connection.getresponse()
    status, body = response.status, json.loads(response.read())
    connection.close()
    assert status == 400, body
    assert "nesting" in body["message"]


def test_spans_out_of_the_window_are_named_in_partial_success_over_http(start_collector):
    collector = start_collector()
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for i, start_s in enumerate((1_790_000_000, 6_000_000_000, 1_000)):  # now-ish, after 2149, 1970
        span = scope_spans.spans.add(name=f"s{i}", start_time_unix_nano=start_s * 10**9)
        span.trace_id, span.span_id = (i + 1).to_bytes(16, "big"), (i + 1).to_bytes(8, "big")
        span.end_time_unix_nano = span.start_time_unix_nano + 1
    connection = http.client.HTTPConnection("127.0.0.1", collector.ports.http, timeout=30)
    connection.request("POST", "/v1/traces", request.SerializeToString(), {"Content-Type": "application/x-protobuf"})
    response = connection.getresponse()
    status, answer = response.status, ExportTraceServiceResponse.FromString(response.read())
    connection.close()
    assert status == 200
    assert answer.partial_success.rejected_spans == 2
    assert "span 's1'" in answer.partial_success.error_message and "span 's2'" in answer.partial_success.error_message
    stored = collector.store.client.command(f"SELECT count() FROM {collector.store.table('otel_traces')}")
    assert int(stored) == 1
