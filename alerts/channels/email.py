"""Email over SMTP: the group's summary as subject, its alerts, values, transactions and
runbooks as plain text (and, optionally, as a simple HTML alternative).
"""

from __future__ import annotations

import html
import logging
import smtplib
import ssl
from datetime import UTC
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from biztrace.alerts.channels.base import ChannelError, Deadline, scrub
from biztrace.config.receivers import EmailConfig
from biztrace.readmodel.models import AlertInstance, Notification, naive_utc

logger = logging.getLogger(__name__)

TRANSACTIONS_LISTED = 20
"""Transaction keys listed per alert; the rest are counted."""


def _transactions(alert: AlertInstance) -> str:
    keys = ", ".join(t.key for t in alert.transactions[:TRANSACTIONS_LISTED])
    more = len(alert.transactions) - TRANSACTIONS_LISTED
    return keys + (f" and {more} more" if more > 0 else "")


def body(notification: Notification) -> str:
    """The plain-text body: a header, then each alert with its value, labels, transactions and runbook."""
    lines = [notification.summary(), "", f"Receiver: {notification.receiver}"]
    if notification.external_url:
        lines.append(f"Open in biztrace: {notification.external_url}")
    lines.append("")
    for alert in notification.alerts:
        lines.append(
            f"{alert.state.upper()}  {alert.labels.get('alertname', alert.rule)}  "
            f"severity={alert.severity}  value={alert.value:g}"
        )
        for annotation in ("summary", "description"):
            if alert.annotations.get(annotation):
                lines.append(f"  {alert.annotations[annotation]}")
        if alert.at_risk is not None:
            lines.append(f"  at risk: {alert.at_risk.text()}")
        lines.append("  labels: " + ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items())))
        if alert.active_since:
            lines.append(f"  since: {naive_utc(alert.active_since).isoformat(sep=' ')} UTC")
        if alert.transactions:
            lines.append(f"  transactions: {_transactions(alert)}")
        if alert.annotations.get("runbook_url"):
            lines.append(f"  runbook: {alert.annotations['runbook_url']}")
        lines.append("")
    return "\n".join(lines)


def html_body(notification: Notification) -> str:
    """A simple HTML rendering of :func:`body` (one table row per alert), every value escaped."""
    e = html.escape
    rows = []
    for alert in notification.alerts:
        what = alert.annotations.get("summary") or alert.annotations.get("description") or ""
        runbook = alert.annotations.get("runbook_url", "")
        link = f'<a href="{e(runbook)}">runbook</a>' if runbook else ""
        rows.append(
            f"<tr><td>{e(alert.state)}</td><td>{e(alert.labels.get('alertname', alert.rule))}</td>"
            f"<td>{e(alert.severity)}</td><td>{alert.value:g}</td>"
            f"<td>{e(alert.at_risk.text() if alert.at_risk is not None else '')}</td><td>{e(what)}</td>"
            f"<td>{e(_transactions(alert))}</td><td>{link}</td></tr>"
        )
    header = "".join(
        f"<th>{h}</th>"
        for h in ("State", "Alert", "Severity", "Value", "At risk", "Summary", "Transactions", "Runbook")
    )
    table = f'<table border="1" cellpadding="4"><tr>{header}</tr>{"".join(rows)}</table>'
    title = f"<h2>{e(notification.summary())}</h2><p>Receiver: {e(notification.receiver)}</p>"
    return f"<html><body>{title}{table}</body></html>"


def build_message(notification: Notification, config: EmailConfig) -> EmailMessage:
    """The email for a notification: subject, addresses, date and the body (or bodies)."""
    message = EmailMessage()
    message["Subject"] = notification.summary()
    message["From"] = config.sender
    message["To"] = ", ".join(config.to)
    message["Date"] = format_datetime(naive_utc(notification.sent_at).replace(tzinfo=UTC))
    message["Message-ID"] = make_msgid("biztrace", domain=parseaddr(config.sender)[1].rpartition("@")[2])
    message["X-Biztrace-Group-Key"] = notification.group_key
    message["X-Biztrace-Status"] = notification.status
    message.set_content(body(notification))
    if config.html:
        message.add_alternative(html_body(notification), subtype="html")
    return message


def _bounded(base: type[smtplib.SMTP], deadline: Deadline) -> type[smtplib.SMTP]:
    """``base`` whose connection is made within, and tracked by, ``deadline``."""

    class Bounded(base):  # type: ignore[valid-type,misc]
        def _get_socket(self, host: str, port: int, timeout: float) -> Any:
            sock = super()._get_socket(host, port, min(timeout, deadline.remaining()))
            deadline.track(sock)
            return sock

    return Bounded


class EmailChannel:
    """Mails :func:`build_message` through the configured SMTP server.

    Immutable; ``send`` is thread-safe (one connection per send) and blocks for at most
    ``timeout_s`` in all (a whole-delivery deadline). SMTP 4xx answers and lost connections are
    recoverable; 5xx answers, a refused login and a server without STARTTLS are not.
    When the server refuses only some recipients, the others have the mail: that is
    logged and counted as delivered (sending again would duplicate it).

    Args:
        config: a validated configuration.
    """

    name = "email"

    def __init__(self, config: EmailConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"EmailChannel({self.config!r})"

    def _connect(self, context: ssl.SSLContext, deadline: Deadline) -> smtplib.SMTP:
        c = self.config
        if c.ssl:
            return _bounded(smtplib.SMTP_SSL, deadline)(
                c.host, c.port, local_hostname=c.helo_name, timeout=c.timeout_s, context=context
            )
        return _bounded(smtplib.SMTP, deadline)(c.host, c.port, local_hostname=c.helo_name, timeout=c.timeout_s)

    def send(self, notification: Notification) -> None:
        """Mail the notification once.

        Raises:
            ChannelError: the server refused the mail or could not be reached.
        """
        c = self.config
        where = f"SMTP {c.host}:{c.port}"
        secrets = [c.password.get_secret_value()] if c.password else []
        message = build_message(notification, c)
        deadline: Deadline | None = None
        try:
            context = ssl.create_default_context()
            with Deadline(c.timeout_s) as deadline, self._connect(context, deadline) as smtp:
                if c.starttls:
                    smtp.starttls(context=context)
                    deadline.track(smtp.sock)  # the TLS socket replaced the one tracked
                if c.username is not None and c.password is not None:
                    smtp.login(c.username, c.password.get_secret_value())
                refused = smtp.send_message(message)
        except smtplib.SMTPNotSupportedError as exc:
            raise ChannelError(scrub(f"{where} does not support that: {exc}", secrets), False) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise ChannelError(f"{where} refused the login of {c.username!r} ({exc.smtp_code})", False) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {address: code for address, (code, _) in exc.recipients.items()}
            temporary = all(400 <= code < 500 for code in codes.values())
            raise ChannelError(f"{where} refused every recipient: {codes}", temporary) from exc
        except smtplib.SMTPResponseException as exc:
            error = exc.smtp_error
            text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
            raise ChannelError(
                scrub(f"{where} answered {exc.smtp_code} {text}", secrets), 400 <= exc.smtp_code < 500
            ) from exc
        except ssl.SSLCertVerificationError as exc:
            raise ChannelError(f"{where}: certificate not trusted: {exc.verify_message}", False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            if deadline is not None and deadline.expired:
                raise ChannelError(f"{where} did not finish within {c.timeout_s:g}s (whole delivery)", True) from exc
            reason = scrub(str(exc) or type(exc).__name__, secrets)
            raise ChannelError(f"cannot send mail through {where}: {reason}", True) from exc
        if refused:
            logger.warning(
                "%s refused some recipients of %s: %s",
                where,
                notification.group_key,
                {address: code for address, (code, _) in refused.items()},
            )
