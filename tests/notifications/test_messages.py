"""The e-mails: both parties' times right, every kind rendered in text and HTML, HTML
escaped and self-contained, and the same Message-ID each time a message is built."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import get_args
from uuid import uuid4

import pytest

from notifications.appointment import Links
from notifications.messages import (
    INVITE_METHODS,
    MessageKind,
    MessageOptions,
    compose,
    short_text,
)
from tests.notifications.conftest import make_appointment

pytestmark = pytest.mark.unit

SENDER = "Kairos <no-reply@kairos.example>"
SENT = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
# 10:00 in New York (EDT, UTC-4) is 19:30 in Kolkata (IST, UTC+5:30).
START = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
OPTIONS = MessageOptions(
    reminder_before=timedelta(minutes=15),
    with_join_link=True,
    previous_starts_at=START - timedelta(days=1),
    reason="Called away",
)
KINDS: tuple[MessageKind, ...] = get_args(MessageKind)


def test_a_client_in_new_york_and_a_specialist_in_kolkata_each_see_both_times(
    links: Links,
) -> None:
    appointment = make_appointment(START)

    to_client = compose(
        "confirmation", appointment, "client", links, version=0, sender=SENDER, date=SENT
    )
    to_specialist = compose(
        "new_booking", appointment, "specialist", links, version=0, sender=SENDER, date=SENT
    )

    new_york = "Wed 10 Jun 2026, 10:00 EDT (America/New_York)"
    kolkata = "Wed 10 Jun 2026, 19:30 IST (Asia/Kolkata)"
    for mail in (to_client, to_specialist):
        assert new_york in mail.text and kolkata in mail.text
        assert new_york in mail.html and kolkata in mail.html
    assert to_client.to == ("ada@client.example",)
    assert to_specialist.to == ("priya@clinic.example",)
    assert new_york in to_client.subject  # each reads their own time first
    assert "When:         " + new_york in to_client.text
    assert "When:         " + kolkata in to_specialist.text


def test_the_client_message_carries_service_specialist_price_policy_and_links(
    links: Links,
) -> None:
    mail = compose(
        "confirmation",
        make_appointment(START),
        "client",
        links,
        version=0,
        sender=SENDER,
        date=SENT,
    )

    for text in (mail.text, mail.html):
        assert "First consultation" in text
        assert "Dr. Priya Rao" in text
        assert "80.00 EUR" in text
        assert "free up to 24 hours before the start" in text
        assert links.join in text
        assert links.manage in text


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_a_subject_text_and_html(kind: MessageKind, links: Links) -> None:
    recipient = "specialist" if kind in ("approval_request", "new_booking") else "client"
    mail = compose(
        kind,
        make_appointment(START),
        recipient,
        links,
        version=2,
        sender=SENDER,
        date=SENT,
        invite=b"BEGIN:VCALENDAR" if kind in INVITE_METHODS else None,
        options=OPTIONS,
    )

    assert mail.subject and "\n" not in mail.subject
    assert mail.text.strip() and mail.html is not None
    assert mail.html.startswith("<!DOCTYPE html>")
    assert mail.message_id.endswith("@kairos.example>")
    assert ("invite.ics" in [a.filename for a in mail.attachments]) == (kind in INVITE_METHODS)


def test_a_cancellation_offers_no_join_link_and_attaches_a_cancel(links: Links) -> None:
    mail = compose(
        "cancelled",
        make_appointment(START),
        "client",
        links,
        version=1,
        sender=SENDER,
        date=SENT,
        invite=b"BEGIN:VCALENDAR",
        options=MessageOptions(reason="Called away"),
    )

    assert links.join not in mail.text and links.join not in (mail.html or "")
    assert "Called away" in mail.text
    assert mail.attachments[0].content_type == "text/calendar; method=CANCEL"


def test_the_message_id_is_the_same_each_time_and_differs_by_kind_version_and_recipient(
    links: Links,
) -> None:
    appointment = make_appointment(START)

    def mid(kind: MessageKind, version: int, recipient: str = "client", **kw: object) -> str:
        options = MessageOptions(**kw)  # type: ignore[arg-type]
        return compose(
            kind,
            appointment,
            recipient,  # type: ignore[arg-type]
            links,
            version=version,
            sender=SENDER,
            date=SENT,
            options=options,
        ).message_id

    assert mid("confirmation", 0) == mid("confirmation", 0)
    assert (
        mid("confirmation", 0)
        == f"<confirmation.v0.client.{appointment.booking_id}@kairos.example>"
    )
    ids = {
        mid("confirmation", 0),
        mid("confirmation", 1),
        mid("rescheduled", 1),
        mid("rescheduled", 1, "specialist"),
        mid("reminder", 0, reminder_before=timedelta(hours=48)),
        mid("reminder", 0, reminder_before=timedelta(minutes=15)),
        mid("reminder", 1, reminder_before=timedelta(minutes=15)),
    }
    assert len(ids) == 7


def test_names_are_escaped_in_html(links: Links) -> None:
    appointment = make_appointment(START, client_name='<img src="https://evil.example/x.png">')

    mail = compose(
        "new_booking", appointment, "specialist", links, version=0, sender=SENDER, date=SENT
    )

    assert "<img" not in (mail.html or "")
    assert "&lt;img" in (mail.html or "")
    assert '<img src="https://evil.example/x.png">' in mail.text  # plain text needs no escaping


class ResourceFinder(HTMLParser):
    """Collects every URL the HTML would fetch when opened (links are not fetched)."""

    FETCHED = frozenset({"src", "srcset", "background", "poster", "data", "action", "formaction"})

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in self.FETCHED or (tag == "link" and name == "href"):
                self.fetched.append(value or "")
            if name == "style" and value and "url(" in value:
                self.fetched.append(value)

    def handle_data(self, data: str) -> None:
        if "@import" in data or "url(" in data:
            self.fetched.append(data)


@pytest.mark.parametrize("kind", KINDS)
def test_the_html_fetches_nothing_from_elsewhere(kind: MessageKind, links: Links) -> None:
    mail = compose(
        kind,
        make_appointment(START),
        "client",
        links,
        version=0,
        sender=SENDER,
        date=SENT,
        options=OPTIONS,
    )
    finder = ResourceFinder()
    finder.feed(mail.html or "")

    assert finder.fetched == []
    assert not finder.tags & {"img", "script", "link", "iframe", "object", "video", "audio"}


def test_an_untranslated_locale_falls_back_to_english(links: Links) -> None:
    appointment = make_appointment(START)
    french_client = replace(appointment, client=replace(appointment.client, locale="fr"))

    english = compose(
        "reminder",
        appointment,
        "client",
        links,
        version=0,
        sender=SENDER,
        date=SENT,
        options=OPTIONS,
    )
    french = compose(
        "reminder",
        french_client,
        "client",
        links,
        version=0,
        sender=SENDER,
        date=SENT,
        options=OPTIONS,
    )

    assert french.subject == english.subject and french.text == english.text


def test_the_short_reminder_fits_an_sms_and_carries_the_join_link_when_asked(links: Links) -> None:
    appointment = make_appointment(START, booking_id=uuid4())

    one_hour = short_text(
        "reminder", appointment, "client", links, MessageOptions(reminder_before=timedelta(hours=1))
    )
    fifteen = short_text("reminder", appointment, "client", links, OPTIONS)

    assert "starts in 1 hour" in one_hour and links.manage in one_hour
    assert "starts in 15 minutes" in fifteen and links.join in fifteen
    assert "\n" not in fifteen
