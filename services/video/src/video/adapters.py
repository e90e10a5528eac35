"""`VideoRooms` on LiveKit, through its real server SDK (livekit-api).

The SDK is asynchronous; the Protocol is synchronous, because its callers (the effect
dispatcher's performers, the reconcile loop, the API's plain-`def` routes) run in
threads without an event loop. Each call therefore runs in a short event loop of its
own, with its own HTTP session. Join tokens are signed locally: joining costs no call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import aiohttp
from livekit import api

from kairos.effects import TransientEffectError
from kairos.providers.video import JoinGrant, Participant, Role, Room

T = TypeVar("T")
TIMEOUT = aiohttp.ClientTimeout(total=10)


class LiveKitRooms:
    """The rooms of one LiveKit deployment (`url`: its HTTP(S) or WS(S) URL)."""

    def __init__(
        self,
        url: str,
        api_key: str,
        api_secret: str,
        recordings_prefix: str = "recordings",
        public_url: str | None = None,
    ) -> None:
        self._url = url
        self._key = api_key
        self._secret = api_secret
        self._prefix = recordings_prefix
        self._public_url = public_url or url

    @property
    def client_url(self) -> str:
        """Where browsers connect (LiveKit's WebSocket URL)."""
        return self._public_url.replace("http://", "ws://").replace("https://", "wss://")

    def prepare_room(self, room: Room) -> None:
        self._run(
            lambda lk: lk.room.create_room(
                api.CreateRoomRequest(
                    name=room.name,
                    empty_timeout=int(room.empty_timeout.total_seconds()),
                    departure_timeout=int(room.departure_timeout.total_seconds()),
                    max_participants=room.max_participants,
                )
            )
        )

    def close_room(self, name: str) -> None:
        try:
            self._run(lambda lk: lk.room.delete_room(api.DeleteRoomRequest(room=name)))
        except api.TwirpError as exc:
            if exc.code != api.TwirpErrorCode.NOT_FOUND:
                raise

    def rooms(self) -> Sequence[str]:
        listed = self._run(lambda lk: lk.room.list_rooms(api.ListRoomsRequest()))
        return [room.name for room in listed.rooms]

    def participants(self, name: str) -> Sequence[Participant]:
        listed = self._run(
            lambda lk: lk.room.list_participants(api.ListParticipantsRequest(room=name))
        )
        return [
            Participant(p.identity, datetime.fromtimestamp(p.joined_at, UTC))
            for p in listed.participants
        ]

    def remove_participant(self, name: str, identity: str) -> None:
        try:
            self._run(
                lambda lk: lk.room.remove_participant(
                    api.RoomParticipantIdentity(room=name, identity=identity)
                )
            )
        except api.TwirpError as exc:
            if exc.code != api.TwirpErrorCode.NOT_FOUND:
                raise

    def join_grant(
        self, name: str, identity: str, display_name: str, role: Role, ttl: timedelta
    ) -> JoinGrant:
        expires_at = datetime.now(UTC) + ttl
        token = (
            api.AccessToken(self._key, self._secret)
            .with_identity(identity)
            .with_name(display_name)
            .with_ttl(ttl)
            .with_grants(
                api.VideoGrants(
                    room_join=True,
                    room=name,
                    room_admin=role == "host",
                    can_publish=True,
                    can_subscribe=True,
                )
            )
            .to_jwt()
        )
        return JoinGrant(name, token, self.client_url, role, expires_at.replace(microsecond=0))

    def start_recording(self, name: str, *, idempotency_key: str) -> str:
        def start(lk: api.LiveKitAPI) -> Awaitable[str]:
            async def go() -> str:
                active = await lk.egress.list_egress(
                    api.ListEgressRequest(room_name=name, active=True)
                )
                if active.items:
                    return active.items[0].egress_id
                info = await lk.egress.start_room_composite_egress(
                    api.RoomCompositeEgressRequest(
                        room_name=name,
                        file_outputs=[
                            api.EncodedFileOutput(
                                filepath=f"{self._prefix}/{name}/{idempotency_key}.mp4"
                            )
                        ],
                    )
                )
                return info.egress_id

            return go()

        return self._run(start)

    def stop_recording(self, recording_id: str) -> None:
        try:
            self._run(
                lambda lk: lk.egress.stop_egress(api.StopEgressRequest(egress_id=recording_id))
            )
        except api.TwirpError as exc:
            if exc.code not in (
                api.TwirpErrorCode.NOT_FOUND,
                api.TwirpErrorCode.FAILED_PRECONDITION,
            ):
                raise

    def _run(self, call: Callable[[api.LiveKitAPI], Awaitable[T]]) -> T:
        async def go() -> T:
            async with api.LiveKitAPI(self._url, self._key, self._secret, timeout=TIMEOUT) as lk:
                return await call(lk)

        try:
            return asyncio.run(go())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientEffectError(f"LiveKit unreachable: {exc}") from exc
        except api.TwirpError as exc:
            if exc.status >= 500 or exc.status == 429:
                raise TransientEffectError(f"LiveKit: {exc}") from exc
            raise
