"""Translates the video store's domain events into video.events.v1 (ARCHITECTURE.md rule 4).

The one place that knows both shapes. Participants joining and leaving, consent, notes
and the room's window stay inside the service; the topic carries what other services
act on: the session started, it ended, a recording is available.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import Application
from eventsourcing.utils import get_topic

from kairos.events import VIDEO_REGISTRY, Envelope
from kairos.events import video as contract
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


class IntegrationMapper:
    """Callable: (domain event, notification id) → Envelope, or None for internal events."""

    def __init__(self, app: Application[UUID]) -> None:
        self._app = app
        self._payloads: dict[type, Callable[[Any, Session], Payload]] = {
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

    def published_topics(self) -> list[str]:
        """The stored-event topics that map to an integration event."""
        return [get_topic(kind) for kind in self._payloads]

    def payload(self, event: Any) -> Payload | None:
        to_payload = self._payloads.get(type(event))
        if to_payload is None:
            return None
        # The session as it stood after the event: the same payload on every republish.
        return to_payload(event, self._session_at(event.originator_id, event.originator_version))

    def specialist_of(self, event: Any) -> UUID:
        """The partitioning key: the booking's specialist (a session keeps its own)."""
        specialist: UUID = self._session_at(event.originator_id, 1).specialist_id
        return specialist

    def __call__(self, event: Any, notification_id: int) -> Envelope | None:
        payload = self.payload(event)
        if payload is None:
            return None
        name = type(payload).__name__
        return Envelope(
            event_id=uuid5(EVENT_ID_NAMESPACE, f"{event.originator_id}/{event.originator_version}"),
            type=name,
            version=VIDEO_REGISTRY.latest_version(name),
            occurred_at=event.timestamp,
            producer=PRODUCER,
            notification_id=notification_id,
            aggregate_id=event.originator_id,
            specialist_id=self.specialist_of(event),
            data=payload.model_dump(mode="json"),
        )

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
