"""The local LiveKit server speaks LiveKit's server API to the real SDK: Twirp with
protobuf (what livekit-api sends) and JSON bodies, access tokens checked against the
API secret and their grants enforced, and webhooks LiveKit's WebhookReceiver accepts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from livekit import api

from kairos_dev.fakes.livekit import FakeLiveKit, create_app
from kairos_dev.testing.served import Served

KEY, SECRET = "fake-key", "fake-secret-0123456789abcdef0123456789ab"


@pytest.fixture
def livekit() -> Iterator[tuple[FakeLiveKit, str]]:
    server = FakeLiveKit(KEY, SECRET)
    with Served(create_app(server)) as served:
        yield server, served.url


def call(url: str, secret: str, action: str) -> object:
    async def go() -> object:
        async with api.LiveKitAPI(url, KEY, secret) as lk:
            if action == "create":
                return await lk.room.create_room(
                    api.CreateRoomRequest(name="r1", max_participants=2)
                )
            if action == "list":
                return await lk.room.list_rooms(api.ListRoomsRequest())
            if action == "participants":
                return await lk.room.list_participants(api.ListParticipantsRequest(room="r1"))
            raise AssertionError(action)

    return asyncio.run(go())


def token(grants: api.VideoGrants, secret: str = SECRET, identity: str = "x") -> str:
    return (
        api.AccessToken(KEY, secret)
        .with_identity(identity)
        .with_grants(grants)
        .with_ttl(timedelta(minutes=5))
        .to_jwt()
    )


def test_the_sdk_creates_and_lists_rooms_over_protobuf(livekit: tuple[FakeLiveKit, str]) -> None:
    server, url = livekit
    created = call(url, SECRET, "create")
    assert isinstance(created, api.Room) and created.max_participants == 2
    listed = call(url, SECRET, "list")
    assert [room.name for room in listed.rooms] == ["r1"]  # type: ignore[attr-defined]
    assert [w.event for w in server.sent] == ["room_started"]


def test_a_token_signed_with_another_secret_is_unauthenticated(
    livekit: tuple[FakeLiveKit, str],
) -> None:
    _, url = livekit
    with pytest.raises(api.TwirpError) as refused:
        call(url, "not-the-secret-0123456789abcdef0123456789", "list")
    assert refused.value.status == 401 and refused.value.code == "unauthenticated"


def test_grants_are_enforced_and_json_bodies_answered_in_json(
    livekit: tuple[FakeLiveKit, str],
) -> None:
    _, url = livekit
    twirp = f"{url}/twirp/livekit.RoomService"

    def post(method: str, body: dict[str, object], grants: api.VideoGrants) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token(grants)}"}
        return httpx.post(f"{twirp}/{method}", json=body, headers=headers)

    no_create = post("CreateRoom", {"name": "r1"}, api.VideoGrants(room_list=True))
    assert no_create.status_code == 403 and no_create.json()["code"] == "permission_denied"
    created = post("CreateRoom", {"name": "r1"}, api.VideoGrants(room_create=True))
    assert created.status_code == 200 and created.json()["name"] == "r1"
    other_room = post(
        "ListParticipants", {"room": "r1"}, api.VideoGrants(room_admin=True, room="r2")
    )
    assert other_room.status_code == 403
    admin = post("ListParticipants", {"room": "r1"}, api.VideoGrants(room_admin=True, room="r1"))
    assert admin.status_code == 200 and admin.json() == {}


def test_joining_needs_a_join_token_for_that_room_and_a_free_place(
    livekit: tuple[FakeLiveKit, str],
) -> None:
    server, url = livekit
    call(url, SECRET, "create")

    def join(identity: str, room: str = "r1", secret: str = SECRET) -> httpx.Response:
        grant = api.VideoGrants(room_join=True, room=room)
        return httpx.post(
            f"{url}/fake/join", json={"token": token(grant, secret, identity=identity)}
        )

    assert join("a", secret="forged-secret-0123456789abcdef012345678").status_code == 401
    assert join("a", room="r2").status_code == 404
    assert join("a").status_code == 200
    assert join("b").status_code == 200
    assert join("c").status_code == 429  # max 2 participants
    assert [w.event for w in server.sent][-2:] == ["participant_joined", "participant_joined"]
    receiver = api.WebhookReceiver(api.TokenVerifier(KEY, SECRET))
    for sent in server.sent:
        assert receiver.receive(sent.body, sent.authorization).event == sent.event


def test_rooms_finish_after_their_empty_or_departure_timeout() -> None:
    now = [1000.0]
    server = FakeLiveKit(KEY, SECRET, clock=lambda: now[0])
    with Served(create_app(server)) as served:
        lk = f"{served.url}/twirp/livekit.RoomService"
        create = {"Authorization": f"Bearer {token(api.VideoGrants(room_create=True))}"}
        for name in ("unvisited", "visited"):
            httpx.post(
                f"{lk}/CreateRoom",
                json={"name": name, "emptyTimeout": 300, "departureTimeout": 20},
                headers=create,
            )
        grant = api.VideoGrants(room_join=True, room="visited")
        httpx.post(f"{served.url}/fake/join", json={"token": token(grant, identity="a")})
        httpx.post(f"{served.url}/fake/rooms/visited/leave", json={"identity": "a"})

        def rooms() -> list[str]:
            listed = httpx.post(
                f"{lk}/ListRooms",
                json={},
                headers={"Authorization": f"Bearer {token(api.VideoGrants(room_list=True))}"},
            )
            return sorted(room["name"] for room in listed.json().get("rooms", []))

        now[0] += 19
        assert rooms() == ["unvisited", "visited"]
        now[0] += 1  # the departure timeout after the last one left
        assert rooms() == ["unvisited"]
        now[0] += 280  # the empty timeout after its creation
        assert rooms() == []
        assert [w.event for w in server.sent].count("room_finished") == 2
