"""E-mail over SMTP with aiosmtplib: the `Mailer` of every service that sends mail
(notifications' messages, booking's sign-in links), and the settings that reach it.

The message is built here from an `OutgoingMail`: multipart/alternative text and
HTML, attachments (the .ics invite) beside them, and the caller's Message-ID, which
makes a repeat after a crash recognisable. SMTP replies are sorted the way the
effect dispatcher needs: 4xx and network trouble may pass (`DeliveryDeferred`),
5xx will not (`DeliveryRejected`). Errors carry reply codes, never the server's
text, which often quotes an address (ARCHITECTURE.md rule 7).
"""

from __future__ import annotations

import asyncio
import email.policy
import threading
from email import encoders
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from typing import Literal

import aiosmtplib
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from kairos.providers.errors import DeliveryDeferred, DeliveryRejected
from kairos.providers.mail import OutgoingMail

SmtpSecurity = Literal["starttls", "tls", "none"]


class SmtpSettings(BaseSettings):
    """Where mail goes: configured when SMTP_HOST and MAIL_FROM are set. Optional, so a
    deployment without a mail server still runs (and says what it skips)."""

    # Validation errors must not echo a setting's value: it may be a secret.
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", hide_input_in_errors=True)

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: SmtpSecurity = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str | None = Field(None, description='"Kairos <no-reply@example.com>"')


#: How a message is written out: the classic (`compat32`) policy, whose generator is
#: several times cheaper than the default policy's header parsing, and CRLF for SMTP.
_WIRE = email.policy.compat32.clone(linesep="\r\n")


def _header(value: str) -> str:
    """A header value as RFC 2047 words when it is not ASCII (names, service names)."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def mime_message(mail: OutgoingMail) -> bytes:
    """The message as sent: multipart/alternative text and HTML, in multipart/mixed with
    the attachments when there are any."""
    body = MIMEMultipart("alternative")
    body.attach(MIMEText(mail.text, "plain", "utf-8"))
    if mail.html is not None:
        body.attach(MIMEText(mail.html, "html", "utf-8"))
    message = body
    if mail.attachments:
        message = MIMEMultipart("mixed")
        message.attach(body)
        for attachment in mail.attachments:
            maintype, _, rest = attachment.content_type.partition("/")
            subtype, *params = (part.strip() for part in rest.split(";"))
            part = MIMEBase(maintype, subtype)
            for param in params:
                key, _, value = param.partition("=")
                part.set_param(key, value)
            part.set_payload(attachment.data)
            encoders.encode_base64(part)
            part.add_header("Content-Disposition", "attachment", filename=attachment.filename)
            message.attach(part)
    name, address = parseaddr(mail.sender)
    message["Message-ID"] = mail.message_id
    message["Date"] = format_datetime(mail.date)
    message["From"] = formataddr((name, address), charset="utf-8")
    message["To"] = ", ".join(mail.to)
    message["Subject"] = _header(mail.subject)
    message["MIME-Version"] = "1.0"
    return message.as_bytes(policy=_WIRE)


class _Session:
    """One thread's event loop and its open SMTP connection (None until needed)."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()
        self.client: aiosmtplib.SMTP | None = None


class SmtpMailer:
    """A `Mailer` that keeps one SMTP connection open per thread (the effect dispatcher
    sends from several), so that a message costs one MAIL/RCPT/DATA exchange rather
    than a connection, a greeting and a TLS handshake."""

    def __init__(
        self,
        host: str,
        port: int,
        security: SmtpSecurity = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.security: SmtpSecurity = security
        self._username = username
        self._password = password
        self.timeout = timeout
        self._local = threading.local()
        self._sessions: list[_Session] = []
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: SmtpSettings, timeout: float) -> SmtpMailer | None:
        """The mailer the settings configure, or None when they configure none."""
        if settings.smtp_host is None or settings.mail_from is None:
            return None
        password = settings.smtp_password
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=password.get_secret_value() if password is not None else None,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"SmtpMailer({self.host}:{self.port}, {self.security})"

    def send(self, mail: OutgoingMail) -> None:
        """Send from a thread that runs no event loop (the dispatcher's workers)."""
        session = self._session()
        sender = parseaddr(mail.sender)[1]
        session.runner.run(self._send(session, sender, list(mail.to), mime_message(mail)))

    def check(self) -> None:
        """The SMTP server answers a fresh connection's NOOP (for /readyz; from a thread
        that runs no event loop, as FastAPI runs a sync route)."""

        async def noop() -> None:
            client = aiosmtplib.SMTP(
                hostname=self.host,
                port=self.port,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                timeout=min(self.timeout, 2.0),
            )
            await client.connect()
            try:
                await client.noop()
            finally:
                client.close()

        asyncio.run(noop())

    def close(self) -> None:
        """Close every thread's connection and loop (at shutdown)."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            if session.client is not None and session.client.is_connected:
                session.client.close()
            session.runner.close()

    def _session(self) -> _Session:
        session: _Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = _Session()
            with self._lock:
                self._sessions.append(session)
        return session

    async def _connected(self, session: _Session) -> aiosmtplib.SMTP:
        if session.client is None or not session.client.is_connected:
            session.client = aiosmtplib.SMTP(
                hostname=self.host,
                port=self.port,
                username=self._username,
                password=self._password,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                timeout=self.timeout,
            )
            await session.client.connect()
        return session.client

    async def _send(
        self, session: _Session, sender: str, recipients: list[str], message: bytes
    ) -> None:
        try:
            try:
                await (await self._connected(session)).sendmail(sender, recipients, message)
            except aiosmtplib.SMTPServerDisconnected:
                # The server closed a connection that sat idle: open a new one, once.
                session.client = None
                await (await self._connected(session)).sendmail(sender, recipients, message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            self._drop(session)
            codes = [refusal.code for refusal in exc.recipients]
            raise _by_code(min(codes), f"recipients refused: {codes}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            self._drop(session)
            # The code only: a server's text often quotes the address it refused.
            raise _by_code(exc.code, f"SMTP server answered {exc.code}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            self._drop(session)
            # Connection refused or dropped, timeouts, TLS trouble: the server may be back.
            raise DeliveryDeferred(f"SMTP {self.host}:{self.port}: {exc}") from exc

    @staticmethod
    def _drop(session: _Session) -> None:
        """Forget a connection after a failure: the next message starts afresh."""
        if session.client is not None and session.client.is_connected:
            session.client.close()
        session.client = None


def _by_code(code: int, message: str) -> Exception:
    return DeliveryDeferred(message) if code < 500 else DeliveryRejected(message)
