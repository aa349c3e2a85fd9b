"""Email over SMTP: a plain-text summary of the group, with transactions and runbooks."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from pydantic import BaseModel, Field, SecretStr

from alerts.channels.base import ChannelError
from alerts.models import Notification


class EmailConfig(BaseModel):
    to: list[str] = Field(min_length=1)
    sender: str = Field("biztrace@localhost", alias="from")
    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = Field(10.0, gt=0)

    model_config = {"populate_by_name": True}


def body(notification: Notification) -> str:
    lines = [notification.summary(), ""]
    for alert in notification.alerts:
        lines.append(f"{alert.state.upper()} {alert.rule} (severity {alert.severity}, value {alert.value:g})")
        if alert.annotations.get("summary"):
            lines.append(f"  {alert.annotations['summary']}")
        labels = ", ".join(f"{k}={v}" for k, v in alert.labels.items())
        lines.append(f"  labels: {labels}")
        if alert.transactions:
            lines.append("  transactions: " + ", ".join(t.key for t in alert.transactions[:20]))
        if alert.annotations.get("runbook_url"):
            lines.append(f"  runbook: {alert.annotations['runbook_url']}")
        lines.append("")
    return "\n".join(lines)


class EmailChannel:
    name = "email"

    def __init__(self, config: EmailConfig) -> None:
        self.config = config

    def send(self, notification: Notification) -> None:
        message = EmailMessage()
        message["Subject"] = notification.summary()
        message["From"] = self.config.sender
        message["To"] = ", ".join(self.config.to)
        message.set_content(body(notification))
        c = self.config
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout_s) as smtp:
                if c.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if c.username and c.password:
                    smtp.login(c.username, c.password.get_secret_value())
                smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            raise ChannelError(f"SMTP {c.host}:{c.port} answered {exc.smtp_code}", recoverable=exc.smtp_code >= 400
                               and exc.smtp_code < 500) from exc  # fmt: skip
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"cannot send mail through {c.host}:{c.port}: {exc}", recoverable=True) from exc
