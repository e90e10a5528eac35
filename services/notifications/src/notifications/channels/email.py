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
import threading
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

    def __repr__(self) -> str:
        return f"SmtpMailer({self.host}:{self.port}, {self.security})"

    def send(self, mail: OutgoingMail) -> None:
        """Send from a thread that runs no event loop (the dispatcher's workers)."""
        session = self._session()
        session.runner.run(self._send(session, mime_message(mail)))

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

    async def _send(self, session: _Session, message: EmailMessage) -> None:
        try:
            try:
                await (await self._connected(session)).send_message(message)
            except aiosmtplib.SMTPServerDisconnected:
                # The server closed a connection that sat idle: open a new one, once.
                session.client = None
                await (await self._connected(session)).send_message(message)
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
