"""An SMTP sink (aiosmtpd) that keeps every e-mail it accepts, and shows them over HTTP.

    python -m kairos_dev.fakes.smtp_sink --smtp-port 1025 --port 8025

- `GET /dev/mail/messages`: `{messages: [{id, message_id, from, to, subject, date,
  text, html, attachments: [{filename, content_type, size, url}]}]}`, newest first
  (API.md); `DELETE` empties it.
- `GET /dev/mail`: a page listing them; each is viewable, its HTML rendered (in a
  sandbox that loads nothing), its attachments downloadable.

Recipients at `rejected.invalid` are refused for good (550) and at `deferred.invalid`
for now (451), so a test can see how a mailer treats each.
"""

from __future__ import annotations

import email
import email.policy
import functools
import html
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import uvloop
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI, HTTPException, Response
from fastapi.responses import HTMLResponse

from kairos_dev.fakes.recorded import Recorded
from kairos_dev.fakes.server import app_with_health, arguments, message_routes, serve

PREFIX = "/dev/mail"
REJECTED_DOMAIN = "rejected.invalid"
DEFERRED_DOMAIN = "deferred.invalid"


@dataclass(frozen=True)
class CapturedAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class CapturedMail:
    id: int
    message_id: str | None
    sender: str
    to: list[str]
    subject: str
    date: str | None
    text: str | None
    html: str | None
    attachments: list[CapturedAttachment] = field(default_factory=list)
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "message_id": self.message_id,
            "from": self.sender,
            "to": self.to,
            "subject": self.subject,
            "date": self.date,
            "text": self.text,
            "html": self.html,
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": len(a.data),
                    "url": f"{PREFIX}/messages/{self.id}/attachments/{index}",
                }
                for index, a in enumerate(self.attachments)
            ],
        }


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    content: str = part.get_content()
    return content.replace("\r\n", "\n")  # the wire's line ends, as a mail client shows them


def _content_type(part: EmailMessage) -> str:
    method = part.get_param("method")
    kind = part.get_content_type()
    return f"{kind}; method={method}" if isinstance(method, str) else kind


def parse_mail(mail_id: int, raw: bytes, envelope_to: list[str]) -> CapturedMail:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    attachments = [
        CapturedAttachment(
            part.get_filename() or f"attachment-{index}",
            _content_type(part),
            part.get_content()
            if part.get_content_maintype() != "text"
            else part.get_content().encode(),
        )
        for index, part in enumerate(message.iter_attachments())
        if isinstance(part, EmailMessage)
    ]

    def header(name: str) -> str | None:
        # A long value is folded onto the next line, and Python's parser keeps the
        # fold's leading space.
        value = message[name]
        return str(value).strip() if value is not None else None

    to_header = message["To"]
    to = [str(a) for a in to_header.addresses] if to_header is not None else []
    return CapturedMail(
        id=mail_id,
        message_id=header("Message-ID"),
        sender=header("From") or "",
        to=to or envelope_to,
        subject=header("Subject") or "",
        date=header("Date"),
        text=_body(message, "plain"),
        html=_body(message, "html"),
        attachments=attachments,
    )


class Received:
    """A message as it came off the wire; parsed the first time it is shown, so that
    accepting one costs the sender next to nothing (a benchmark sends thousands)."""

    def __init__(self, mail_id: int, raw: bytes, envelope_to: list[str]) -> None:
        self.id = mail_id
        self._raw = raw
        self._envelope_to = envelope_to

    @functools.cached_property
    def mail(self) -> CapturedMail:
        return parse_mail(self.id, self._raw, self._envelope_to)

    def as_json(self) -> dict[str, Any]:
        return self.mail.as_json()


class SinkHandler:
    """aiosmtpd's handler: accept (or refuse, by domain) and keep each message."""

    def __init__(self, mails: Recorded[Received]) -> None:
        self.mails = mails
        self._ids = itertools.count(1)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        domain = address.rpartition("@")[2].lower()
        if domain == REJECTED_DOMAIN:
            return "550 5.1.1 mailbox unavailable"
        if domain == DEFERRED_DOMAIN:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        self.mails.add(Received(next(self._ids), raw, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def mail_app(mails: Recorded[Received]) -> FastAPI:
    app = app_with_health("Kairos dev SMTP sink")

    def one(mail_id: int) -> CapturedMail:
        received = mails.find(lambda m: m.id == mail_id)
        if received is None:
            raise HTTPException(404, "no such message")
        return received.mail

    message_routes(app, f"{PREFIX}/messages", mails)

    @app.get(f"{PREFIX}/messages/{{mail_id}}")
    def get_message(mail_id: int) -> dict[str, Any]:
        return one(mail_id).as_json()

    @app.get(f"{PREFIX}/messages/{{mail_id}}/attachments/{{index}}")
    def get_attachment(mail_id: int, index: int) -> Response:
        attachments = one(mail_id).attachments
        if not 0 <= index < len(attachments):
            raise HTTPException(404, "no such attachment")
        attachment = attachments[index]
        disposition = f'attachment; filename="{attachment.filename}"'
        return Response(
            attachment.data,
            media_type=attachment.content_type,
            headers={"Content-Disposition": disposition},
        )

    @app.get(f"{PREFIX}/messages/{{mail_id}}/html", response_class=HTMLResponse)
    def get_html(mail_id: int) -> HTMLResponse:
        # The e-mail as a mail client shows it, forbidden to fetch anything.
        return HTMLResponse(
            one(mail_id).html or "",
            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
        )

    @app.get(PREFIX, response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(_list_page([received.mail for received in mails.newest_first()]))

    @app.get(f"{PREFIX}/{{mail_id}}", response_class=HTMLResponse)
    def message_page(mail_id: int) -> HTMLResponse:
        return HTMLResponse(_message_page(one(mail_id)))

    return app


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:24px;color:#1c1917}"
    "table{border-collapse:collapse;width:100%}td,th{padding:6px 8px;border-bottom:1px solid #ddd;"
    "text-align:left}pre{white-space:pre-wrap;background:#f5f5f4;padding:12px}"
    "iframe{width:100%;height:480px;border:1px solid #ddd}"
)


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _list_page(mails: list[CapturedMail]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(m.date or '')}</td><td>{html.escape(m.sender)}</td>"
        f"<td>{html.escape(', '.join(m.to))}</td>"
        f'<td><a href="{PREFIX}/{m.id}">{html.escape(m.subject or "(no subject)")}</a></td>'
        f"<td>{len(m.attachments) or ''}</td></tr>"
        for m in mails
    )
    table = (
        "<table><tr><th>Date</th><th>From</th><th>To</th><th>Subject</th><th>Attachments</th></tr>"
        f"{rows}</table>"
        if mails
        else "<p>No e-mail yet.</p>"
    )
    return _page("Dev mail", f"<h1>Dev mail ({len(mails)})</h1>{table}")


def _message_page(mail: CapturedMail) -> str:
    attachments = "".join(
        f'<li><a href="{PREFIX}/messages/{mail.id}/attachments/{i}">{html.escape(a.filename)}</a>'
        f" ({html.escape(a.content_type)}, {len(a.data)} bytes)</li>"
        for i, a in enumerate(mail.attachments)
    )
    rendered = (
        f'<h2>HTML</h2><iframe sandbox src="{PREFIX}/messages/{mail.id}/html"></iframe>'
        if mail.html
        else ""
    )
    body = (
        f'<p><a href="{PREFIX}">All e-mail</a></p><h1>{html.escape(mail.subject)}</h1>'
        f"<table><tr><th>From</th><td>{html.escape(mail.sender)}</td></tr>"
        f"<tr><th>To</th><td>{html.escape(', '.join(mail.to))}</td></tr>"
        f"<tr><th>Date</th><td>{html.escape(mail.date or '')}</td></tr>"
        f"<tr><th>Message-ID</th><td>{html.escape(mail.message_id or '')}</td></tr></table>"
        f"{rendered}<h2>Text</h2><pre>{html.escape(mail.text or '')}</pre>"
        + (f"<h2>Attachments</h2><ul>{attachments}</ul>" if attachments else "")
    )
    return _page(mail.subject, body)


def main() -> None:
    parser = arguments("An SMTP sink that shows what it received at /dev/mail")
    parser.add_argument("--smtp-port", type=int, required=True, help="the SMTP port")
    options = parser.parse_args()
    mails: Recorded[Received] = Recorded()
    # On uvloop: the sink shares the machine with the senders a benchmark measures, and
    # each message is a dozen reads and writes.
    controller = Controller(
        SinkHandler(mails),
        hostname=options.host,
        port=options.smtp_port,
        loop=uvloop.new_event_loop(),
    )
    controller.start()
    try:
        serve(mail_app(mails), options.host, options.port)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
