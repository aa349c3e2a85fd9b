"""Slack incoming webhook against a real local HTTP server: a readable message, a secret URL."""

from __future__ import annotations

from biztrace.alerts.channels import build_channel, deliver
from biztrace.alerts.channels.slack import message

SLACK_PATH = "/services/T000/B000/XXXXSECRET"


def _sections(body: dict) -> list[str]:
    return [block["text"]["text"] for block in body["blocks"] if block["type"] == "section"]


def test_firing_message_is_readable(http_endpoint, notification):
    channel = build_channel({"type": "slack", "url": http_endpoint.url + SLACK_PATH})
    assert deliver(channel, notification).delivered
    [request] = http_endpoint.requests
    assert request.path == SLACK_PATH
    body = request.json
    assert set(body) == {"text", "blocks"}
    assert body["text"] == "[FIRING:1] OrdersStuck (process=order_to_cash)"
    header = body["blocks"][0]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert header["text"]["text"] == ":red_circle: [FIRING:1] OrdersStuck (process=order_to_cash)"
    context = body["blocks"][1]["elements"][0]["text"]
    assert "Receiver *ops*" in context and "process=`order_to_cash`" in context
    assert "<http://biztrace.example/alerts|Open in biztrace>" in context
    [section] = _sections(body)
    assert section.splitlines() == [
        ":red_circle: *OrdersStuck*: 7 orders are stuck past their SLA",
        "*Value:* 7  ·  *Severity:* critical",
        "*Transactions:* `O-0`, `O-1`, `O-2`, `O-3`, `O-4` and 2 more",
        "<https://runbooks/stuck|Runbook>",
    ]


def test_resolved_message_says_so(make_notification):
    body = message(make_notification("resolved"))
    assert body["text"].startswith("[RESOLVED] OrdersStuck")
    assert body["blocks"][0]["text"]["text"].startswith(":white_check_mark: ")
    assert _sections(body)[0].startswith(":white_check_mark: *OrdersStuck* (resolved): ")


def test_colour_follows_the_worst_firing_severity(make_alert, make_notification):
    alerts = [make_alert("Late", severity="warning", transactions=0, annotations={}),
              make_alert("Failed", severity="error", value=0.25),
              make_alert("Old", state="resolved", severity="critical")]  # fmt: skip
    body = message(make_notification(alerts=alerts))
    assert body["blocks"][0]["text"]["text"].startswith(":large_orange_circle: [FIRING:2]")
    late, failed, old = _sections(body)
    assert late.splitlines() == [":large_yellow_circle: *Late*", "*Value:* 7  ·  *Severity:* warning"]
    assert failed.startswith(":large_orange_circle: *Failed*") and "*Value:* 0.25" in failed
    assert old.startswith(":white_check_mark: *Old* (resolved)")


def test_slack_control_characters_are_escaped(make_alert, make_notification):
    alert = make_alert(annotations={"summary": "<!channel> stock & orders > 5"})
    [section] = _sections(message(make_notification(alerts=[alert])))
    assert "&lt;!channel&gt; stock &amp; orders &gt; 5" in section and "<!channel>" not in section


def test_many_alerts_are_counted_not_listed(make_alert, make_notification):
    body = message(make_notification(alerts=[make_alert(f"R{i}") for i in range(14)]), max_alerts=10)
    assert len(_sections(body)) == 10
    assert body["blocks"][-1]["elements"][0]["text"] == "and 4 more alerts"
    assert len(body["blocks"]) <= 50


def test_the_webhook_url_is_never_printed(http_endpoint, notification, sleeps):
    http_endpoint.answer((404, {}, b"no_service"))
    channel = build_channel({"type": "slack", "url": http_endpoint.url + SLACK_PATH})
    result = deliver(channel, notification, sleep=sleeps)
    assert not result.delivered and result.attempts == 1
    assert result.error == "Slack webhook at 127.0.0.1 answered 404 Not Found: no_service (not retried)"
    assert "SECRET" not in repr(channel) and "SECRET" not in str(channel.config)


def test_slack_errors_are_retried(http_endpoint, notification, sleeps):
    http_endpoint.answer((500, {}, b"rollup_error"), 200)
    channel = build_channel({"type": "slack", "url": http_endpoint.url + SLACK_PATH})
    assert deliver(channel, notification, sleep=sleeps).attempts == 2
