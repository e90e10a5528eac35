"""Video rooms (LiveKit) as the video service's effects, join endpoint and reconcile
loop call them.

A booking has one room, named by the video service from the booking id. The room
name is the idempotency key of every room operation (ARCHITECTURE.md rule 6: LiveKit
has no other): preparing a room that exists returns it, moving its window again is a
no-op, closing one already gone succeeds; so a dispatcher may retry each of these
effects and a crash may repeat one. Recording has no key at LiveKit; an
implementation keeps to one active recording per room, and `start_recording` with
the effect's id (Effect.idempotency_key) returns the one already running.

An implementation raises kairos.effects.TransientEffectError when trying again may
succeed (timeouts, 5xx, unavailable) and anything else for a permanent failure.
Inbound webhooks are verified by the video service itself (LiveKit's WebhookReceiver),
outside this Protocol.

The implementation on LiveKit's server SDK is video.adapters.LiveKitRooms. The local
LiveKit server, which that real livekit-api client talks to in `make dev` and the
tests (Twirp RoomService and Egress, signed webhooks), is kairos_dev.fakes.livekit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

#: The specialist joins as host (room admin), the client as guest.
Role = Literal["host", "guest"]


@dataclass(frozen=True)
class Room:
    name: str
    #: Closes this long after its creation if no one joins (LiveKit's empty timeout)...
    empty_timeout: timedelta
    #: ...and this long after the last participant leaves (its departure timeout).
    departure_timeout: timedelta
    max_participants: int = 2


@dataclass(frozen=True)
class Participant:
    identity: str  # who the join token named: the booking's specialist or client
    joined_at: datetime


@dataclass(frozen=True)
class JoinGrant:
    """What `POST /v1/bookings/{id}/join` answers with (API.md, video)."""

    room: str
    token: str  # a signed access token for this room only
    url: str  # where the client connects (the LiveKit server's WebSocket URL)
    role: Role
    expires_at: datetime


class VideoRooms(Protocol):
    """The rooms of one LiveKit deployment."""

    def prepare_room(self, room: Room) -> None:
        """Create the room, or leave the existing one of that name as it is."""
        ...

    def close_room(self, name: str) -> None:
        """End the room, disconnecting whoever is in it; one already gone is not an error."""
        ...

    def rooms(self) -> Sequence[str]:
        """The names of the rooms that exist now (the reconcile loop's view)."""
        ...

    def participants(self, name: str) -> Sequence[Participant]:
        """Who is in the room now (none if it does not exist)."""
        ...

    def remove_participant(self, name: str, identity: str) -> None:
        """Disconnect one participant; one not in the room is not an error."""
        ...

    def join_grant(
        self, name: str, identity: str, display_name: str, role: Role, ttl: timedelta
    ) -> JoinGrant:
        """A short-lived token to join this room only: a host may administer it, both may
        publish and subscribe. Signed locally: no call to the server."""
        ...

    def start_recording(self, name: str, *, idempotency_key: str) -> str:
        """Record the room (room-composite egress to the configured storage); the
        recording's id, that of the one already running if there is one."""
        ...

    def stop_recording(self, recording_id: str) -> None:
        """Stop a recording; one already stopped is not an error."""
        ...
