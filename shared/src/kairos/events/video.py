"""Version 1 payloads of the video service's integration events (`video.events.v1`).

One video session per booking (API.md, video). Envelope: producer "video", aggregate id
= the booking id, key = the specialist id. booking consumes SessionStarted to mark the
booking in progress and SessionEnded to complete it (unless it already is, or is a
no-show); SessionEnded's no-show suggestion is for the specialist to confirm
(`POST /v1/bookings/{id}/no-show`), never applied by itself. notifications consumes
RoomPrepared, RoomMoved and RoomClosed: its messages show when the room's waiting
room opens, and carry no join link once the room is closed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from kairos.events.payload import Payload
from kairos.text import Storable

Party = Literal["client", "specialist"]


class RoomWindow(Payload):
    """A room's window as it stands: joinable from `opens_at`, the start less the
    service's waiting room (the fields RoomPrepared and RoomMoved share)."""

    booking_id: UUID
    room: Storable
    starts_at: datetime
    ends_at: datetime
    opens_at: datetime = Field(description="From when its two parties may join")


class RoomPrepared(RoomWindow):
    """The booking's room exists (its booking was confirmed)."""


class RoomMoved(RoomWindow):
    """The booking was rescheduled: the room's window moved with it."""


class RoomClosed(Payload):
    """No one joins the room again (its booking was cancelled, declined, completed or
    a no-show); joining answers 410."""

    booking_id: UUID
    room: Storable
    reason: Storable
    closed_at: datetime


class SessionStarted(Payload):
    """Both parties are in the booking's room: the consultation is under way."""

    booking_id: UUID
    room: Storable
    started_at: datetime
    participants: list[Party]


class SessionEnded(Payload):
    """The session is over: its room finished after it was live, or the consultation's
    time passed without both parties ever in it (then `started_at` is None)."""

    booking_id: UUID
    room: Storable
    started_at: datetime | None = Field(description="None when nobody ever joined")
    ended_at: datetime
    participants: list[Party] = Field(description="Who joined at some point")
    no_show_suggested: Party | None = Field(
        default=None, description="A party that never joined, for the specialist to confirm"
    )


class RecordingAvailable(Payload):
    """A recording of the session is stored (only with every party's consent)."""

    booking_id: UUID
    recording_id: Storable = Field(description="LiveKit's egress id")
    url: Storable = Field(
        description="The path where the video service serves it, behind its own auth "
        "(GET /v1/bookings/{id}/session gives a signed, expiring link)"
    )
    duration_seconds: int = Field(ge=0)
    size_bytes: int = Field(ge=0)


VIDEO_EVENTS: tuple[type[Payload], ...] = (
    RoomPrepared,
    RoomMoved,
    RoomClosed,
    SessionStarted,
    SessionEnded,
    RecordingAvailable,
)
