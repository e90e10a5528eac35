"""`SmtpMailer.send_many` against the dev SMTP sink (aiosmtpd): a batch goes over
several connections at once, each message exactly once, and a refusal fails only its
own message."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from kairos.providers.errors import DeliveryDeferred, DeliveryRejected
from kairos.providers.mail import OutgoingMail
from kairos.providers.smtp import SmtpMailer
from kairos_dev.infra.process import free_port
from tests.notifications.fakes import Fake, smtp_sink

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sink() -> Iterator[Fake]:
    with smtp_sink() as fake:
        yield fake


def mails(count: int) -> list[OutgoingMail]:
    return [
        OutgoingMail(
            message_id=f"<batch.{n}@kairos.example>",
            sender="Kairos <no-reply@kairos.example>",
            to=(f"client-{n}@example.org",),
            subject=f"Reminder {n}",
            text=f"Message {n}",
            html=f"<p>Message {n}</p>",
            date=datetime(2026, 6, 1, 9, 0, tzinfo=UTC),
        )
        for n in range(count)
    ]


def test_a_batch_arrives_once_each_over_several_connections(sink: Fake) -> None:
    sink.delete("/dev/mail/messages")
    mailer = SmtpMailer("127.0.0.1", sink.port, security="none", timeout=5, connections=3)
    batch = mails(10)
    try:
        results = mailer.send_many(batch)
        again = mailer.send_many(batch[:2])  # the connections stay open for the next batch
    finally:
        mailer.close()

    received = sorted(m["message_id"] for m in sink.messages("mail"))
    assert results == [None] * 10 and again == [None, None]
    expected = [m.message_id for m in batch] + [m.message_id for m in batch[:2]]
    assert received == sorted(expected)


def test_a_refusal_fails_its_own_message_and_the_rest_of_the_batch_goes(sink: Fake) -> None:
    sink.delete("/dev/mail/messages")
    mailer = SmtpMailer("127.0.0.1", sink.port, security="none", timeout=5, connections=2)
    batch = mails(6)
    batch[1] = replace(batch[1], to=("nobody@rejected.invalid",))
    batch[4] = replace(batch[4], to=("later@deferred.invalid",))
    try:
        results = mailer.send_many(batch)
    finally:
        mailer.close()

    assert isinstance(results[1], DeliveryRejected)
    assert isinstance(results[4], DeliveryDeferred)
    assert [results[n] for n in (0, 2, 3, 5)] == [None] * 4
    received = sorted(m["message_id"] for m in sink.messages("mail"))
    assert received == sorted(batch[n].message_id for n in (0, 2, 3, 5))


def test_a_server_that_is_down_defers_the_whole_batch() -> None:
    mailer = SmtpMailer("127.0.0.1", free_port(), security="none", timeout=2, connections=2)
    try:
        results = mailer.send_many(mails(3))
    finally:
        mailer.close()

    assert all(isinstance(result, DeliveryDeferred) for result in results)
