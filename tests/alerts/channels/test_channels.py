"""Every notification channel against a real local server; delivery retries and failures."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta

import pytest

from alerts.channels import RecordingChannel, build_channel, deliver
from alerts.channels.pagerduty import dedup_key
from alerts.errors import ConfigError
from alerts.models import AlertInstance, Notification, TransactionRef

T0 = datetime(2026, 11, 20, 12, 0)


def _notification(status: str = "firing") -> Notification:
    state = "firing" if status == "firing" else "resolved"
    alert = AlertInstance(
        rule="OrdersStuck", labels={"alertname": "OrdersStuck", "severity": "critical", "process": "order_to_cash"},
        annotations={"summary": "7 orders are stuck past their SLA", "runbook_url": "https://runbooks/stuck"},
        state=state, value=7, active_since=T0, resolved_at=T0 + timedelta(minutes=9) if state == "resolved" else None,
        transactions=[TransactionRef(process="order_to_cash", key=f"O-{i}", kind="stuck") for i in range(7)],
    )  # fmt: skip
    return Notification(receiver="ops", group_key="ops/abc", group_labels={"alertname": "OrdersStuck"},
                        status=status, alerts=[alert], sent_at=T0 + timedelta(minutes=10))  # fmt: skip


def test_webhook_sends_alertmanager_shape_with_transactions(http_endpoint):
    channel = build_channel({"type": "webhook", "url": http_endpoint.url + "/hook", "token": "s3cret"})
    result = deliver(channel, _notification())
    assert result.delivered and result.attempts == 1
    [request] = http_endpoint.requests
    assert request["path"] == "/hook" and request["headers"]["Authorization"] == "Bearer s3cret"
    body = request["json"]
    assert body["status"] == "firing" and body["groupKey"] == "ops/abc" and body["receiver"] == "ops"
    assert body["commonLabels"]["process"] == "order_to_cash"
    [alert] = body["alerts"]
    assert alert["labels"]["alertname"] == "OrdersStuck" and alert["startsAt"].startswith("2026-11-20T12:00")
    assert [t["key"] for t in alert["transactions"]][:2] == ["O-0", "O-1"]


def test_slack_message_is_readable(http_endpoint):
    channel = build_channel({"type": "slack", "url": http_endpoint.url + "/services/T/B/X"})
    assert deliver(channel, _notification()).delivered
    body = http_endpoint.requests[0]["json"]
    assert body["text"] == "[FIRING:1] OrdersStuck"
    section = body["blocks"][1]["text"]["text"]
    assert ":red_circle:" in section and "7 orders are stuck" in section
    assert "O-0, O-1, O-2, O-3, O-4 and 2 more" in section and "<https://runbooks/stuck|runbook>" in section
    assert "services/T/B/X" not in repr(channel.config), "the webhook URL is a secret"


def test_pagerduty_triggers_then_resolves_with_one_dedup_key(http_endpoint):
    http_endpoint.statuses = [202, 202]
    channel = build_channel({"type": "pagerduty", "routing_key": "R" * 32, "url": http_endpoint.url + "/v2/enqueue"})
    assert deliver(channel, _notification("firing")).delivered
    assert deliver(channel, _notification("resolved")).delivered
    trigger, resolve = (r["json"] for r in http_endpoint.requests)
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == dedup_key("ops/abc") and len(trigger["dedup_key"]) <= 255
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["group"] == "order_to_cash"
    assert "payload" not in resolve and trigger["routing_key"] == "R" * 32


def test_alertmanager_v2_alerts(http_endpoint):
    channel = build_channel({"type": "alertmanager", "url": http_endpoint.url, "resolve_timeout_s": 300})
    assert deliver(channel, _notification("firing")).delivered
    assert deliver(channel, _notification("resolved")).delivered
    firing, resolved = (r["json"] for r in http_endpoint.requests)
    assert http_endpoint.requests[0]["path"] == "/api/v2/alerts"
    assert firing[0]["endsAt"] == "2026-11-20T12:15:00Z"  # sent_at + resolve timeout: still firing then
    assert resolved[0]["endsAt"] == "2026-11-20T12:09:00Z"  # in the past: resolved


def test_email_through_a_real_smtp_server(smtp_server):
    channel = build_channel({"type": "email", "to": ["oncall@example.com"], "from": "biztrace@example.com",
                             "host": "127.0.0.1", "port": smtp_server.port})  # fmt: skip
    assert deliver(channel, _notification()).delivered
    [message] = smtp_server.received
    assert message["Subject"] == "[FIRING:1] OrdersStuck" and message["To"] == "oncall@example.com"
    text = message.get_payload()
    assert "7 orders are stuck past their SLA" in text and "O-6" in text and "runbook: https://runbooks/stuck" in text


def test_retries_with_backoff_then_succeeds(http_endpoint):
    http_endpoint.statuses = [503, 503, 200]
    slept: list[float] = []
    result = deliver(build_channel({"type": "webhook", "url": http_endpoint.url}), _notification(),
                     initial_backoff_s=1, sleep=slept.append)  # fmt: skip
    assert result.delivered and result.attempts == 3 and slept == [1, 2]


def test_retry_after_is_honoured_and_400_is_not_retried(http_endpoint):
    http_endpoint.statuses = [429, 200]
    http_endpoint.headers = {"Retry-After": "7"}
    slept: list[float] = []
    assert deliver(build_channel({"type": "webhook", "url": http_endpoint.url}), _notification(),
                   sleep=slept.append).delivered  # fmt: skip
    assert slept == [7]
    http_endpoint.statuses = [400]
    result = deliver(build_channel({"type": "webhook", "url": http_endpoint.url}), _notification(), sleep=slept.append)
    assert not result.delivered and result.attempts == 1 and "400" in result.error


def test_an_endpoint_that_is_down_fails_visibly_without_raising():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    slept: list[float] = []
    result = deliver(build_channel({"type": "webhook", "url": f"http://127.0.0.1:{port}/x?token=secret"}),
                     _notification(), attempts=3, sleep=slept.append)  # fmt: skip
    assert not result.delivered and result.attempts == 3 and len(slept) == 2
    assert "cannot reach" in result.error and "secret" not in result.error


def test_bad_channel_configuration_is_a_clear_error():
    with pytest.raises(ConfigError, match="channel type 'sms'"):
        build_channel({"type": "sms"})
    with pytest.raises(ConfigError, match="email channel: to"):
        build_channel({"type": "email", "to": []})
    with pytest.raises(ConfigError, match="webhook channel: url"):
        build_channel({"type": "webhook", "url": "ftp://x"})


def test_recording_channel_double():
    channel = RecordingChannel(fail_times=1)
    result = deliver(channel, _notification(), sleep=lambda _: None)
    assert result.delivered and result.attempts == 2 and len(channel.sent) == 1
