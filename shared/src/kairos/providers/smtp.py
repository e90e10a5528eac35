"""E-mail over SMTP with aiosmtplib: the `Mailer` of every service that sends mail
(notifications' messages, the webhooks service's notice to operators), and the settings
that configure it.

The message is built here from an `OutgoingMail`: multipart/alternative text and
HTML, attachments (the .ics invite) beside them, and the caller's Message-ID, which
makes a repeat after a crash recognisable. SMTP replies are sorted the way the
effect dispatcher needs: 4xx and network trouble may pass (`DeliveryDeferred`),
5xx will not (`DeliveryRejected`). Errors carry reply codes, never the server's
text, which often quotes an address (ARCHITECTURE.md rule 7).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Sequence
from email import encoders
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import format_datetime, formataddr, parseaddr
from typing import Literal

import aiosmtplib
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from kairos.providers.errors import DeliveryDeferred, DeliveryRejected
from kairos.providers.mail import OutgoingMail

SmtpSecurity = Literal["starttls", "tls", "none"]


class SmtpSettings(BaseSettings):
    """An SMTP server to send through: configured when SMTP_HOST and MAIL_FROM are set."""

    # Validation errors must not echo a setting's value: it may be a secret.
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", hide_input_in_errors=True)

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: SmtpSecurity = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str | None = Field(None, description='"Kairos <no-reply@example.com>"')
    # How many connections a sender keeps open and sends a batch over at once.
    smtp_connections: int = Field(4, ge=1, le=32)


class _WirePolicy(Compat32):
    """How a message is written out: the classic (`compat32`) policy, whose generator is
    several times cheaper than the default policy's header parsing, CRLF for SMTP, and a
    header that needs neither encoding nor folding (nearly all of them) written as it is
    rather than through an `email.header.Header` of its own."""

    def fold_binary(self, name: str, value: str) -> bytes:
        line = f"{name}: {value}"
        limit = self.max_line_length
        if line.isascii() and (limit is None or len(line) <= limit) and "\n" not in line:
            return (line + self.linesep).encode("ascii")
        return super().fold_binary(name, value)


_WIRE = _WirePolicy(linesep="\r\n")


def _boundary(message_id: str, part: str) -> str:
    """A part boundary of its own to the message, the same every time it is built (a
    repeat is byte for byte the same), that its base64 content cannot contain ("=_";
    given, it also spares the generator a search of the content for it)."""
    return f"=_{part}_{hashlib.sha256(message_id.encode()).hexdigest()[:24]}"


def _header(value: str) -> str:
    """A header value as RFC 2047 words when it is not ASCII (names, service names)."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def mime_message(mail: OutgoingMail) -> bytes:
    """The message as sent: multipart/alternative text and HTML, in multipart/mixed with
    the attachments when there are any."""
    body = MIMEMultipart("alternative", boundary=_boundary(mail.message_id, "alt"))
    body.attach(MIMEText(mail.text, "plain", "utf-8"))
    if mail.html is not None:
        body.attach(MIMEText(mail.html, "html", "utf-8"))
    message = body
    if mail.attachments:
        message = MIMEMultipart("mixed", boundary=_boundary(mail.message_id, "mix"))
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
    """One thread's event loop and its open SMTP connections (None until needed)."""

    def __init__(self, connections: int) -> None:
        self.runner = asyncio.Runner()
        self.clients: list[aiosmtplib.SMTP | None] = [None] * connections


class SmtpMailer:
    """A `Mailer` that keeps up to `connections` SMTP connections open per thread (the
    effect dispatcher sends from several), so that a message costs one MAIL/RCPT/DATA
    exchange rather than a connection, a greeting and a TLS handshake; `send_many`
    sends a batch over all of them at once from one event loop, so each connection's
    round trips overlap the others' and the building of the next messages."""

    def __init__(
        self,
        host: str,
        port: int,
        security: SmtpSecurity = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        connections: int = 1,
    ) -> None:
        if connections < 1:
            raise ValueError("an SMTP mailer needs at least one connection")
        self.host = host
        self.port = port
        self.security: SmtpSecurity = security
        self._username = username
        self._password = password
        self.timeout = timeout
        self.connections = connections
        self._local = threading.local()
        self._sessions: list[_Session] = []
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: SmtpSettings, timeout: float = 10.0) -> SmtpMailer | None:
        """The mailer of these settings; None when they configure none."""
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
            connections=settings.smtp_connections,
        )

    def __repr__(self) -> str:
        return f"SmtpMailer({self.host}:{self.port}, {self.security}, {self.connections})"

    def send(self, mail: OutgoingMail) -> None:
        """Send from a thread that runs no event loop (the dispatcher's workers)."""
        if (failed := self.send_many([mail])[0]) is not None:
            raise failed

    def send_many(self, mails: Sequence[OutgoingMail]) -> list[Exception | None]:
        """Send `mails` over this thread's connections at once (from a thread that runs
        no event loop); what became of each, in order: None once the server accepted
        it, else the error `send` would have raised."""
        session = self._session()
        return session.runner.run(self._send_all(session, mails))

    def check(self) -> None:
        """The SMTP server answers a fresh connection's NOOP (for /readyz; from a thread
        that runs no event loop, as FastAPI runs a sync route)."""

        async def noop() -> None:
            client = self._client(timeout=min(self.timeout, 2.0))
            await client.connect()
            try:
                await client.noop()
            finally:
                client.close()

        asyncio.run(noop())

    def close(self) -> None:
        """Close every thread's connections and loop (at shutdown)."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            for client in session.clients:
                if client is not None and client.is_connected:
                    client.close()
            session.runner.close()

    def _session(self) -> _Session:
        session: _Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = _Session(self.connections)
            with self._lock:
                self._sessions.append(session)
        return session

    def _client(self, timeout: float) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self._username,
            password=self._password,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            timeout=timeout,
        )

    async def _send_all(
        self, session: _Session, mails: Sequence[OutgoingMail]
    ) -> list[Exception | None]:
        """Each connection takes the next message not yet taken until none is left: a
        slow message holds up one connection, not the batch."""
        results: list[Exception | None] = [None] * len(mails)
        queue = iter(enumerate(mails))

        async def connection(slot: int) -> None:
            for index, mail in queue:
                try:
                    await self._send(session, slot, mail)
                except Exception as exc:
                    results[index] = exc

        used = range(min(len(mails), len(session.clients)))
        await asyncio.gather(*(connection(slot) for slot in used))
        return results

    async def _connected(self, session: _Session, slot: int) -> aiosmtplib.SMTP:
        client = session.clients[slot]
        if client is None or not client.is_connected:
            client = session.clients[slot] = self._client(self.timeout)
            await client.connect()
        return client

    async def _send(self, session: _Session, slot: int, mail: OutgoingMail) -> None:
        sender, recipients = parseaddr(mail.sender)[1], list(mail.to)
        message = mime_message(mail)
        try:
            try:
                await (await self._connected(session, slot)).sendmail(sender, recipients, message)
            except aiosmtplib.SMTPServerDisconnected:
                # The server closed a connection that sat idle: open a new one, once.
                session.clients[slot] = None
                await (await self._connected(session, slot)).sendmail(sender, recipients, message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            self._drop(session, slot)
            codes = [refusal.code for refusal in exc.recipients]
            raise _by_code(min(codes), f"recipients refused: {codes}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            self._drop(session, slot)
            # The code only: a server's text often quotes the address it refused.
            raise _by_code(exc.code, f"SMTP server answered {exc.code}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            self._drop(session, slot)
            # Connection refused or dropped, timeouts, TLS trouble: the server may be back.
            raise DeliveryDeferred(f"SMTP {self.host}:{self.port}: {exc}") from exc

    @staticmethod
    def _drop(session: _Session, slot: int) -> None:
        """Forget a connection after a failure: its next message starts afresh."""
        client = session.clients[slot]
        if client is not None and client.is_connected:
            client.close()
        session.clients[slot] = None


def _by_code(code: int, message: str) -> Exception:
    return DeliveryDeferred(message) if code < 500 else DeliveryRejected(message)
