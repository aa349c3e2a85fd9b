"""The generic webhook against a real local HTTP server: Alertmanager's document plus transactions."""

from __future__ import annotations

import base64

import pytest

from biztrace.alerts.channels import ChannelError, build_channel, deliver
from biztrace.alerts.channels.webhook import payload
from biztrace.config.errors import ConfigError


def test_posts_alertmanager_webhook_document_with_transactions(http_endpoint, notification):
    channel = build_channel({"type": "webhook", "url": http_endpoint.url + "/hooks/ops?team=1", "token": "s3cret",
                             "headers": {"X-Tenant": "acme"}})  # fmt: skip
    result = deliver(channel, notification)
    assert result.delivered and result.attempts == 1 and result.channel == "webhook"
    [request] = http_endpoint.requests
    assert request.path == "/hooks/ops?team=1"
    assert request.headers["Authorization"] == "Bearer s3cret" and request.headers["X-Tenant"] == "acme"
    assert request.headers["Content-Type"] == "application/json"
    body = request.json
    assert set(body) == {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
                         "commonLabels", "commonAnnotations", "externalURL", "alerts"}  # fmt: skip
    assert body["version"] == "4" and body["groupKey"] == "ops/abc" and body["status"] == "firing"
    assert body["receiver"] == "ops" and body["truncatedAlerts"] == 0
    assert body["groupLabels"] == {"alertname": "OrdersStuck", "process": "order_to_cash"}
    assert body["commonLabels"] == {"alertname": "OrdersStuck", "severity": "critical", "process": "order_to_cash",
                                    "system": "wms"}  # fmt: skip
    assert body["commonAnnotations"]["runbook_url"] == "https://runbooks/stuck"
    assert body["externalURL"] == "http://biztrace.example/alerts"
    [alert] = body["alerts"]
    assert alert["status"] == "firing" and alert["labels"]["alertname"] == "OrdersStuck"
    assert alert["annotations"]["summary"] == "7 orders are stuck past their SLA"
    assert alert["startsAt"] == "2026-11-20T12:00:00Z" and alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["fingerprint"] == notification.alerts[0].fingerprint and alert["value"] == 7
    assert alert["generatorURL"] == "http://biztrace.example/alerts"
    assert len(alert["transactions"]) == 7
    assert alert["transactions"][0] == {"process": "order_to_cash", "key": "O-0", "kind": "stuck", "stage": "picked",
                                        "system": "wms", "since": "2026-11-20T12:00:00",
                                        "span_ids": ["0000000000000000"]}  # fmt: skip


def test_resolved_group_carries_end_times(http_endpoint, make_notification):
    assert deliver(
        build_channel({"type": "webhook", "url": http_endpoint.url}), make_notification("resolved")
    ).delivered
    body = http_endpoint.requests[0].json
    assert body["status"] == "resolved"
    [alert] = body["alerts"]
    assert alert["status"] == "resolved" and alert["endsAt"] == "2026-11-20T12:09:00Z"


def test_common_labels_are_only_those_every_alert_shares(make_alert, make_notification):
    alerts = [make_alert("OrdersStuck"), make_alert("DeadLetters", severity="warning", labels={"system": "erp"})]
    body = payload(make_notification(alerts=alerts))
    assert body["commonLabels"] == {"process": "order_to_cash"}
    assert [a["labels"]["alertname"] for a in body["alerts"]] == ["OrdersStuck", "DeadLetters"]


def test_max_alerts_truncates_and_counts(http_endpoint, make_alert, make_notification):
    alerts = [make_alert(f"Rule{i}") for i in range(5)]
    channel = build_channel({"type": "webhook", "url": http_endpoint.url, "max_alerts": 2})
    assert deliver(channel, make_notification(alerts=alerts)).delivered
    body = http_endpoint.requests[0].json
    assert len(body["alerts"]) == 2 and body["truncatedAlerts"] == 3


def test_basic_auth(http_endpoint, notification):
    channel = build_channel({"type": "webhook", "url": http_endpoint.url,
                             "basic_auth": {"username": "biz", "password": "p:ss"}})  # fmt: skip
    assert deliver(channel, notification).delivered
    header = http_endpoint.requests[0].headers["Authorization"]
    assert header == "Basic " + base64.b64encode(b"biz:p:ss").decode()


def test_a_refused_webhook_is_not_retried_and_names_the_endpoint(http_endpoint, notification, sleeps):
    http_endpoint.answer((404, {}, b"no such hook"))
    result = deliver(build_channel({"type": "webhook", "url": http_endpoint.url + "/nope"}), notification, sleep=sleeps)
    assert not result.delivered and result.attempts == 1
    assert result.error == f"{http_endpoint.url}/nope answered 404 Not Found: no such hook (not retried)"


def test_send_raises_channel_error_with_the_retry_hint(http_endpoint, notification):
    http_endpoint.answer((503, {"Retry-After": "4"}))
    with pytest.raises(ChannelError) as caught:
        build_channel({"type": "webhook", "url": http_endpoint.url}).send(notification)
    assert caught.value.recoverable and caught.value.retry_after_s == 4


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "https://x", "token": "t", "basic_auth": {"username": "u", "password": "p"}}, "not both"),
        ({"url": "https://x", "headers": {"Bad Header": "v"}}, "not a valid HTTP header name"),
        ({"url": "https://x", "headers": {"Content-Type": "text/plain"}}, "set by the channel"),
        ({"url": "https://x", "token": "t", "headers": {"Authorization": "x"}}, "would clash"),
        ({"url": "https://x:notaport/"}, "is not a valid URL"),
        ({"url": "https:///path"}, "with a host"),
        ({"url": "https://x", "max_alerts": -1}, "max_alerts"),
    ],
)  # fmt: skip
def test_invalid_webhook_configuration(options, message):
    with pytest.raises(ConfigError, match=message):
        build_channel({"type": "webhook", **options})
