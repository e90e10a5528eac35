"""LiveKit's webhooks as the local LiveKit sends them (signed with the API secret) drive
the session; forged ones change nothing; repeated and reordered ones are harmless; and
the reconcile loop repairs what a lost one missed."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from google.protobuf.json_format import MessageToJson
from livekit import api as lk
from livekit.protocol import models
from livekit.protocol.webhook import WebhookEvent

from kairos.providers.video import Room
from tests.video.conftest import LIVEKIT_KEY, LIVEKIT_SECRET, Video
from video.domain import Session
from video.reconcile import Reconciler


def signed(event: WebhookEvent, secret: str = LIVEKIT_SECRET) -> tuple[str, str]:
    body = MessageToJson(event)
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return body, lk.AccessToken(LIVEKIT_KEY, secret).with_sha256(digest).to_jwt()


def send(video: Video, body: str, token: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/webhook+json"}
    if token is not None:
        headers["Authorization"] = token
    return video.http.post("/v1/webhooks/livekit", content=body, headers=headers)


def participant_event(
    kind: str, session: Session, party: str, created_at: int, id: str
) -> WebhookEvent:
    owner = session.specialist_id if party == "specialist" else session.id
    return WebhookEvent(
        event=kind,
        id=id,
        created_at=created_at,
        room=models.Room(name=session.room),
        participant=models.ParticipantInfo(identity=f"{party}:{owner}"),
    )


def view(video: Video, session: Session) -> dict[str, Any]:
    answer = video.http.get(f"/v1/bookings/{session.id}/session", headers=video.specialist(session))
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def room_for(video: Video, session: Session) -> None:
    video.rooms.prepare_room(Room(session.room, timedelta(hours=1), timedelta(minutes=2)))


def test_both_parties_in_make_the_session_live_and_the_room_finishing_ends_it(
    video: Video,
) -> None:
    session = video.session()
    room_for(video, session)
    video.join(session, "specialist")
    assert view(video, session)["state"] == "waiting"
    assert view(video, session)["participants"] == ["specialist"]
    video.join(session, "client")

    live = view(video, session)
    assert live["state"] == "live" and live["started_at"] is not None
    assert sorted(live["participants"]) == ["client", "specialist"]

    httpx.post(f"{video.livekit_url}/fake/rooms/{session.room}/finish")
    ended = view(video, session)
    assert ended["state"] == "ended" and ended["participants"] == []
    assert ended["duration_seconds"] is not None and ended["duration_seconds"] >= 0
    assert ended["no_show_suggested"] is None
    joined = video.http.post(f"/v1/bookings/{session.id}/join", headers=video.client(session))
    assert joined.status_code == 410


def test_a_webhook_that_is_not_livekits_is_refused_and_changes_nothing(video: Video) -> None:
    session = video.session()
    now = int(time.time())
    joined = participant_event("participant_joined", session, "client", now, "EV_forged")
    body, token = signed(joined, secret="someone-elses-secret-0123456789abcdef")
    assert send(video, body, token).status_code == 401
    body, token = signed(joined)
    tampered = body.replace("participant_joined", "participant_left")
    refused = send(video, tampered, token)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_signature"
    assert send(video, body, None).status_code == 401
    assert view(video, session)["participants"] == []

    # The genuine one, with the same id, is then applied: a refusal recorded nothing.
    assert send(video, body, token).json() == {"applied": True}
    assert view(video, session)["participants"] == ["client"]


def test_a_repeated_webhook_is_applied_once(video: Video) -> None:
    session = video.session()
    room_for(video, session)
    video.join(session, "client")
    [joined] = [w for w in video.livekit.sent if w.event == "participant_joined"]
    httpx.post(
        f"{video.livekit_url}/fake/rooms/{session.room}/leave",
        json={"identity": f"client:{session.id}"},
    )
    assert view(video, session)["participants"] == []

    again = send(video, joined.body, joined.authorization)
    assert again.status_code == 200 and again.json() == {"applied": False}
    assert view(video, session)["participants"] == []


def test_webhooks_arriving_out_of_order_are_applied_in_livekits_order(video: Video) -> None:
    session = video.session()
    now = int(time.time())
    joined = participant_event("participant_joined", session, "client", now - 60, "EV_j")
    left = participant_event("participant_left", session, "client", now - 30, "EV_l")
    send(video, *signed(left))
    send(video, *signed(joined))  # older than the leave: the client is out
    assert view(video, session)["participants"] == []
    assert view(video, session)["joined"] == []

    back = participant_event("participant_joined", session, "client", now, "EV_back")
    send(video, *signed(back))
    assert view(video, session)["participants"] == ["client"]


def test_a_lost_webhook_is_repaired_by_the_reconcile_loop(video: Video) -> None:
    session = video.session()
    room_for(video, session)
    video.join(session, "specialist")
    video.join(session, "client", deliver=False)  # LiveKit lost this one
    assert view(video, session)["state"] == "waiting"

    reconciler = Reconciler(video.sessions, video.rooms)
    assert reconciler.reconcile() == 1
    assert view(video, session)["state"] == "live"
    assert reconciler.reconcile() == 0  # nothing left to repair

    # The room finishing is lost too: LiveKit no longer has the room.
    httpx.post(f"{video.livekit_url}/fake/rooms/{session.room}/finish", json={"deliver": False})
    assert reconciler.reconcile() == 1
    assert view(video, session)["state"] == "ended"


def test_a_client_not_in_by_the_grace_period_is_offered_as_a_no_show(video: Video) -> None:
    session = video.session(starts_in=timedelta(minutes=-11))
    room_for(video, session)
    video.join(session, "specialist")
    suggested = view(video, session)
    assert suggested["state"] == "waiting" and suggested["no_show_suggested"] == "client"

    on_time = video.session(starts_in=timedelta(minutes=-9))
    assert view(video, on_time)["no_show_suggested"] is None

    # The consultation's time over, the session ends with the suggestion recorded.
    video.sessions.time_over(session.id, datetime.now(UTC))
    ended = view(video, session)
    assert ended["state"] == "ended" and ended["no_show_suggested"] == "client"
