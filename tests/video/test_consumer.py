"""The video consumer on the real broker: a confirmed booking gets a session and, when
its waiting room opens, a room at LiveKit (an effect performed after the commit, through
the SDK); a rescheduled one moves; a cancelled one is closed and its room deleted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from kairos.events import Envelope
from kairos.events import booking as contract
from kairos.messaging import ConsumerProcess, ensure_topics, make_producer
from kairos.messaging.kafka import close_quietly
from kairos.privacy import ERASED, ErasureLedger, PersonalData
from kairos_dev.infra import KafkaHandle
from kairos_dev.testing.booking_events import BookingEvents
from kairos_dev.testing.waiting import eventually
from tests.video.conftest import Video, video_settings
from video.consumer import consumer_spec
from video.domain import Session

pytestmark = pytest.mark.integration

SPECIALIST, SERVICE = uuid4(), uuid4()


class Booking(BookingEvents):
    """booking.events.v1 as booking's relay would publish them, for one booking."""

    def __init__(self, video: Video) -> None:
        sealer = PersonalData(video.keys).sealer("client@example.com")
        self.client = contract.PersonalContact(
            name=sealer.seal("Ada"), email=sealer.seal("client@example.com")
        )
        super().__init__(self.client, SPECIALIST, SERVICE)

    def service(self) -> Envelope:
        return self.envelope(
            contract.ServiceDefined(
                service_id=SERVICE,
                specialist_id=SPECIALIST,
                name="Consultation",
                duration_minutes=30,
                slot_interval_minutes=None,
                buffer_before_minutes=0,
                buffer_after_minutes=0,
                minimum_notice_minutes=0,
                max_advance_days=60,
                max_per_day=None,
                cancellation_hours=24,
                requires_approval=False,
                price=None,
                currency=None,
                questions=[],
                recording="optional",
                waiting_room_minutes=15,
            ),
            SERVICE,
        )


async def confirmed_session(
    video: Video, send: Callable[..., Any], booking: Booking, starts_at: datetime
) -> Session:
    """Its service defined and the booking confirmed, once the consumer made the session."""
    await send(booking.service(), booking.confirmed(starts_at))
    await eventually(lambda: video.sessions.find(booking.id) is not None, "the session exists")
    return video.sessions.session(booking.id)


@pytest.fixture
async def consuming(video: Video, kafka: KafkaHandle) -> AsyncIterator[Callable[..., Any]]:
    """The consumer (and its effect dispatcher) on a topic of the test's own; yields `send`."""
    topic = f"test.video.{uuid4().hex[:10]}"
    await ensure_topics(kafka.bootstrap, [topic])
    settings = video_settings(
        video.database_url, video.livekit_url, str(video.booking.base_url)
    ).model_copy(
        update={"kafka_bootstrap_servers": kafka.bootstrap, "kafka_topic_management": "dev"}
    )
    spec = replace(consumer_spec(settings, video.sessions), topics=topic, group_id=topic)
    process = ConsumerProcess(spec, settings)
    running = asyncio.create_task(process.run())
    producer = make_producer(kafka.bootstrap, client_id="test-video")
    await producer.start()

    async def send(*envelopes: Envelope) -> None:
        for envelope in envelopes:
            value = envelope.model_dump_json().encode()
            await producer.send_and_wait(topic, value, key=str(SPECIALIST).encode())

    try:
        yield send
    finally:
        await close_quietly(producer.stop())
        process.stop()
        await asyncio.wait_for(running, 30)


async def test_a_booking_gets_its_room_when_the_waiting_room_opens_and_loses_it_when_cancelled(
    video: Video, consuming: Callable[..., Any]
) -> None:
    booking = Booking(video)
    starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    session = await confirmed_session(video, consuming, booking, starts_at)
    assert session.opens_at == starts_at - timedelta(minutes=15)  # the service's waiting room
    assert session.recording == "optional"
    assert session.client_subject == video.keys.subject_of("client@example.com")
    await eventually(lambda: session.room in video.livekit.rooms, "LiveKit has the room")
    assert video.livekit.rooms[session.room].max_participants == 2

    await consuming(booking.cancelled(starts_at))
    await eventually(lambda: session.room not in video.livekit.rooms, "the room is deleted")
    assert video.sessions.session(booking.id).state == "ended"
    joined = video.http.post(f"/v1/bookings/{booking.id}/join", headers=video.client(session))
    assert joined.status_code == 410


async def test_a_rescheduled_booking_moves_its_window_and_its_room_waits_for_it(
    video: Video, consuming: Callable[..., Any]
) -> None:
    booking = Booking(video)
    old = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    new = old + timedelta(days=2)
    await consuming(booking.service(), booking.confirmed(old), booking.rescheduled(old, new))

    def moved() -> bool:
        found = video.sessions.find(booking.id)
        return found is not None and found.starts_at == new

    await eventually(moved, "the session moved")
    assert video.sessions.session(booking.id).opens_at == new - timedelta(minutes=15)
    assert video.livekit.rooms == {}  # not before its (new) waiting room opens


async def test_the_specialist_completing_the_booking_ends_a_live_session_and_closes_its_room(
    video: Video, consuming: Callable[..., Any]
) -> None:
    booking = Booking(video)
    starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    session = await confirmed_session(video, consuming, booking, starts_at)
    await eventually(lambda: session.room in video.livekit.rooms, "LiveKit has the room")
    video.join(session, "specialist")
    video.join(session, "client")
    assert video.fresh(session).state == "live"

    await consuming(booking.completed(starts_at))
    await eventually(lambda: session.room not in video.livekit.rooms, "the room is deleted")
    ended = video.fresh(session)
    assert ended.state == "ended" and ended.ended_at is not None and ended.participants == []


async def test_the_consumer_takes_part_in_erasures_and_the_clients_notes_go(
    video: Video, consuming: Callable[..., Any]
) -> None:
    booking = Booking(video)
    starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    session = await confirmed_session(video, consuming, booking, starts_at)
    notes = f"/v1/bookings/{session.id}/notes"
    video.http.put(notes, headers=video.specialist(session), json={"notes": "Anxious."})
    ledger = ErasureLedger(video.database_url)
    erasure = uuid4()
    subject = video.keys.subject_of("client@example.com")
    assert subject is not None
    ledger.open(erasure, [subject], "test")
    opened = ledger.status(erasure)
    assert opened is not None and opened.services["video"] == "pending"

    # What booking does on POST /v1/privacy/erasures: forget the key, publish PersonErased.
    video.keys.shred_subjects([subject])
    await consuming(
        booking.envelope(contract.PersonErased(erasure_id=erasure, subjects=[subject]), erasure)
    )

    def reported() -> bool:
        status = ledger.status(erasure)
        return status is not None and status.services["video"] == "done"

    await eventually(reported, "video reports the erasure done")
    shown = video.http.get(f"/v1/bookings/{session.id}/session", headers=video.specialist(session))
    assert shown.json()["notes"] == ERASED


async def test_a_collective_bookings_members_all_host_and_a_reassigned_member_takes_over(
    video: Video, consuming: Callable[..., Any]
) -> None:
    starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    partner = uuid4()
    together = Booking(video)
    together.members = [SPECIALIST, partner]
    session = await confirmed_session(video, consuming, together, starts_at)
    assert session.hosts == [SPECIALIST, partner]
    await eventually(lambda: session.room in video.livekit.rooms, "LiveKit has the room")
    assert video.livekit.rooms[session.room].max_participants == 3  # both members, the client
    for member in (SPECIALIST, partner):
        joined = video.http.post(
            f"/v1/bookings/{together.id}/join", headers=video.specialist(member)
        )
        assert joined.status_code == 200 and joined.json()["role"] == "host"

    either = Booking(video)
    session = await confirmed_session(video, consuming, either, starts_at)
    taking_over = uuid4()
    await consuming(either.reassigned(starts_at, taking_over))
    await eventually(
        lambda: video.fresh(session).hosts == [taking_over], "the new member hosts the session"
    )
    url = f"/v1/bookings/{either.id}/join"
    assert video.http.post(url, headers=video.specialist(taking_over)).status_code == 200
    assert video.http.post(url, headers=video.specialist(SPECIALIST)).status_code == 403
