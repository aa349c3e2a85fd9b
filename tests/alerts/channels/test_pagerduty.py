"""PagerDuty Events API v2 against a real local HTTP server: trigger, resolve, one dedup key."""

from __future__ import annotations

import pytest

from biztrace.alerts.channels import build_channel, deliver
from biztrace.alerts.channels.pagerduty import dedup_key, event, severity
from biztrace.config.errors import ConfigError

ROUTING_KEY = "R0UT1NGKEY" + "r" * 22


def _channel(url: str):
    return build_channel({"type": "pagerduty", "routing_key": ROUTING_KEY, "url": url + "/v2/enqueue"})


def test_trigger_then_resolve_with_one_dedup_key(http_endpoint, make_notification):
    http_endpoint.answer((202, {}, b'{"status": "success", "message": "Event processed"}'), 202)
    channel = _channel(http_endpoint.url)
    assert deliver(channel, make_notification("firing")).delivered
    assert deliver(channel, make_notification("resolved")).delivered
    trigger, resolve = (r.json for r in http_endpoint.requests)
    assert {r.path for r in http_endpoint.requests} == {"/v2/enqueue"}
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == dedup_key("ops/abc")
    assert trigger["routing_key"] == resolve["routing_key"] == ROUTING_KEY
    assert resolve == {"routing_key": ROUTING_KEY, "dedup_key": dedup_key("ops/abc"), "event_action": "resolve"}


def test_trigger_payload(http_endpoint, notification):
    http_endpoint.answer(202)
    assert deliver(_channel(http_endpoint.url), notification).delivered
    body = http_endpoint.requests[0].json
    payload = body["payload"]
    assert payload["summary"] == "[FIRING:1] OrdersStuck (process=order_to_cash): 7 orders are stuck past their SLA"
    assert payload["source"] == "biztrace" and payload["severity"] == "critical"
    assert payload["timestamp"] == "2026-11-20T12:10:00Z"
    assert (payload["component"], payload["group"], payload["class"]) == ("wms", "order_to_cash", "OrdersStuck")
    details = payload["custom_details"]
    assert details["receiver"] == "ops" and details["firing"] == 1 and details["resolved"] == 0
    [alert] = details["alerts"]
    assert alert["rule"] == "OrdersStuck" and alert["value"] == 7 and alert["since"] == "2026-11-20T12:00:00Z"
    assert [t["key"] for t in details["transactions"]] == [f"O-{i}" for i in range(7)]
    assert details["transactions_total"] == 7
    assert body["links"] == [{"href": "https://runbooks/stuck", "text": "Runbook: OrdersStuck"},
                             {"href": "http://biztrace.example/alerts", "text": "biztrace"}]  # fmt: skip
    assert body["client"] == "biztrace" and body["client_url"] == "http://biztrace.example/alerts"


def test_dedup_key_is_stable_and_short():
    assert dedup_key("ops/abc") == dedup_key("ops/abc") != dedup_key("ops/abd")
    assert dedup_key("ops/abc") == "biztrace-238bbefe63dc36593027573283d23065a2db1f28ed48bb6a2b38b1a60a25ffda"
    assert len(dedup_key("x" * 10_000)) <= 255


def test_severity_maps_to_pagerdutys_four_worst_first(make_alert):
    assert severity([make_alert(severity="warning"), make_alert(severity="error")]) == "error"
    assert severity([make_alert(severity="info")]) == "info"
    assert severity([make_alert(severity="page")]) == "critical"
    assert severity([make_alert(severity="whatever")]) == "warning"
    assert severity([]) == "warning"


def test_summary_is_capped_at_1024_characters(make_alert, make_notification):
    config = _channel("http://127.0.0.1:9").config  # type: ignore[attr-defined]
    alert = make_alert(annotations={"summary": "x" * 5000})
    summary = event(make_notification(alerts=[alert]), config)["payload"]["summary"]
    assert len(summary) == 1024 and summary.endswith("…")


def test_rate_limit_is_retried_and_invalid_event_is_not(http_endpoint, notification, sleeps):
    http_endpoint.answer((429, {"Retry-After": "2"}), 202)
    assert deliver(_channel(http_endpoint.url), notification, initial_backoff_s=1, sleep=sleeps).delivered
    assert sleeps.delays == [2]
    http_endpoint.answer((400, {}, f'{{"message": "Event object is invalid", "key": "{ROUTING_KEY}"}}'.encode()))
    result = deliver(_channel(http_endpoint.url), notification, sleep=sleeps)
    assert not result.delivered and result.attempts == 1 and "400" in result.error
    assert ROUTING_KEY not in result.error and "Event object is invalid" in result.error


def test_routing_key_is_required_and_secret():
    with pytest.raises(ConfigError, match="routing_key: Field required"):
        build_channel({"type": "pagerduty"})
    channel = _channel("http://127.0.0.1:9")
    assert ROUTING_KEY not in repr(channel) and ROUTING_KEY not in str(channel.config)  # type: ignore[attr-defined]
