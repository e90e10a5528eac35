"""The video room in a booking's messages: notifications consumes video.events.v1
(notifications.video_rooms, on the real broker) beside booking.events.v1, and the
reminders sent through the real SMTP server show when the waiting room opens as
video published it, and carry no join link once video closed the room (the SMS and
push forms: tests/notifications/test_messages.py)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from kairos.events import Envelope
from kairos.events.payload import Payload
from kairos.events.video import RoomClosed, RoomMoved, RoomPrepared
from notifications.messages import local_time
from tests.notifications.bookings import Booking
from tests.notifications.delivering import Delivery
from tests.notifications.running import Consumer
from tests.notifications.samples import CLIENT_ZONE
from tests.shared.test_messaging_consumer import SPECIALIST

pytestmark = [pytest.mark.integration]

_positions = itertools.count(1)


def published(event: RoomPrepared | RoomMoved | RoomClosed, at: datetime) -> Envelope:
    """`event` as the video relay publishes it (the next position of video's log)."""
    payload: Payload = event
    return Envelope(
        event_id=uuid4(),
        type=type(event).__name__,
        version=1,
        occurred_at=at,
        producer="video",
        notification_id=next(_positions),
        aggregate_id=event.booking_id,
        specialist_id=SPECIALIST,
        data=payload.model_dump(mode="json"),
    )


def window(
    kind: type[RoomPrepared] | type[RoomMoved], booking: Booking, opens_before: timedelta
) -> RoomPrepared | RoomMoved:
    return kind(
        booking_id=booking.id,
        room=f"booking-{booking.id}",
        starts_at=booking.starts_at,
        ends_at=booking.starts_at + timedelta(minutes=30),
        opens_at=booking.starts_at - opens_before,
    )


async def _join_reminder(delivery: Delivery, booking: Booking) -> tuple[str, str]:
    """The text and HTML of the client's 15-minute reminder, as the SMTP server got it."""
    await delivery.dispatch(booking.starts_at - timedelta(minutes=14))
    (mail,) = [
        m
        for m in delivery.mails(booking)
        if "15 minutes" in m["subject"] and m["to"] == ["ada@client.example"]
    ]
    return mail["text"], mail["html"]


async def test_the_join_reminder_shows_when_the_waiting_room_opens_as_video_moved_it(
    delivery: Delivery, video_rooms: Consumer
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    booking = Booking(now + timedelta(days=3))
    await delivery.consumer.send(booking.confirmed(now))
    prepared = published(window(RoomPrepared, booking, timedelta(minutes=10)), now)
    # The service's waiting room changed to 5 minutes and the booking moved (a minute
    # later); then a late copy of the first window arrives: it changes nothing.
    moved = published(window(RoomMoved, booking, timedelta(minutes=5)), now + timedelta(minutes=1))
    late_copy = prepared.model_copy(
        update={"event_id": uuid4(), "notification_id": next(_positions)}
    )
    await video_rooms.send(prepared, moved, late_copy)

    opens_at = local_time(booking.starts_at - timedelta(minutes=5), CLIENT_ZONE)
    for text in await _join_reminder(delivery, booking):
        assert f"https://kairos.example/b/{booking.id}/join" in text
        assert opens_at in text
        assert local_time(booking.starts_at - timedelta(minutes=10), CLIENT_ZONE) not in text


async def test_once_video_closed_the_room_the_reminder_has_no_join_link(
    delivery: Delivery, video_rooms: Consumer
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    booking, untold = Booking(now + timedelta(days=3)), Booking(now + timedelta(days=3))
    await delivery.consumer.send(booking.confirmed(now), untold.confirmed(now))
    closed = RoomClosed(
        booking_id=booking.id, room=f"booking-{booking.id}", reason="completed", closed_at=now
    )
    # Closed, then a copy of an earlier window: a closed room stays closed.
    reopened = published(window(RoomMoved, booking, timedelta(minutes=10)), now)
    await video_rooms.send(published(closed, now), reopened)

    for text in await _join_reminder(delivery, booking):
        assert f"/b/{booking.id}/join" not in text
        assert "waiting room" not in text
        assert f"https://kairos.example/b/{booking.id}/manage#client" in text
    # A room video has not told of yet: the join link, without an opening time.
    for text in await _join_reminder(delivery, untold):
        assert f"https://kairos.example/b/{untold.id}/join" in text
        assert "waiting room" not in text
