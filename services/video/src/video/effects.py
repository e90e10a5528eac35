"""The video service's effects (ARCHITECTURE.md rule 6): room operations at LiveKit, and
the session's own deadline, each recorded where its reason is decided and performed by
the dispatcher the consumer runs.

Every room operation's idempotency key at LiveKit is the room name (creating a room that
exists returns it, deleting one gone is no error); a recording's is the effect id
(`VideoRooms.start_recording` returns the one already running). Each re-checks the
session just before it runs: a room is not prepared for a cancelled booking, nor a
recording started without consent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from pydantic import BaseModel

from kairos.auth import now_utc
from kairos.effects import Effect, EffectHandler, EffectKind, cancel_effects, record_effect
from kairos.providers.video import Room, VideoRooms
from video.application import Sessions
from video.domain import Session

#: A room stays open after its last participant leaves this long (reconnects), and
#: then LiveKit finishes it: the session's end.
DEPARTURE_TIMEOUT = timedelta(minutes=2)


class SessionRef(BaseModel):
    booking_id: UUID


PREPARE_ROOM = EffectKind("video.prepare_room", SessionRef)
CLOSE_ROOM = EffectKind("video.close_room", SessionRef)
START_RECORDING = EffectKind("video.start_recording", SessionRef)
#: The client withdrew consent while the session was being recorded.
STOP_RECORDING = EffectKind("video.stop_recording", SessionRef)
#: The consultation's time (and the no-show grace) is over: a session nobody started ends.
TIME_OVER = EffectKind("video.time_over", SessionRef)


def reason(booking_id: UUID) -> str:
    return f"session:{booking_id}"


def schedule_session(
    conn: psycopg.Connection[Any], session: Session, key: str, grace: timedelta
) -> None:
    """(Re)schedule a session's room and deadline for its current window: what an earlier
    window scheduled is dropped first. `key` is the causing event's id."""
    cancel_effects(conn, reason(session.id), PREPARE_ROOM.name)
    cancel_effects(conn, reason(session.id), TIME_OVER.name)
    ref = SessionRef(booking_id=session.id)
    # Prepared when the waiting room opens: LiveKit closes an empty room after its
    # empty timeout, so a room made at booking time would be gone by the start.
    record_effect(
        conn, PREPARE_ROOM, ref, key=key, reason=reason(session.id), due_at=session.opens_at
    )
    record_effect(
        conn, TIME_OVER, ref, key=key, reason=reason(session.id), due_at=session.ends_at + grace
    )


def close_session_room(
    conn: psycopg.Connection[Any], booking_id: UUID, key: str, due_at: datetime
) -> None:
    cancel_effects(conn, reason(booking_id), "video.")
    record_effect(
        conn,
        CLOSE_ROOM,
        SessionRef(booking_id=booking_id),
        key=key,
        reason=f"closed:{booking_id}",  # not the session's reason: nothing cancels it
        due_at=due_at,
    )


def record_recording_start(conn: psycopg.Connection[Any], session: Session) -> None:
    """Once per session (its id keys the effect): only one recording is ever started."""
    record_effect(
        conn,
        START_RECORDING,
        SessionRef(booking_id=session.id),
        key=str(session.id),
        reason=reason(session.id),
        due_at=now_utc(),
    )


def record_recording_stop(conn: psycopg.Connection[Any], session: Session) -> None:
    """Consent withdrawn: a recording not started yet never starts, one running stops."""
    cancel_effects(conn, reason(session.id), START_RECORDING.name)
    if session.recording_id is not None and session.recording_file is None:
        record_effect(
            conn,
            STOP_RECORDING,
            SessionRef(booking_id=session.id),
            key=session.recording_id,
            reason=f"withdrawn:{session.id}",
            due_at=now_utc(),
        )


def effect_handlers(app: Sessions, rooms: VideoRooms) -> Sequence[EffectHandler[Any]]:
    """The performers and re-checks of every video effect, bound to the store and LiveKit."""

    def prepare(effect: Effect[SessionRef]) -> None:
        session = app.session(effect.data.booking_id)
        # Open from the waiting room to the end: a no-show's room closes by itself.
        lifetime = session.ends_at - session.opens_at
        # Its hosts (a collective booking's every member) and the client.
        seats = len(session.hosts) + 1
        rooms.prepare_room(Room(session.room, lifetime, DEPARTURE_TIMEOUT, seats))

    def open_session(_: psycopg.Connection[Any], effect: Effect[SessionRef]) -> bool:
        session = app.find(effect.data.booking_id)
        return session is not None and session.state != "ended"

    def close(effect: Effect[SessionRef]) -> None:
        rooms.close_room(app.session(effect.data.booking_id).room)

    def start_recording(effect: Effect[SessionRef]) -> None:
        session = app.session(effect.data.booking_id)
        recording_id = rooms.start_recording(session.room, idempotency_key=effect.idempotency_key)
        app.recording_started(session.id, recording_id, now_utc())

    def may_record(_: psycopg.Connection[Any], effect: Effect[SessionRef]) -> bool:
        session = app.find(effect.data.booking_id)
        return session is not None and session.state == "live" and session.may_record

    def stop_recording(effect: Effect[SessionRef]) -> None:
        recording_id = app.session(effect.data.booking_id).recording_id
        if recording_id is not None:
            rooms.stop_recording(recording_id)

    def time_over(effect: Effect[SessionRef]) -> None:
        app.time_over(effect.data.booking_id, effect.due_at)

    return (
        EffectHandler(PREPARE_ROOM, prepare, open_session),
        EffectHandler(CLOSE_ROOM, close),
        EffectHandler(START_RECORDING, start_recording, may_record),
        EffectHandler(STOP_RECORDING, stop_recording),
        EffectHandler(TIME_OVER, time_over, open_session),
    )
