"""E-mail over SMTP with aiosmtplib.

The message is built here from an `OutgoingMail`: multipart/alternative text and
HTML, attachments (the .ics invite) beside them, and the caller's Message-ID, which
makes a repeat after a crash recognisable. SMTP replies are sorted the way the
effect dispatcher needs: 4xx and network trouble may pass (`DeliveryDeferred`),
5xx will not (`DeliveryRejected`). Errors carry reply codes, never the server's
text, which often quotes an address (ARCHITECTURE.md rule 7).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from kairos.providers.errors import DeliveryDeferred, DeliveryRejected
from kairos.providers.mail import OutgoingMail
from notifications.config import ChannelSettings, SmtpSecurity


def mime_message(mail: OutgoingMail) -> EmailMessage:
    message = EmailMessage()
    message["Message-ID"] = mail.message_id
    message["Date"] = format_datetime(mail.date)
    message["From"] = mail.sender
    message["To"] = ", ".join(mail.to)
    message["Subject"] = mail.subject
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    for attachment in mail.attachments:
        maintype, _, rest = attachment.content_type.partition("/")
        subtype, *params = (part.strip() for part in rest.split(";"))
        message.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename,
            params=dict(param.split("=", 1) for param in params),
        )
    return message


@dataclass(frozen=True)
class SmtpMailer:
    """A `Mailer` that opens one SMTP session per message (the effect dispatcher runs
    several at once, one per thread)."""

    host: str
    port: int
    security: SmtpSecurity = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: ChannelSettings) -> SmtpMailer | None:
        if settings.smtp_host is None or settings.mail_from is None:
            return None
        password = settings.smtp_password
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=password.get_secret_value() if password is not None else None,
            timeout=settings.provider_timeout_seconds,
        )

    def send(self, mail: OutgoingMail) -> None:
        """Send from a thread with no event loop (the dispatcher's): see `send_async`."""
        asyncio.run(self.send_async(mail))

    async def send_async(self, mail: OutgoingMail) -> None:
        try:
            await aiosmtplib.send(
                mime_message(mail),
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refusal.code for refusal in exc.recipients]
            raise _by_code(min(codes), f"recipients refused: {codes}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            # The code only: a server's text often quotes the address it refused.
            raise _by_code(exc.code, f"SMTP server answered {exc.code}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Connection refused or dropped, timeouts, TLS trouble: the server may be back.
            raise DeliveryDeferred(f"SMTP {self.host}:{self.port}: {exc}") from exc


def _by_code(code: int, message: str) -> Exception:
    return DeliveryDeferred(message) if code < 500 else DeliveryRejected(message)
