"""The e-mails of a booking's life, rendered from Jinja2 templates in text and HTML.

Templates live in `templates/<locale>/` (`<kind>.txt.j2` with a `subject` block, and
`<kind>.html.j2`); a locale without a template of its own falls back to English, so
a translation can be added one file at a time. HTML is autoescaped (names and
answers are other people's input) and self-contained: inline styles only, no
images, fonts or scripts from elsewhere, so nothing is fetched when it is opened.

Every message shows the time in the recipient's zone and in the other party's,
and carries a deterministic Message-ID per (booking, kind, version, recipient): a
send repeated after a crash is the same message, recognisable as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from email.utils import parseaddr
from importlib.resources import files
from typing import Any, Literal
from uuid import UUID

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from kairos.providers.mail import Attachment, OutgoingMail
from kairos.timezones import zone
from notifications.appointment import Appointment, Links, Person
from notifications.invite import CONTENT_TYPE, Method
from notifications.schedule import Recipient

MessageKind = Literal[
    "confirmation",  # client: booked and confirmed at once
    "pending",  # client: booked, awaiting the specialist's approval
    "approval_request",  # specialist: a booking awaits your approval
    "confirmed",  # client: the specialist approved it
    "declined",  # client: the specialist declined it
    "cancelled",  # both
    "rescheduled",  # both
    "reminder",  # both, by the service's schedule
    "no_show_notice",  # client: marked as not having come
    "new_booking",  # specialist: a confirmed booking
    "reassigned",  # client: their booking is now with another member of the team
]

#: Which method the attached invite has, for the kinds that carry one.
INVITE_METHODS: dict[MessageKind, Method] = {
    "confirmation": "REQUEST",
    "confirmed": "REQUEST",
    "rescheduled": "REQUEST",
    "new_booking": "REQUEST",
    "reassigned": "REQUEST",
    "cancelled": "CANCEL",
    "declined": "CANCEL",
}

DEFAULT_LOCALE = "en"
_TEMPLATES = files("notifications") / "templates"

_environment = Environment(
    loader=FileSystemLoader(str(_TEMPLATES)),
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
    undefined=StrictUndefined,  # a misspelt variable fails the render, not the reader
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    # The templates ship with the package: no need to stat each file at every message.
    auto_reload=False,
)


def local_time(instant: datetime, timezone: str) -> str:
    """'Tue 10 Mar 2026, 14:00 EDT (America/New_York)': unambiguous in any zone."""
    local = instant.astimezone(zone(timezone))
    return f"{local:%a %d %b %Y, %H:%M} {local.tzname()} ({timezone})"


def money(amount: Decimal, currency: str | None) -> str:
    return f"{amount:.2f} {currency}" if currency else f"{amount:.2f}"


def duration(before: timedelta) -> str:
    """'48 hours', '1 hour', '15 minutes'."""
    minutes = int(before.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


_environment.filters.update(local_time=local_time, money=money, duration=duration)


def message_id(
    booking_id: UUID,
    kind: str,
    version: int,
    recipient: Recipient,
    domain: str,
    member: UUID | None = None,
) -> str:
    """The Message-ID of one message: the same every time it is built. `member` is
    the team member a specialist's message goes to when it is not the booking's own
    specialist (a collective booking's other members): each gets an ID of their own."""
    addressee = recipient if member is None else f"{recipient}-{member}"
    return f"<{kind}.v{version}.{addressee}.{booking_id}@{domain}>"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _template_names(locale: str | None, name: str) -> list[str]:
    names = [f"{locale}/{name}"] if locale and locale != DEFAULT_LOCALE else []
    return [*names, f"{DEFAULT_LOCALE}/{name}"]


def render(kind: MessageKind, locale: str | None, context: dict[str, Any]) -> Rendered:
    """The subject, text and HTML of `kind` in `locale` (English where it has none)."""
    text = _environment.select_template(_template_names(locale, f"{kind}.txt.j2"))
    html = _environment.select_template(_template_names(locale, f"{kind}.html.j2"))
    subject = "".join(text.blocks["subject"](text.new_context(context))).strip()
    return Rendered(subject, text.render(context), html.render(context, subject=subject))


def short_text(
    kind: MessageKind,
    appointment: Appointment,
    recipient: Recipient,
    links: Links,
    options: MessageOptions,
) -> str:
    """The one-paragraph form of `kind` for an SMS or a push notification's body."""
    template = _environment.select_template(
        _template_names(_parties(appointment, recipient)[0].locale, f"{kind}.short.j2")
    )
    return template.render(_context(appointment, recipient, links, options)).strip()


@dataclass(frozen=True)
class MessageOptions:
    """What only some kinds use."""

    reminder_before: timedelta | None = None  # reminder: how long before the start
    with_join_link: bool = False  # reminder: the one shortly before the start
    previous_starts_at: datetime | None = None  # rescheduled: the old time
    reason: str | None = None  # cancelled, declined
    notice: str | None = None  # no_show_notice: the service's text


def compose(
    kind: MessageKind,
    appointment: Appointment,
    recipient: Recipient,
    links: Links,
    *,
    version: int,
    sender: str,
    date: datetime,
    invite: bytes | None = None,
    options: MessageOptions | None = None,
    member: UUID | None = None,
) -> OutgoingMail:
    """The e-mail `kind` about `appointment` to its client or specialist. `version`
    tells apart messages of the same kind (the booking's reschedules); `links` are the
    recipient's own; `invite` is attached when the kind carries one; `member` as in
    `message_id`."""
    options = options or MessageOptions()
    context = {**_context(appointment, recipient, links, options), "invite_attached": bool(invite)}
    me = context["me"]
    rendered = render(kind, me.locale, context)
    attachments: tuple[Attachment, ...] = ()
    if invite is not None:
        method = INVITE_METHODS[kind]
        attachments = (Attachment("invite.ics", f"{CONTENT_TYPE}; method={method}", invite),)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return OutgoingMail(
        message_id=message_id(
            appointment.booking_id, _id_kind(kind, options), version, recipient, domain, member
        ),
        sender=sender,
        to=(me.contact.email,),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        date=date,
        attachments=attachments,
    )


def _context(
    appointment: Appointment, recipient: Recipient, links: Links, options: MessageOptions
) -> dict[str, Any]:
    me, other = _parties(appointment, recipient)
    return {
        "appointment": appointment,
        "recipient": recipient,
        "me": me,
        "other": other,
        "links": links,
        "options": options,
    }


def _id_kind(kind: MessageKind, options: MessageOptions) -> str:
    """A booking has several reminders of one version: each gets its own Message-ID."""
    if kind != "reminder" or options.reminder_before is None:
        return kind
    return f"{kind}-{int(options.reminder_before.total_seconds() // 60)}m"


def _parties(appointment: Appointment, recipient: Recipient) -> tuple[Person, Person]:
    if recipient == "client":
        return appointment.client, appointment.specialist
    return appointment.specialist, appointment.client
