"""Alertmanager API v2 against a real local HTTP server: the alert array and its end times."""

from __future__ import annotations

from biztrace.alerts.channels import build_channel, deliver
from biztrace.alerts.channels.alertmanager import alerts, label_name


def test_firing_alerts_end_in_the_future(http_endpoint, notification):
    channel = build_channel({"type": "alertmanager", "url": http_endpoint.url, "resolve_timeout_s": 300,
                             "token": "am-token"})  # fmt: skip
    assert deliver(channel, notification).delivered
    [request] = http_endpoint.requests
    assert request.path == "/api/v2/alerts" and request.headers["Authorization"] == "Bearer am-token"
    [alert] = request.json
    assert set(alert) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
    assert alert["labels"] == {"alertname": "OrdersStuck", "severity": "critical", "process": "order_to_cash",
                               "system": "wms"}  # fmt: skip
    assert alert["annotations"] == {"summary": "7 orders are stuck past their SLA",
                                    "runbook_url": "https://runbooks/stuck",
                                    "transactions": "O-0, O-1, O-2, O-3, O-4, O-5, O-6"}  # fmt: skip
    assert alert["startsAt"] == "2026-11-20T12:00:00Z"
    assert alert["endsAt"] == "2026-11-20T12:15:00Z"  # sent_at 12:10 + resolve timeout
    assert alert["generatorURL"] == "http://biztrace.example/alerts"


def test_resolved_alerts_end_in_the_past(http_endpoint, make_notification):
    channel = build_channel({"type": "alertmanager", "url": http_endpoint.url + "/"})
    assert deliver(channel, make_notification("resolved")).delivered
    [alert] = http_endpoint.requests[0].json
    assert alert["endsAt"] == "2026-11-20T12:09:00Z"  # resolved_at, before sent_at (12:10)


def test_a_group_with_firing_and_resolved_alerts(make_alert, make_notification):
    config = build_channel({"type": "alertmanager", "url": "http://am:9093", "resolve_timeout_s": 60,
                            "generator_url": "http://biztrace/rules"}).config  # type: ignore[attr-defined]  # fmt: skip
    firing, resolved = alerts(make_notification(alerts=[make_alert("A"), make_alert("B", state="resolved")]), config)
    assert firing["endsAt"] == "2026-11-20T12:11:00Z" and resolved["endsAt"] == "2026-11-20T12:09:00Z"
    assert firing["generatorURL"] == resolved["generatorURL"] == "http://biztrace/rules"


def test_start_is_never_after_end(make_alert, make_notification):
    config = build_channel({"type": "alertmanager", "url": "http://am:9093"}).config  # type: ignore[attr-defined]
    alert = make_alert(state="resolved").model_copy(update={"active_since": None})
    [document] = alerts(make_notification("resolved", alerts=[alert]), config)
    assert document["startsAt"] == document["endsAt"] == "2026-11-20T12:09:00Z"


def test_route_prefix_and_full_endpoint_urls(http_endpoint, notification):
    for url in (http_endpoint.url + "/alertmanager", http_endpoint.url + "/alertmanager/api/v2/alerts"):
        assert deliver(build_channel({"type": "alertmanager", "url": url}), notification).delivered
    assert [r.path for r in http_endpoint.requests] == ["/alertmanager/api/v2/alerts"] * 2


def test_label_names_are_made_valid(make_alert, make_notification):
    assert label_name("biz.stage") == "biz_stage" and label_name("9lives") == "_9lives" and label_name("ok_1") == "ok_1"
    config = build_channel({"type": "alertmanager", "url": "http://am:9093"}).config  # type: ignore[attr-defined]
    [document] = alerts(make_notification(alerts=[make_alert(labels={"biz.stage": "picked"})]), config)
    assert document["labels"]["biz_stage"] == "picked"


def test_an_invalid_alert_is_not_retried(http_endpoint, notification, sleeps):
    http_endpoint.answer((400, {}, b'{"code":400,"message":"start time must be before end time"}'))
    result = deliver(build_channel({"type": "alertmanager", "url": http_endpoint.url}), notification, sleep=sleeps)
    assert not result.delivered and result.attempts == 1
    assert "start time must be before end time" in result.error
