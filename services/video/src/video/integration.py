"""Translates the video store's domain events into video.events.v1 (ARCHITECTURE.md rule 4).

The one place that knows both shapes. Participants joining and leaving, consent and
notes stay inside the service; the topic carries what other services act on: the room
is prepared, moved or closed (its window), the session started, it ended, a recording
is available.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import Application

from kairos.events import VIDEO_REGISTRY
from kairos.events import video as contract
from kairos.events.mapping import IntegrationMapping
from kairos.events.payload import Payload
from kairos.eventstore import open_application
from kairos.messaging.notification_log import NotificationLog
from video.application import Sessions
from video.domain import Session

PRODUCER = "video"
EVENT_ID_NAMESPACE = uuid5(NAMESPACE_URL, "https://kairos.invalid/events/video")


def recording_path(booking_id: UUID) -> str:
    """Where the API serves a session's recording (behind a signed, expiring link)."""
    return f"/v1/bookings/{booking_id}/recording"


def _event(name: str) -> type:
    """The event class `@event(name)` made on Session (e.g. Session.SessionStarted)."""
    found: type = Session.__dict__[name]
    return found


def _window(kind: type[contract.RoomWindow]) -> Callable[[Any, Session], Payload]:
    """The maker of `kind` (prepared, moved): the session's window after the event."""
    return lambda e, s: kind(
        booking_id=s.id, room=s.room, starts_at=s.starts_at, ends_at=s.ends_at, opens_at=s.opens_at
    )


class IntegrationMapper(IntegrationMapping):
    """Callable: (domain event, notification id) → Envelope, or None for internal events."""

    producer = PRODUCER
    namespace = EVENT_ID_NAMESPACE
    registry = VIDEO_REGISTRY

    def __init__(self, app: Application[UUID]) -> None:
        super().__init__()
        self._app = app
        makers: dict[type, Callable[[Any, Session], Payload]] = {
            _event("RoomPrepared"): _window(contract.RoomPrepared),
            _event("WindowMoved"): _window(contract.RoomMoved),
            _event("RoomClosed"): lambda e, s: contract.RoomClosed(
                booking_id=s.id, room=s.room, reason=e.reason, closed_at=e.at
            ),
            _event("SessionStarted"): lambda e, s: contract.SessionStarted(
                booking_id=s.id, room=s.room, started_at=e.at, participants=s.joined
            ),
            _event("SessionEnded"): lambda e, s: contract.SessionEnded(
                booking_id=s.id,
                room=s.room,
                started_at=s.started_at,
                ended_at=e.at,
                participants=s.joined,
                no_show_suggested=e.no_show_suggested,
            ),
            _event("RecordingAvailable"): lambda e, s: contract.RecordingAvailable(
                booking_id=s.id,
                recording_id=e.recording_id,
                url=recording_path(s.id),
                duration_seconds=e.duration_seconds,
                size_bytes=e.size_bytes,
            ),
        }
        self.payloads = {kind: self._as_it_stood(make) for kind, make in makers.items()}

    def _as_it_stood(self, make: Callable[[Any, Session], Payload]) -> Callable[[Any], Payload]:
        """`make` given the session as it stood after the event: the same payload on
        every republish."""
        return lambda e: make(e, self._session_at(e.originator_id, e.originator_version))

    def specialist_of(self, event: Any) -> UUID:
        """The partitioning key: the booking's specialist (a session keeps its own)."""
        specialist: UUID = self._session_at(event.originator_id, 1).specialist_id
        return specialist

    def _session_at(self, session_id: UUID, version: int) -> Session:
        session: Session = self._app.repository.get(session_id, version=version)
        return session


@contextmanager
def video_log(database_url: str, snapshots: bool = True) -> Iterator[NotificationLog]:
    """The video event store as integration events (kairos.event_sources): what a
    consumer of video.events.v1 rebuilds from. Video's events carry no snapshots."""
    app = open_application(lambda env: Sessions(env=env), database_url)
    try:
        yield NotificationLog(app, IntegrationMapper(app))
    finally:
        app.close()
