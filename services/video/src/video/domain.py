"""The video write model: one Session per booking, its room's window and its lifecycle.

Pure: no I/O, no clock. What happened at LiveKit arrives as facts with the instant
LiveKit stamped on them (`at`); LiveKit's webhooks are at least once and unordered, so
a fact older than the last one about the same participant changes nothing, and
repeating one changes nothing either.

States: waiting (prepared, nobody has both joined yet) → live (both parties in) →
ended (the room finished after it was live, or it was closed). A cancelled or declined
booking's session is closed: joining it is refused for good.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from kairos.errors import KairosError

Party = Literal["client", "specialist"]
Recording = Literal["off", "optional", "required"]
PARTIES: tuple[Party, Party] = ("specialist", "client")

#: The waiting room opens this long before the start, unless the service says otherwise.
WAITING_ROOM = timedelta(minutes=10)
#: A party not in by this long after the start is offered to the specialist as a no-show.
NO_SHOW_GRACE = timedelta(minutes=10)


class SessionError(KairosError):
    """A command the session's state does not allow."""

    code = "invalid_state"
    status = 409


class TooEarly(SessionError):
    code = "too_early"
    status = 425

    def __init__(self, opens_at: datetime) -> None:
        super().__init__("the waiting room is not open yet", {"opens_at": opens_at})
        self.opens_at = opens_at


class Gone(SessionError):
    """Closed (the booking was cancelled or declined) or ended: no one joins again."""

    code = "gone"
    status = 410


class ConsentRequired(SessionError):
    """The service records every session and the client has not consented."""

    code = "recording_consent_required"
    status = 409


def room_name(booking_id: UUID) -> str:
    """The LiveKit room of a booking, and the idempotency key of every operation on it."""
    return f"booking-{booking_id}"


class Session(Aggregate):
    """A booking's video session (its id is the booking's)."""

    @event("RoomPrepared")
    def __init__(
        self,
        id: UUID,
        specialist_id: UUID,
        client_subject: UUID | None,
        starts_at: datetime,
        ends_at: datetime,
        waiting_room_seconds: int,
        recording: Recording,
    ) -> None:
        self.specialist_id = specialist_id
        # The other members of a collective booking, who host with the specialist.
        self.co_hosts: list[UUID] = []
        # Notes are health content about the client: sealed under the client's key, so
        # erasing the client erases them (docs/privacy.md).
        self.client_subject = client_subject
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.waiting_room_seconds = waiting_room_seconds
        self.recording = recording
        self.closed = False
        self.present: dict[Party, bool] = {}
        # party → LiveKit's created_at of the last join/leave applied for it (ordering)
        self.last_seen: dict[Party, datetime] = {}
        self.joined: list[Party] = []
        self.started_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.no_show_suggested: Party | None = None
        self.consent: bool | None = None
        self.recording_id: str | None = None
        self.recording_file: dict[str, Any] | None = None
        self.notes: dict[str, str] | None = None
        self.notes_at: datetime | None = None

    @property
    def room(self) -> str:
        return room_name(self.id)

    @property
    def opens_at(self) -> datetime:
        return self.starts_at - timedelta(seconds=self.waiting_room_seconds)

    @property
    def state(self) -> Literal["waiting", "live", "ended"]:
        if self.ended_at is not None or self.closed:
            return "ended"
        return "live" if self.started_at is not None else "waiting"

    @property
    def participants(self) -> list[Party]:
        return [p for p in PARTIES if self.present.get(p)]

    def check_can_join(self, party: Party, now: datetime) -> None:
        if self.closed or self.ended_at is not None:
            raise Gone("this consultation's room is closed")
        if now < self.opens_at:
            raise TooEarly(self.opens_at)
        if party == "client" and self.recording == "required" and not self.consent:
            raise ConsentRequired(
                "this service records its consultations: consent first "
                "(POST /v1/bookings/{id}/recording-consent)"
            )

    def no_show_at(self, now: datetime, grace: timedelta = NO_SHOW_GRACE) -> Party | None:
        """The party to offer the specialist as a no-show: the client, if not in by
        `grace` after the start (and the session did not end first)."""
        if self.no_show_suggested is not None:
            return self.no_show_suggested
        if self.state == "waiting" and now >= self.starts_at + grace:
            return "client" if "client" not in self.joined else None
        return None

    # --- commands from booking.events.v1 -----------------------------------------

    @property
    def hosts(self) -> list[UUID]:
        """The specialists who join as host: the booking's, and a collective one's members."""
        return [self.specialist_id, *self.co_hosts]

    def host_by(self, specialist_ids: list[UUID]) -> None:
        """The booking's specialists changed (reassigned to another member of its team)
        or are several (a collective booking): they host from now on, the first as the
        session's specialist."""
        if specialist_ids and specialist_ids != self.hosts and not self.closed:
            self._hosts_changed(specialist_ids=specialist_ids)

    @event("HostsChanged")
    def _hosts_changed(self, specialist_ids: list[UUID]) -> None:
        self.specialist_id, *self.co_hosts = specialist_ids

    def move(self, starts_at: datetime, ends_at: datetime) -> None:
        if (starts_at, ends_at) != (self.starts_at, self.ends_at) and not self.closed:
            self._moved(starts_at=starts_at, ends_at=ends_at)

    @event("WindowMoved")
    def _moved(self, starts_at: datetime, ends_at: datetime) -> None:
        self.starts_at, self.ends_at = starts_at, ends_at

    def close(self, reason: str, at: datetime) -> bool:
        """The booking is over for good (cancelled, declined, completed, a no-show): no
        one joins again, and a session still live ends now. False when already closed."""
        if self.closed:
            return False
        if self.started_at is not None and self.ended_at is None:
            for party in self.participants:
                self._left(party=party, at=max(at, self.last_seen.get(party, at)))
            self._ended(at=at, no_show_suggested=None)
        self._closed(reason=reason, at=at)
        return True

    @event("RoomClosed")
    def _closed(self, reason: str, at: datetime) -> None:
        self.closed = True

    # --- facts from LiveKit -------------------------------------------------------

    def participant_joined(self, party: Party, at: datetime) -> None:
        if self._stale(party, at) or self.state == "ended":
            return
        self._joined(party=party, at=at)
        if self.started_at is None and all(self.present.get(p) for p in PARTIES):
            self._started(at=at)

    @event("ParticipantJoined")
    def _joined(self, party: Party, at: datetime) -> None:
        self.present[party] = True
        self.last_seen[party] = at
        if party not in self.joined:
            self.joined.append(party)

    def participant_left(self, party: Party, at: datetime) -> None:
        if self._stale(party, at) or (not self.present.get(party) and party in self.last_seen):
            return
        # A leave that arrives before its join is kept too: the join, older, then is stale.
        self._left(party=party, at=at)

    @event("ParticipantLeft")
    def _left(self, party: Party, at: datetime) -> None:
        self.present[party] = False
        self.last_seen[party] = at

    def _stale(self, party: Party, at: datetime) -> bool:
        last = self.last_seen.get(party)
        return last is not None and at < last

    @event("SessionStarted")
    def _started(self, at: datetime) -> None:
        self.started_at = at

    def room_finished(self, at: datetime) -> None:
        """The room is gone at LiveKit (everyone left and its timeout passed, or it was
        deleted). Ends a session that was live; one nobody started stays waiting, so a
        room LiveKit closed early is prepared again for the parties to join."""
        if self.started_at is None or self.ended_at is not None:
            return
        for party in self.participants:
            self._left(party=party, at=max(at, self.last_seen.get(party, at)))
        missing = next((p for p in reversed(PARTIES) if p not in self.joined), None)
        self._ended(at=at, no_show_suggested=missing)

    def end_without_session(self, at: datetime) -> None:
        """The consultation's time is over and no session ever started: it ends, with the
        parties that never came offered as no-shows (the client first)."""
        if self.started_at is not None or self.ended_at is not None or self.closed:
            return
        missing = next((p for p in reversed(PARTIES) if p not in self.joined), None)
        self._ended(at=at, no_show_suggested=missing)

    @event("SessionEnded")
    def _ended(self, at: datetime, no_show_suggested: Party | None) -> None:
        self.ended_at = at
        self.no_show_suggested = no_show_suggested

    # --- recording and notes ------------------------------------------------------

    def give_consent(self, consent: bool, at: datetime) -> None:
        if self.recording == "off":
            raise SessionError("this service does not record its consultations")
        if consent != self.consent:
            self._consented(consent=consent, at=at)

    @event("RecordingConsented")
    def _consented(self, consent: bool, at: datetime) -> None:
        self.consent = consent

    @property
    def may_record(self) -> bool:
        return self.recording != "off" and bool(self.consent) and self.recording_id is None

    def recording_started(self, recording_id: str, at: datetime) -> None:
        if self.recording_id != recording_id:
            self._recording_started(recording_id=recording_id, at=at)

    @event("RecordingStarted")
    def _recording_started(self, recording_id: str, at: datetime) -> None:
        self.recording_id = recording_id

    def recording_ready(
        self, recording_id: str, filename: str, duration_seconds: int, size_bytes: int, at: datetime
    ) -> None:
        if self.consent is not True:
            return  # consent withdrawn during the recording: it is not offered
        if self.recording_file is None or self.recording_file["recording_id"] != recording_id:
            self._recording_available(
                recording_id=recording_id,
                filename=filename,
                duration_seconds=duration_seconds,
                size_bytes=size_bytes,
                at=at,
            )

    @event("RecordingAvailable")
    def _recording_available(
        self, recording_id: str, filename: str, duration_seconds: int, size_bytes: int, at: datetime
    ) -> None:
        self.recording_id = recording_id
        self.recording_file = {
            "recording_id": recording_id,
            "filename": filename,
            "duration_seconds": duration_seconds,
            "size_bytes": size_bytes,
            "at": at.isoformat(),
        }

    def write_notes(self, sealed_notes: dict[str, str], at: datetime) -> None:
        """Notes arrive sealed (under the client's key): the aggregate never sees them."""
        self._notes_written(notes=sealed_notes, at=at)

    @event("NotesWritten")
    def _notes_written(self, notes: dict[str, str], at: datetime) -> None:
        self.notes = notes
        self.notes_at = at
