"""The e-mails: both parties' times right, every kind rendered in text and HTML, HTML
escaped and self-contained, and the same Message-ID each time a message is built."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any, get_args

import pytest

from kairos.providers.mail import OutgoingMail
from notifications.appointment import Appointment, Links
from notifications.messages import (
    INVITE_METHODS,
    MessageKind,
    MessageOptions,
    compose,
    short_text,
)
from notifications.schedule import Recipient
from tests.notifications.samples import make_appointment

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


def mail(
    kind: MessageKind,
    links: Links,
    appointment: Appointment | None = None,
    recipient: Recipient = "client",
    **keywords: Any,
) -> OutgoingMail:
    """`compose` with this file's sender and date (and a new booking unless given)."""
    appointment = appointment or make_appointment(START)
    return compose(
        kind, appointment, recipient, links, sender=SENDER, date=SENT, **{"version": 0, **keywords}
    )


def test_a_client_in_new_york_and_a_specialist_in_kolkata_each_see_both_times(
    links: Links,
) -> None:
    appointment = make_appointment(START)

    to_client = mail("confirmation", links, appointment)
    to_specialist = mail("new_booking", links, appointment, "specialist")

    new_york = "Wed 10 Jun 2026, 10:00 EDT (America/New_York)"
    kolkata = "Wed 10 Jun 2026, 19:30 IST (Asia/Kolkata)"
    for sent in (to_client, to_specialist):
        assert new_york in sent.text and kolkata in sent.text
        assert new_york in (sent.html or "") and kolkata in (sent.html or "")
    assert to_client.to == ("ada@client.example",)
    assert to_specialist.to == ("priya@clinic.example",)
    assert new_york in to_client.subject  # each reads their own time first
    assert "When:         " + new_york in to_client.text
    assert "When:         " + kolkata in to_specialist.text


def test_the_client_message_carries_service_specialist_price_policy_and_links(
    links: Links,
) -> None:
    sent = mail("confirmation", links)

    for text in (sent.text, sent.html or ""):
        assert "First consultation" in text
        assert "Dr. Priya Rao" in text
        assert "80.00 EUR" in text
        assert "free up to 24 hours before the start" in text
        assert links.join in text
        assert links.manage in text


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_a_subject_text_and_html(kind: MessageKind, links: Links) -> None:
    recipient: Recipient = "specialist" if kind in ("approval_request", "new_booking") else "client"
    invite = b"BEGIN:VCALENDAR" if kind in INVITE_METHODS else None

    sent = mail(kind, links, None, recipient, version=2, invite=invite, options=OPTIONS)

    assert sent.subject and "\n" not in sent.subject
    assert sent.text.strip() and sent.html is not None
    assert sent.html.startswith("<!DOCTYPE html>")
    assert sent.message_id.endswith("@kairos.example>")
    assert ("invite.ics" in [a.filename for a in sent.attachments]) == (kind in INVITE_METHODS)


def test_a_cancellation_offers_no_join_link_and_attaches_a_cancel(links: Links) -> None:
    sent = mail(
        "cancelled",
        links,
        version=1,
        invite=b"BEGIN:VCALENDAR",
        options=MessageOptions(reason="Called away"),
    )

    assert links.join not in sent.text and links.join not in (sent.html or "")
    assert "Called away" in sent.text
    assert sent.attachments[0].content_type == "text/calendar; method=CANCEL"


def test_the_message_id_is_the_same_each_time_and_differs_by_kind_version_and_recipient(
    links: Links,
) -> None:
    appointment = make_appointment(START)

    def mid(
        kind: MessageKind,
        version: int,
        recipient: Recipient = "client",
        before: timedelta | None = None,
    ) -> str:
        options = MessageOptions(reminder_before=before)
        return mail(
            kind, links, appointment, recipient, version=version, options=options
        ).message_id

    assert mid("confirmation", 0) == mid("confirmation", 0)
    assert mid("confirmation", 0) == (
        f"<confirmation.v0.client.{appointment.booking_id}@kairos.example>"
    )
    ids = {
        mid("confirmation", 0),
        mid("confirmation", 1),
        mid("rescheduled", 1),
        mid("rescheduled", 1, "specialist"),
        mid("reminder", 0, before=timedelta(hours=48)),
        mid("reminder", 0, before=timedelta(minutes=15)),
        mid("reminder", 1, before=timedelta(minutes=15)),
    }
    assert len(ids) == 7


def test_names_are_escaped_in_html(links: Links) -> None:
    appointment = make_appointment(START, client_name='<img src="https://evil.example/x.png">')

    sent = mail("new_booking", links, appointment, "specialist")

    assert "<img" not in (sent.html or "")
    assert "&lt;img" in (sent.html or "")
    assert '<img src="https://evil.example/x.png">' in sent.text  # plain text needs no escaping


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
    finder = ResourceFinder()
    finder.feed(mail(kind, links, options=OPTIONS).html or "")

    assert finder.fetched == []
    assert not finder.tags & {"img", "script", "link", "iframe", "object", "video", "audio"}


def test_an_untranslated_locale_falls_back_to_english(links: Links) -> None:
    appointment = make_appointment(START)
    french_client = replace(appointment, client=replace(appointment.client, locale="fr"))

    english = mail("reminder", links, appointment, options=OPTIONS)
    french = mail("reminder", links, french_client, options=OPTIONS)

    assert french.subject == english.subject and french.text == english.text


def test_the_short_reminder_fits_an_sms_and_carries_the_join_link_when_asked(links: Links) -> None:
    appointment = make_appointment(START)
    an_hour = MessageOptions(reminder_before=timedelta(hours=1))

    one_hour = short_text("reminder", appointment, "client", links, an_hour)
    fifteen = short_text("reminder", appointment, "client", links, OPTIONS)

    assert "starts in 1 hour" in one_hour and links.manage in one_hour
    assert "starts in 15 minutes" in fifteen and links.join in fifteen
    assert "\n" not in fifteen


def test_the_join_link_names_when_the_waiting_room_opens_and_is_gone_once_the_room_closed(
    links: Links,
) -> None:
    appointment = make_appointment(START)
    assert links.join is not None
    # Video's waiting room opens 5 minutes before 10:00 in New York (the client's zone).
    opening = replace(links, join_opens_at=START - timedelta(minutes=5))
    opening_mail = mail("reminder", opening, options=OPTIONS)
    for text in (
        opening_mail.text,
        opening_mail.html,
        short_text("reminder", appointment, "client", opening, OPTIONS),
    ):
        assert links.join in text and "09:55 EDT" in text

    closed = replace(links, join=None)
    closed_mail = mail("reminder", closed, options=OPTIONS)
    for text in (
        closed_mail.text,
        closed_mail.html,
        short_text("reminder", appointment, "client", closed, OPTIONS),
    ):
        assert links.join not in text and "/join" not in text
        assert links.manage in text
