"""A video consultation end to end, every part a real process as k8s runs them: the
booking API and relay, the video consumer (with its effect dispatcher), API, relay and
reconcile loop,
booking's consumer of video.events.v1, the local LiveKit server, PostgreSQL and a broker.

A client books through the API; the booking's room appears at LiveKit when the waiting
room opens; both parties join with the tokens the video API gives them; the booking
becomes in_progress; the room finishes and the booking is completed; the session shows
the history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from kairos.auth import Authenticator
from kairos_dev.infra import KafkaHandle
from kairos_dev.infra.process import free_port
from kairos_dev.testing.services import TEST_SECRETS, ServiceProcess, service_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADMIN = {"Authorization": f"Bearer {TEST_SECRETS['ADMIN_API_KEY']}"}
LIVEKIT = {
    "LIVEKIT_API_KEY": "kairos-e2e",
    "LIVEKIT_API_SECRET": "e2e-secret-0123456789abcdef0123456789ab",
}


def until(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)
    return found


@pytest.fixture
def stack(
    fresh_database: Callable[[], str], own_kafka: KafkaHandle, redis_url: str
) -> Iterator[dict[str, str]]:
    booking_db, video_db = fresh_database(), fresh_database()
    video_port, livekit_port = free_port(), free_port()
    livekit_url = f"http://127.0.0.1:{livekit_port}"
    video_env = service_env(
        video_db,
        redis_url,
        own_kafka.bootstrap,
        PRIVACY_DATABASE_URL=booking_db,  # the key store is booking's (docs/privacy.md)
        LIVEKIT_URL=livekit_url,
        RECORDING_LINK_SECRET="recording-link-e2e-secret-0123456789ab",
        RECORDINGS_BASE_URL="https://recordings.invalid/",
        **LIVEKIT,
    )
    booking_env = service_env(booking_db, redis_url, own_kafka.bootstrap)
    booking_api = ServiceProcess.api("booking.main:app", booking_env)
    # Video asks booking whether a client's manage token is current.
    video_env["BOOKING_API_URL"] = booking_api.url
    livekit_env = {
        **video_env,
        "LIVEKIT_WEBHOOK_URLS": f"http://127.0.0.1:{video_port}/v1/webhooks/livekit",
    }
    processes = [
        ServiceProcess(
            "livekit",
            ["uvicorn", "kairos_dev.fakes.livekit:app", "--port", str(livekit_port)],
            livekit_env,
            livekit_port,
        ),
        booking_api,
        ServiceProcess.worker("booking.relay", booking_env, port_env="RELAY_OPS_PORT"),
        ServiceProcess.worker(
            "booking.video_sessions", booking_env, port_env="VIDEO_CONSUMER_OPS_PORT"
        ),
        ServiceProcess(
            "video-api",
            ["uvicorn", "video.main:app", "--port", str(video_port)],
            video_env,
            video_port,
        ),
        ServiceProcess.worker("video.relay", video_env, port_env="RELAY_OPS_PORT"),
        ServiceProcess.worker("video.consumer", video_env, port_env="CONSUMER_OPS_PORT"),
        ServiceProcess.worker("video.reconcile", video_env, port_env="RECONCILE_OPS_PORT"),
    ]
    started: list[ServiceProcess] = []
    try:
        for process in processes:
            started.append(process.start())
        yield {
            "booking": f"http://127.0.0.1:{processes[1].port}",
            "video": f"http://127.0.0.1:{video_port}",
            "livekit": livekit_url,
        }
    finally:
        for process in reversed(started):
            process.stop()


def test_a_consultation_from_booking_to_completed(stack: dict[str, str]) -> None:
    booking_api = httpx.Client(base_url=stack["booking"], timeout=30)
    video_api = httpx.Client(base_url=stack["video"], timeout=30)
    specialist = booking_api.post(
        "/v1/specialists",
        headers=ADMIN,
        json={"name": "Dr Ada", "email": "ada@example.com", "timezone": "UTC"},
    ).json()["id"]
    week = [{"day": d, "start": "00:00", "end": "24:00"} for d in range(7)]
    booking_api.put(f"/v1/specialists/{specialist}/schedule", headers=ADMIN, json={"weekly": week})
    service = booking_api.post(
        "/v1/services",
        headers=ADMIN,
        json={
            "specialist_id": specialist,
            "name": "Consultation",
            "duration_minutes": 30,
            "slot_interval_minutes": 5,
        },
    ).json()["id"]
    now = datetime.now(UTC)
    starts_at = now.replace(second=0, microsecond=0) + timedelta(minutes=5 - now.minute % 5)
    booked = booking_api.post(
        "/v1/bookings",
        json={
            "service_id": service,
            "starts_at": starts_at.isoformat(),
            "client": {"name": "Bo", "email": "bo@example.com", "timezone": "UTC"},
        },
    )
    assert booked.status_code == 201, booked.text
    booking_id, token = booked.json()["id"], booked.json()["manage_token"]
    client = {"Authorization": f"Bearer {token}"}
    auth = Authenticator(
        TEST_SECRETS["ADMIN_API_KEY"],
        TEST_SECRETS["JWT_SECRET"],
        TEST_SECRETS["MANAGE_TOKEN_SECRET"],
    )
    jwt = auth.specialist_token(UUID(specialist), datetime.now(UTC))
    host = {"Authorization": f"Bearer {jwt}"}

    def room_exists() -> bool:
        rooms = httpx.get(f"{stack['livekit']}/fake/webhooks").json()["webhooks"]
        return any(w["event"] == "room_started" for w in rooms)

    until(room_exists, "LiveKit has the booking's room")
    for headers in (client, host):
        grant = video_api.post(f"/v1/bookings/{booking_id}/join", headers=headers)
        assert grant.status_code == 200, grant.text
        joined = httpx.post(f"{stack['livekit']}/fake/join", json={"token": grant.json()["token"]})
        assert joined.status_code == 200, joined.text

    def status() -> str:
        return str(booking_api.get(f"/v1/bookings/{booking_id}", headers=client).json()["status"])

    until(lambda: status() == "in_progress", "the booking is in progress")
    httpx.post(f"{stack['livekit']}/fake/rooms/booking-{booking_id}/finish")
    until(lambda: status() == "completed", "the booking is completed")

    history = video_api.get(f"/v1/bookings/{booking_id}/session", headers=host).json()
    assert history["state"] == "ended"
    assert sorted(history["joined"]) == ["client", "specialist"]
    assert history["duration_seconds"] is not None
