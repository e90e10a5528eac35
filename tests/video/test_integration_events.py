"""What the video store publishes on video.events.v1 (read through its event source, as
the relay and a consumer's replay read it): the room's window as it is prepared, moved
and closed, the session started, ended, and its recording, keyed by the specialist;
nothing of joins, consent or notes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kairos.event_sources import event_source
from kairos.events import VIDEO_REGISTRY, VIDEO_TOPIC
from kairos.events.video import (
    RoomClosed,
    RoomMoved,
    RoomPrepared,
    SessionEnded,
    SessionStarted,
)
from tests.video.conftest import Video


def test_the_store_publishes_the_session_started_and_ended_for_the_specialist(
    video: Video,
) -> None:
    session = video.session()
    now = datetime.now(UTC)
    video.sessions.joined(session.id, "client", now)
    video.sessions.joined(session.id, "specialist", now + timedelta(seconds=5))
    video.sessions.write_notes(session.id, {"subject": "x", "sealed": "y"}, now)
    video.sessions.room_finished(session.id, now + timedelta(minutes=20))

    with event_source(VIDEO_TOPIC)(video.database_url) as log:
        envelopes = [e for page in log.envelopes(0, log.top()) for e in page]

    assert [e.type for e in envelopes] == ["RoomPrepared", "SessionStarted", "SessionEnded"]
    assert {e.specialist_id for e in envelopes} == {session.specialist_id}
    assert {e.aggregate_id for e in envelopes} == {session.id}
    _, started, ended = (VIDEO_REGISTRY.decode(e) for e in envelopes)
    assert isinstance(started, SessionStarted) and isinstance(ended, SessionEnded)
    assert started.started_at == now + timedelta(seconds=5)
    assert started.participants == ["client", "specialist"]
    assert ended.ended_at == now + timedelta(minutes=20)
    assert ended.started_at == started.started_at and ended.no_show_suggested is None


def test_the_store_publishes_the_rooms_window_as_it_is_prepared_moved_and_closed(
    video: Video,
) -> None:
    session = video.session(starts_in=timedelta(days=1))
    later = session.starts_at + timedelta(hours=2)
    video.sessions.move(session.id, later, later + timedelta(minutes=30))
    closed_at = datetime.now(UTC)
    video.sessions.close_session(session.id, "cancelled", closed_at)

    with event_source(VIDEO_TOPIC)(video.database_url) as log:
        envelopes = [e for page in log.envelopes(0, log.top()) for e in page]

    prepared, moved, closed = (VIDEO_REGISTRY.decode(e) for e in envelopes)
    assert isinstance(prepared, RoomPrepared) and isinstance(moved, RoomMoved)
    assert prepared.room == moved.room == f"booking-{session.id}"
    assert prepared.opens_at == session.starts_at - timedelta(minutes=10)
    assert (moved.starts_at, moved.opens_at) == (later, later - timedelta(minutes=10))
    assert isinstance(closed, RoomClosed)
    assert (closed.reason, closed.closed_at) == ("cancelled", closed_at)
