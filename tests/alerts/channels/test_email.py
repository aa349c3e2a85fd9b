"""Email through a real SMTP server (aiosmtpd on 127.0.0.1): subject, body, recipients, login."""

from __future__ import annotations

import pytest

from biztrace.alerts.channels import ChannelError, build_channel, deliver
from biztrace.config.errors import ConfigError

# The login test server speaks plain text (a test server only); aiosmtpd warns about that.
plain_text_login = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


def _email(port: int, **options: object):
    return build_channel({"type": "email", "to": ["oncall@example.com", "Ops Lead <lead@example.com>"],
                          "from": "biztrace@example.com", "host": "127.0.0.1", "port": port,
                          "helo_name": "biztrace.test", "timeout_s": 5, **options})  # fmt: skip


def test_mail_arrives_with_subject_body_and_recipients(smtp_server, notification):
    result = deliver(_email(smtp_server.port), notification)
    assert result.delivered and result.attempts == 1 and result.channel == "email"
    [(envelope, message)] = smtp_server.messages
    assert envelope.mail_from == "biztrace@example.com"
    assert envelope.rcpt_tos == ["oncall@example.com", "lead@example.com"]
    assert message["Subject"] == "[FIRING:1] OrdersStuck (process=order_to_cash)"
    assert message["From"] == "biztrace@example.com"
    assert message["To"] == "oncall@example.com, Ops Lead <lead@example.com>"
    assert message["Date"] == "Fri, 20 Nov 2026 12:10:00 +0000"
    assert message["X-Biztrace-Group-Key"] == "ops/abc" and message["Message-ID"].endswith("@example.com>")
    assert message.get_content_type() == "text/plain"
    text = message.get_content()
    assert text.splitlines()[:4] == ["[FIRING:1] OrdersStuck (process=order_to_cash)", "",
                                     "Receiver: ops", "Open in biztrace: http://biztrace.example/alerts"]  # fmt: skip
    assert "FIRING  OrdersStuck  severity=critical  value=7" in text
    assert "  7 orders are stuck past their SLA" in text
    assert "  since: 2026-11-20 12:00:00 UTC" in text
    assert "  transactions: O-0, O-1, O-2, O-3, O-4, O-5, O-6" in text
    assert "  runbook: https://runbooks/stuck" in text


def test_html_alternative(smtp_server, make_alert, make_notification):
    alert = make_alert(
        transactions=25, annotations={"summary": "<b>25</b> stuck", "runbook_url": "https://rb/x?a=1&b=2"}
    )
    assert deliver(_email(smtp_server.port, html=True), make_notification(alerts=[alert])).delivered
    [(_, message)] = smtp_server.messages
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "O-19 and 5 more" in plain and "O-19 and 5 more" in html
    assert "&lt;b&gt;25&lt;/b&gt; stuck" in html and '<a href="https://rb/x?a=1&amp;b=2">runbook</a>' in html


def test_resolved_mail(smtp_server, make_notification):
    assert deliver(_email(smtp_server.port), make_notification("resolved")).delivered
    [(_, message)] = smtp_server.messages
    assert message["Subject"] == "[RESOLVED] OrdersStuck (process=order_to_cash)"
    assert "RESOLVED  OrdersStuck" in message.get_content()


@plain_text_login
def test_login(smtp_server_with_login, notification):
    channel = _email(
        smtp_server_with_login.port, username=smtp_server_with_login.user, password=smtp_server_with_login.password
    )
    assert deliver(channel, notification).delivered
    assert smtp_server_with_login.logins == ["alerts"] and len(smtp_server_with_login.messages) == 1


@plain_text_login
def test_a_refused_login_is_not_retried_and_keeps_the_password_secret(smtp_server_with_login, notification, sleeps):
    channel = _email(smtp_server_with_login.port, username="alerts", password="wrong-pa55word")
    result = deliver(channel, notification, sleep=sleeps)
    assert not result.delivered and result.attempts == 1
    assert "refused the login of 'alerts' (535)" in result.error and "pa55word" not in result.error
    assert "pa55word" not in repr(channel)


def test_starttls_on_a_server_without_it_is_a_clear_unrecoverable_error(smtp_server, notification):
    with pytest.raises(ChannelError) as caught:
        _email(smtp_server.port, starttls=True).send(notification)
    assert not caught.value.recoverable and "does not support" in caught.value.message
    assert "STARTTLS" in caught.value.message


def test_temporary_refusal_is_retried_and_permanent_is_not(smtp_server, notification, sleeps):
    smtp_server.data_reply = "451 4.3.0 try again later"
    result = deliver(_email(smtp_server.port), notification, attempts=2, sleep=sleeps)
    assert not result.delivered and result.attempts == 2 and sleeps.delays == [1]
    assert "answered 451 4.3.0 try again later" in result.error
    smtp_server.data_reply = "554 5.7.1 rejected"
    result = deliver(_email(smtp_server.port), notification, sleep=sleeps)
    assert not result.delivered and result.attempts == 1 and "554" in result.error
    assert smtp_server.messages == []


def test_a_server_that_is_down(closed_port, notification, sleeps):
    result = deliver(_email(closed_port), notification, attempts=2, sleep=sleeps)
    assert not result.delivered and result.attempts == 2
    assert result.error.startswith(f"cannot send mail through SMTP 127.0.0.1:{closed_port}: ")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"to": []}, "to: List should have at least 1 item"),
        ({"to": ["not an address"]}, "is not an email address"),
        ({"to": ["a@example.com"], "from": "nobody"}, "from: .* is not an email address"),
        ({"to": ["a@example.com"], "starttls": True, "ssl": True}, "not both"),
        ({"to": ["a@example.com"], "username": "u"}, "username and password go together"),
        ({"to": ["a@example.com"], "port": 70000}, "port: Input should be less than or equal to 65535"),
    ],
)
def test_invalid_email_configuration(options, message):
    with pytest.raises(ConfigError, match=message):
        build_channel({"type": "email", **options})
