"""The SMTP mailer against a real SMTP server (the dev sink on aiosmtpd): what arrives is
what was composed, Message-ID and invite included; SMTP refusals are sorted into what
the dispatcher retries and what it parks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from icalendar import Calendar

from kairos.providers.errors import DeliveryDeferred, DeliveryRejected
from kairos.providers.mail import OutgoingMail
from kairos.smtp import SmtpMailer
from kairos_dev.infra.process import free_port
from notifications.appointment import Appointment, Links
from notifications.invite import invite, invite_uid
from notifications.messages import compose
from tests.notifications.fakes import Fake, smtp_sink
from tests.notifications.samples import make_appointment

pytestmark = pytest.mark.integration

START = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
SENT = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sink() -> Iterator[Fake]:
    with smtp_sink() as fake:
        yield fake


@pytest.fixture
def mailer(sink: Fake) -> Iterator[SmtpMailer]:
    sink.delete("/dev/mail/messages")
    mailer = SmtpMailer("127.0.0.1", sink.port, security="none", timeout=5)
    yield mailer
    mailer.close()


def confirmation(links: Links, appointment: Appointment | None = None) -> OutgoingMail:
    appointment = appointment or make_appointment(START)
    ics = invite(appointment, "REQUEST", sequence=0, stamp=SENT, links=links)
    return compose(
        "confirmation",
        appointment,
        "client",
        links,
        version=0,
        sender="Kairos <no-reply@kairos.example>",
        date=SENT,
        invite=ics,
    )


def test_a_confirmation_arrives_with_its_message_id_text_html_and_invite(
    mailer: SmtpMailer, sink: Fake, links: Links
) -> None:
    appointment = make_appointment(START)
    mail = confirmation(links, appointment)

    mailer.send(mail)

    (received,) = sink.messages("mail")
    assert received["message_id"] == mail.message_id
    assert received["from"] == "Kairos <no-reply@kairos.example>"
    assert received["to"] == ["ada@client.example"]
    assert received["subject"] == mail.subject
    assert received["text"].strip() == mail.text.strip()
    assert received["html"].strip() == (mail.html or "").strip()
    (attachment,) = received["attachments"]
    assert attachment["filename"] == "invite.ics"
    assert attachment["content_type"] == "text/calendar; method=REQUEST"
    ics = sink.get_bytes(attachment["url"])
    assert attachment["size"] == len(ics)
    calendar = Calendar.from_ical(ics)
    assert calendar["METHOD"] == "REQUEST"
    assert calendar.events[0]["UID"] == invite_uid(appointment.booking_id)


def test_a_repeated_send_carries_the_same_message_id(
    mailer: SmtpMailer, sink: Fake, links: Links
) -> None:
    """What a crash between sending and recording leads to: the receiver can tell."""
    mail = confirmation(links)

    mailer.send(mail)
    mailer.send(mail)

    assert [m["message_id"] for m in sink.messages("mail")] == [mail.message_id] * 2


def test_the_sink_page_lists_the_mail(mailer: SmtpMailer, sink: Fake, links: Links) -> None:
    mail = confirmation(links)
    mailer.send(mail)
    (received,) = sink.messages("mail")

    listing = sink.get_bytes("/dev/mail").decode()
    page = sink.get_bytes(f"/dev/mail/{received['id']}").decode()

    assert "First consultation" in listing
    assert "invite.ics" in page and f"/dev/mail/messages/{received['id']}/html" in page


def test_a_refused_recipient_is_permanent_and_the_next_message_goes(
    mailer: SmtpMailer, sink: Fake, links: Links
) -> None:
    mail = replace(confirmation(links), to=("nobody@rejected.invalid",))

    with pytest.raises(DeliveryRejected) as refused:
        mailer.send(mail)
    assert "rejected.invalid" not in str(refused.value)  # addresses stay out of logs
    mailer.send(confirmation(links))
    assert len(sink.messages("mail")) == 1


def test_a_deferred_recipient_is_retried(mailer: SmtpMailer, links: Links) -> None:
    with pytest.raises(DeliveryDeferred):
        mailer.send(replace(confirmation(links), to=("later@deferred.invalid",)))


def test_a_server_that_is_down_is_retried(links: Links) -> None:
    mailer = SmtpMailer("127.0.0.1", free_port(), security="none", timeout=2)

    with pytest.raises(DeliveryDeferred):
        mailer.send(confirmation(links))
    mailer.close()
