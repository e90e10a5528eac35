"""The video service's Application: loads a booking's Session, runs one command, saves.

Commands come from three places, each of which may repeat itself: the booking events
consumer (redelivery), LiveKit's webhooks (at least once, unordered) and the reconcile
loop. Each command is therefore idempotent on the aggregate's state, and a save that
loses a race to another one on the same session runs the command again on the new
state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from kairos.errors import KairosError
from video.domain import Party, Recording, Session

T = TypeVar("T")
_ATTEMPTS = 20


class NotFound(KairosError):
    code = "not_found"
    status = 404


class Sessions(Application[UUID]):
    """Every booking's video session."""

    name = "video_sessions"

    def find(self, booking_id: UUID) -> Session | None:
        try:
            session: Any = self.repository.get(booking_id)
        except AggregateNotFoundError:
            return None
        return session if isinstance(session, Session) else None

    def session(self, booking_id: UUID) -> Session:
        found = self.find(booking_id)
        if found is None:
            raise NotFound(
                "this booking has no video session (yet)", {"booking_id": str(booking_id)}
            )
        return found

    def prepare(
        self,
        booking_id: UUID,
        specialist_id: UUID,
        client_subject: UUID | None,
        starts_at: datetime,
        ends_at: datetime,
        waiting_room: timedelta,
        recording: Recording,
        co_hosts: Sequence[UUID] = (),
    ) -> Session:
        """The booking is confirmed: its session exists (once; again, it moves), hosted
        by `specialist_id` and, for a collective booking, the other `co_hosts`."""

        def attempt() -> Session:
            session = self.find(booking_id)
            if session is None:
                session = Session(
                    id=booking_id,
                    specialist_id=specialist_id,
                    client_subject=client_subject,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    waiting_room_seconds=int(waiting_room.total_seconds()),
                    recording=recording,
                )
            else:
                session.move(starts_at, ends_at)
            session.host_by([specialist_id, *co_hosts])
            self.save(session)
            return session

        return _until_saved(attempt)

    def host_by(self, booking_id: UUID, specialist_ids: list[UUID]) -> Session | None:
        """The booking went to other specialists (reassigned): they host its session."""
        return self._changing(booking_id, lambda s: s.host_by(specialist_ids))

    def move(self, booking_id: UUID, starts_at: datetime, ends_at: datetime) -> Session | None:
        return self._changing(booking_id, lambda s: s.move(starts_at, ends_at))

    def close_session(self, booking_id: UUID, reason: str, at: datetime) -> Session | None:
        """The booking is over (cancelled, declined, completed, a no-show): nobody joins
        its room again, and a live session ends."""
        return self._changing(booking_id, lambda s: s.close(reason, at))

    def joined(self, booking_id: UUID, party: Party, at: datetime) -> Session | None:
        return self._changing(booking_id, lambda s: s.participant_joined(party, at))

    def left(self, booking_id: UUID, party: Party, at: datetime) -> Session | None:
        return self._changing(booking_id, lambda s: s.participant_left(party, at))

    def room_finished(self, booking_id: UUID, at: datetime) -> Session | None:
        return self._changing(booking_id, lambda s: s.room_finished(at))

    def time_over(self, booking_id: UUID, at: datetime) -> Session | None:
        return self._changing(booking_id, lambda s: s.end_without_session(at))

    def recording_started(self, booking_id: UUID, recording_id: str, at: datetime) -> None:
        self._changing(booking_id, lambda s: s.recording_started(recording_id, at))

    def recording_ready(
        self,
        booking_id: UUID,
        recording_id: str,
        filename: str,
        duration_seconds: int,
        size_bytes: int,
        at: datetime,
    ) -> None:
        self._changing(
            booking_id,
            lambda s: s.recording_ready(recording_id, filename, duration_seconds, size_bytes, at),
        )

    def give_consent(self, booking_id: UUID, consent: bool, at: datetime) -> Session:
        return self._existing(booking_id, lambda s: s.give_consent(consent, at))

    def write_notes(self, booking_id: UUID, sealed_notes: dict[str, str], at: datetime) -> Session:
        return self._existing(booking_id, lambda s: s.write_notes(sealed_notes, at))

    def _existing(self, booking_id: UUID, command: Callable[[Session], object]) -> Session:
        session = self._changing(booking_id, command)
        if session is None:
            raise NotFound("this booking has no video session", {"booking_id": str(booking_id)})
        return session

    def _changing(self, booking_id: UUID, command: Callable[[Session], object]) -> Session | None:
        """Run `command` on the session and save; None when the booking has none."""

        def attempt() -> Session | None:
            session = self.find(booking_id)
            if session is None:
                return None
            command(session)
            self.save(session)
            return session

        return _until_saved(attempt)


def _until_saved(attempt: Callable[[], T]) -> T:
    for _ in range(_ATTEMPTS - 1):
        try:
            return attempt()
        except IntegrityError:
            continue  # another writer saved this session first: run again on its state
    return attempt()
