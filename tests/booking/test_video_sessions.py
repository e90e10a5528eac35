"""The booking follows its video session, end to end on the real broker: the video
store's relay publishes SessionStarted and SessionEnded to video.events.v1, and
booking's consumer of that topic moves the booking to in_progress, then completed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from booking.application import Bookings
from booking.config import BookingStoreSettings
from booking.main import bookings_application
from booking.video_sessions import video_sessions_spec
from kairos.events import VIDEO_REGISTRY
from kairos.eventstore import open_application
from kairos.messaging import ConsumerProcess
from kairos.messaging.relay import OutboxRelay
from kairos_dev.infra import KafkaHandle
from kairos_dev.testing.waiting import eventually
from tests.booking.helpers import service_terms
from video.application import Sessions
from video.integration import IntegrationMapper

pytestmark = pytest.mark.integration

ALL_DAY = {day: [[0, 24 * 60]] for day in range(7)}


class World:
    def __init__(self, bookings: Bookings, sessions: Sessions) -> None:
        self.bookings, self.sessions = bookings, sessions
        self.specialist = bookings.register_specialist(
            "Dr Who", f"dr-{uuid4().hex[:8]}@example.com", "UTC"
        )
        bookings.set_schedule(self.specialist, None, ALL_DAY)
        self.service = bookings.define_service(
            self.specialist, service_terms(duration_minutes=30, slot_interval_minutes=5)
        ).id

    def book_soon(self, later: timedelta = timedelta()) -> UUID:
        """A confirmed booking starting within 5 minutes (and `later`): its waiting room is
        open."""
        now = datetime.now(UTC)
        next_slot = timedelta(minutes=5 - now.minute % 5)
        starts_at = now.replace(second=0, microsecond=0) + next_slot + later
        client = {"name": "Ada", "email": "ada@example.com", "timezone": "UTC"}
        booking = self.bookings.request_booking(self.service, starts_at, client, {}, None, now)
        session_starts = booking.booking.starts_at
        self.sessions.prepare(
            booking.booking.id,
            specialist_id=self.specialist,
            client_subject=None,
            starts_at=session_starts,
            ends_at=session_starts + timedelta(minutes=30),
            waiting_room=timedelta(minutes=10),
            recording="off",
        )
        return booking.booking.id

    def status(self, booking_id: UUID) -> str:
        return str(self.bookings.booking(booking_id).status)


@pytest.fixture
async def world(
    fresh_database: Callable[[], str], kafka: KafkaHandle, redis_url: str
) -> AsyncIterator[World]:
    database_url = fresh_database()
    topic = f"test.video-sessions.{uuid4().hex[:10]}"
    settings = BookingStoreSettings(
        database_url=database_url,
        redis_url=redis_url,
        kafka_bootstrap_servers=kafka.bootstrap,
        kafka_topic_management="dev",
    )
    bookings = bookings_application(settings)
    sessions = open_application(lambda env: Sessions(env=env), database_url)
    relay = OutboxRelay(
        sessions,
        IntegrationMapper(sessions),
        bootstrap=kafka.bootstrap,
        database_url=database_url,
        topic=topic,
        topic_management="dev",
        name=topic,
    )
    spec = replace(video_sessions_spec(bookings), topics=topic, group_id=topic)
    consumer = ConsumerProcess(spec, settings, registry=VIDEO_REGISTRY)
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(consumer.run())]
    try:
        yield World(bookings, sessions)
    finally:
        relay.stop()
        consumer.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        bookings.close()
        sessions.close()


async def test_the_booking_is_in_progress_once_both_are_in_and_completed_when_it_ends(
    world: World,
) -> None:
    booking_id = world.book_soon()
    assert world.status(booking_id) == "confirmed"

    now = datetime.now(UTC)
    world.sessions.joined(booking_id, "client", now)
    await asyncio.sleep(0.5)
    assert world.status(booking_id) == "confirmed"  # one party is no session
    world.sessions.joined(booking_id, "specialist", now + timedelta(seconds=1))
    await eventually(lambda: world.status(booking_id) == "in_progress", "in progress")

    world.sessions.room_finished(booking_id, now + timedelta(minutes=1))
    await eventually(lambda: world.status(booking_id) == "completed", "completed")


async def test_a_booking_the_specialist_completed_or_nobody_attended_stays_as_it_is(
    world: World,
) -> None:
    completed, unattended = world.book_soon(), world.book_soon(later=timedelta(hours=1))
    now = datetime.now(UTC)
    world.sessions.joined(completed, "client", now)
    world.sessions.joined(completed, "specialist", now)
    await eventually(lambda: world.status(completed) == "in_progress", "in progress")
    world.bookings.complete(completed, now + timedelta(seconds=30))
    world.sessions.room_finished(completed, now + timedelta(minutes=1))

    # Ended without a session: the no-show is only suggested, the booking stays confirmed.
    world.sessions.time_over(unattended, now + timedelta(minutes=45))
    session = world.sessions.session(unattended)
    assert session.no_show_suggested == "client"
    await asyncio.sleep(1)
    assert world.status(unattended) == "confirmed"
    assert world.status(completed) == "completed"
