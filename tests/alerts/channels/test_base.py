"""deliver(): retries, backoff, Retry-After, failures that never raise; the recording double;
build_channel(): validated configuration, secrets never printed.
"""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from biztrace.alerts.channels import (
    KINDS,
    Channel,
    ChannelError,
    DeliveryResult,
    PagerDutyConfig,
    RecordingChannel,
    WebhookChannel,
    WebhookConfig,
    build_channel,
    channel_config,
    deliver,
)
from biztrace.alerts.channels.base import parse_retry_after, post_json, rfc3339
from biztrace.alerts.errors import AlertsError
from biztrace.config.errors import ConfigError
from biztrace.readmodel.models import Notification

AT = datetime(2026, 11, 20, 12, 30)


def _webhook(url: str) -> Channel:
    return build_channel({"type": "webhook", "url": url, "timeout_s": 5})


# -- deliver against a real local server --------------------------------------------------


def test_503_is_retried_with_exponential_backoff_then_delivered(http_endpoint, notification, sleeps):
    http_endpoint.answer(503, 503, 503, 200)
    result = deliver(_webhook(http_endpoint.url), notification, initial_backoff_s=1, sleep=sleeps, clock=lambda: AT)
    assert result == DeliveryResult(channel="webhook", receiver="ops", group_key="ops/abc", status="firing",
                                    delivered=True, attempts=4, error=None, at=AT)  # fmt: skip
    assert sleeps.delays == [1, 2, 4]
    assert len(http_endpoint.requests) == 4


def test_backoff_is_capped_and_attempts_are_bounded(http_endpoint, notification, sleeps):
    http_endpoint.answer(*[500] * 6)
    result = deliver(_webhook(http_endpoint.url), notification, attempts=6, initial_backoff_s=2, max_backoff_s=5,
                     sleep=sleeps)  # fmt: skip
    assert not result.delivered and result.attempts == 6
    assert sleeps.delays == [2, 4, 5, 5, 5]
    assert "answered 500" in result.error and "gave up after 6 attempts" in result.error


def test_400_is_not_retried(http_endpoint, notification, sleeps):
    http_endpoint.answer(400)
    result = deliver(_webhook(http_endpoint.url), notification, sleep=sleeps)
    assert not result.delivered and result.attempts == 1 and sleeps.delays == []
    assert "answered 400" in result.error and "not retried" in result.error
    assert len(http_endpoint.requests) == 1


def test_429_retry_after_seconds_is_honoured(http_endpoint, notification, sleeps):
    http_endpoint.answer((429, {"Retry-After": "7"}), 200)
    result = deliver(_webhook(http_endpoint.url), notification, initial_backoff_s=1, sleep=sleeps)
    assert result.delivered and result.attempts == 2 and sleeps.delays == [7]


def test_retry_after_shorter_than_the_backoff_waits_the_backoff(http_endpoint, notification, sleeps):
    http_endpoint.answer(503, (503, {"Retry-After": "1"}), 200)
    assert deliver(_webhook(http_endpoint.url), notification, initial_backoff_s=3, sleep=sleeps).delivered
    assert sleeps.delays == [3, 6]


def test_retry_after_beyond_max_backoff_is_left_for_the_next_pass(http_endpoint, notification, sleeps):
    http_endpoint.answer((503, {"Retry-After": "600"}))
    result = deliver(_webhook(http_endpoint.url), notification, max_backoff_s=30, sleep=sleeps)
    assert not result.delivered and result.attempts == 1 and sleeps.delays == []
    assert "retry after 600s" in result.error and "next pass" in result.error


def test_retry_after_as_an_http_date_is_honoured(http_endpoint, notification, sleeps):
    when = datetime.now(UTC) + timedelta(seconds=1000)
    http_endpoint.answer((429, {"Retry-After": format_datetime(when, usegmt=True)}), 200)
    result = deliver(_webhook(http_endpoint.url), notification, max_backoff_s=3600, sleep=sleeps)
    assert result.delivered
    [delay] = sleeps.delays
    assert 900 < delay <= 1000


def test_an_endpoint_that_is_down_fails_visibly_without_raising(closed_port, notification, sleeps):
    channel = _webhook(f"http://127.0.0.1:{closed_port}/hook?token=s3cret-query")
    result = deliver(channel, notification, attempts=3, sleep=sleeps)
    assert not result.delivered and result.attempts == 3 and sleeps.delays == [1, 2]
    assert f"cannot reach http://127.0.0.1:{closed_port}/hook" in result.error
    assert "s3cret-query" not in result.error


def test_a_server_that_never_answers_times_out_recoverably(silent_port, notification):
    channel = build_channel({"type": "webhook", "url": f"http://127.0.0.1:{silent_port}/", "timeout_s": 0.2})
    with pytest.raises(ChannelError) as caught:
        channel.send(notification)
    assert caught.value.recoverable and "0.2s" in str(caught.value)


def test_redirects_are_not_followed(http_endpoint, notification, sleeps):
    http_endpoint.answer((302, {"Location": http_endpoint.url + "/elsewhere"}))
    result = deliver(_webhook(http_endpoint.url + "/hook"), notification, sleep=sleeps)
    assert not result.delivered and result.attempts == 1 and "redirects are not followed" in result.error
    assert [r.path for r in http_endpoint.requests] == ["/hook"]


def test_the_error_quotes_the_response_without_secrets(http_endpoint, notification):
    http_endpoint.answer((500, {}, b'{"error": "bad token tok-123456", "detail": "\\n  internal  "}'))
    channel = build_channel({"type": "webhook", "url": http_endpoint.url, "token": "tok-123456"})
    with pytest.raises(ChannelError) as caught:
        channel.send(notification)
    assert "bad token **********" in caught.value.message and "tok-123456" not in caught.value.message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_post_json_answers_the_body(http_endpoint):
    http_endpoint.answer((202, {}, b'{"status": "success"}'))
    assert post_json(http_endpoint.url + "/x", {"a": [1, AT]}, timeout_s=5) == b'{"status": "success"}'
    assert http_endpoint.requests[0].json == {"a": [1, "2026-11-20 12:30:00"]}


# -- deliver with the recording double ----------------------------------------------------


def test_unrecoverable_failures_are_not_retried(notification, sleeps):
    channel = RecordingChannel(fail_times=3, recoverable=False)
    result = deliver(channel, notification, sleep=sleeps)
    assert not result.delivered and result.attempts == 1 and channel.attempts == 1 and sleeps.delays == []


def test_a_channel_bug_is_reported_not_raised(notification, caplog):
    class Broken:
        name = "broken"

        def send(self, notification: Notification) -> None:
            raise KeyError("oops")

    with caplog.at_level(logging.ERROR, logger="alerts.channels.base"):
        result = deliver(Broken(), notification, sleep=lambda _: None)
    assert not result.delivered and result.attempts == 1 and "KeyError" in result.error
    assert "channel broken failed unexpectedly" in caplog.text


def test_deliver_rejects_invalid_retry_arguments(notification):
    with pytest.raises(ValueError, match="attempts"):
        deliver(RecordingChannel(), notification, attempts=0)
    with pytest.raises(ValueError, match="backoff"):
        deliver(RecordingChannel(), notification, initial_backoff_s=10, max_backoff_s=1)


def test_recording_channel_records_and_fails_on_demand(notification, make_notification, sleeps):
    channel = RecordingChannel("ops", fail_times=2, retry_after_s=3)
    assert isinstance(channel, Channel)
    result = deliver(channel, notification, initial_backoff_s=1, sleep=sleeps)
    assert result.delivered and result.attempts == 3 and result.channel == "ops"
    assert sleeps.delays == [3, 3] and channel.sent == [notification] and channel.attempts == 3
    resolved = make_notification("resolved")
    channel.fail(1, recoverable=False)
    assert not deliver(channel, resolved).delivered
    assert deliver(channel, resolved).delivered
    assert channel.sent == [notification, resolved]
    channel.sent.clear()  # a copy: the record is untouched
    assert len(channel.sent) == 2
    channel.clear()
    assert channel.sent == [] and channel.attempts == 0


def test_channel_error_carries_its_contract():
    error = ChannelError("x answered 503", True, 2.5)
    assert isinstance(error, AlertsError)
    assert (error.message, error.recoverable, error.retry_after_s) == ("x answered 503", True, 2.5)
    assert str(error) == "x answered 503"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0", 0.0), ("-3", 0.0), ("1.5", 1.5), ("", None), (None, None), ("soon", None), ("nan", None),
     ("Fri, 20 Nov 2026 12:00:30 GMT", 30.0), ("Fri, 20 Nov 2026 11:00:00 GMT", 0.0)],
)  # fmt: skip
def test_parse_retry_after(header, seconds):
    assert parse_retry_after(header, now=datetime(2026, 11, 20, 12, 0, tzinfo=UTC)) == seconds


def test_rfc3339_takes_naive_times_as_utc():
    assert rfc3339(datetime(2026, 11, 20, 12, 0)) == "2026-11-20T12:00:00Z"
    assert rfc3339(datetime(2026, 11, 20, 13, 0, 0, 500, tzinfo=UTC)) == "2026-11-20T13:00:00.000500Z"
    assert rfc3339(datetime.fromisoformat("2026-11-20T14:00:00+02:00")) == "2026-11-20T12:00:00Z"


# -- build_channel ------------------------------------------------------------------------


def test_build_channel_from_a_dict_or_a_model():
    channel = build_channel({"type": "webhook", "url": "https://ops.example.com/hook"})
    assert isinstance(channel, WebhookChannel) and channel.name == "webhook"
    model = WebhookConfig(url="https://ops.example.com/hook", timeout_s=3)
    assert build_channel(model).config is model
    assert channel_config({"type": "pagerduty", "routing_key": "R" * 32}) == PagerDutyConfig(routing_key="R" * 32)
    assert set(KINDS) == {"webhook", "slack", "pagerduty", "email", "alertmanager"}
    for kind in KINDS:
        assert kind in build_channel.__doc__


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"type": "sms"}, "channel type 'sms' is not one of webhook, slack, pagerduty, email, alertmanager"),
        ({"url": "https://x"}, "channel type None"),
        ({"type": "webhook"}, "webhook channel: url: Field required"),
        ({"type": "webhook", "url": "ftp://x"}, "webhook channel: url: must be an http:// or https:// URL"),
        ({"type": "webhook", "url": "https://x", "timout_s": 3}, "webhook channel: timout_s: Extra inputs"),
        ({"type": "webhook", "url": "https://x", "timeout_s": 0}, "webhook channel: timeout_s: Input should be"),
        ({"type": "email", "to": []}, "email channel: to: List should have at least 1 item"),
        ({"type": "pagerduty", "routing_key": "short"}, "pagerduty channel: routing_key: must be the integration's"),
        ({"type": "slack", "url": "hooks.slack.com/x"}, "slack channel: url: must be an http:// or https:// URL"),
    ],
)  # fmt: skip
def test_bad_configuration_is_a_clear_error(options, message):
    with pytest.raises(ConfigError) as caught:
        build_channel(options)
    assert str(caught.value).startswith(message)


def test_build_channel_refuses_what_is_not_a_configuration():
    with pytest.raises(ConfigError, match="mapping with a type"):
        build_channel(["webhook"])  # type: ignore[arg-type]


SECRETS = {
    "webhook": {"type": "webhook", "url": "https://x.example/h", "token": "tok-SECRET-1",
                "headers": {"X-Api-Key": "key-SECRET-2"}},
    "webhook-basic": {"type": "webhook", "url": "https://x.example/h",
                      "basic_auth": {"username": "u", "password": "pw-SECRET-3"}},
    "slack": {"type": "slack", "url": "https://hooks.slack.com/services/T0/B0/SECRET4"},
    "pagerduty": {"type": "pagerduty", "routing_key": "SECRET5" + "r" * 25},
    "email": {"type": "email", "to": ["a@example.com"], "username": "u", "password": "pw-SECRET-6"},
    "alertmanager": {"type": "alertmanager", "url": "https://am.example", "token": "tok-SECRET-7"},
}  # fmt: skip


@pytest.mark.parametrize("name", SECRETS)
def test_secrets_are_never_printed(name):
    options = SECRETS[name]
    channel = build_channel(options)
    config = channel.config  # type: ignore[attr-defined]
    shown = " ".join([repr(config), str(config), repr(channel), str(config.model_dump())])
    assert "SECRET" not in shown and "**********" in shown


@pytest.mark.parametrize("name", SECRETS)
def test_secrets_are_not_repeated_in_configuration_errors(name):
    options = {**SECRETS[name], "timeout_s": -1}
    with pytest.raises(ConfigError) as caught:
        build_channel(options)
    assert "timeout_s" in str(caught.value)
    printed = "".join(traceback.format_exception(caught.value))
    assert "SECRET" not in printed


def test_an_invalid_secret_is_not_repeated_in_the_error():
    options = {"type": "pagerduty", "routing_key": "SECRET-but-too-short"}
    with pytest.raises(ConfigError) as caught:
        build_channel(options)
    assert "routing_key" in str(caught.value)
    assert "SECRET" not in "".join(traceback.format_exception(caught.value))


def test_credentials_in_a_url_are_refused_without_repeating_them():
    with pytest.raises(ConfigError) as caught:
        build_channel({"type": "webhook", "url": "https://user:pw-SECRET@x.example/h"})
    assert "must not carry credentials" in str(caught.value) and "SECRET" not in str(caught.value)
