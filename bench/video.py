"""Video: join latency under 50 concurrent joins, and webhook → booking status latency.

Everything real but LiveKit's media: the video API as a process (uvicorn), the booking
API as a process (video asks it whether each join's manage token is current), PostgreSQL,
a Kafka broker of its own, the video relay and booking's consumer of video.events.v1
as processes, and LiveKit's webhooks signed with the API secret as LiveKit signs them.

- `join`: 50 sessions whose waiting rooms are open; each round, their 50 clients ask
  `POST /v1/bookings/{id}/join` at once (request → token, as the client sees it).
  A client's manage token is checked with booking (is it the current generation?),
  a specialist's JWT is not: rounds of the 50 specialists joining, alternating with
  the clients' in the same run, are the baseline that check is measured against.
- `webhook_to_booking_status`: per booking, the specialist is in; the client's
  `participant_joined` webhook is sent, and the time until the booking (its event store)
  reads `in_progress` is measured; then `room_finished` until it reads `completed`.
  That is: webhook verified and applied, SessionStarted stored, relayed to Kafka,
  consumed by booking, its command saved.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import aiohttp
import httpx
from google.protobuf.json_format import MessageToJson
from livekit import api as lk
from livekit.protocol import models
from livekit.protocol.webhook import WebhookEvent

from bench.booking import _percentiles
from booking.application import Bookings
from booking.config import BookingStoreSettings
from booking.domain import ServiceTerms
from booking.main import bookings_application
from kairos.auth import Authenticator
from kairos_dev.infra import ensure_kafka, ensure_postgres, ensure_redis
from kairos_dev.infra.postgres import database_name
from kairos_dev.testing import ServiceProcess, service_env
from kairos_dev.testing.services import TEST_SECRETS
from video.application import Sessions
from video.store import sessions_application

CONCURRENT_JOINS = 50
JOIN_ROUNDS = 10
STATUS_SAMPLES = 30
LIVEKIT_KEY = "kairos-bench"
LIVEKIT_SECRET = "livekit-bench-secret-0123456789abcdef0123"
ALL_DAY = {day: [[0, 24 * 60]] for day in range(7)}
TERMS = ServiceTerms(
    name="Consultation", duration_minutes=30, slot_interval_minutes=5,
    buffer_before_minutes=0, buffer_after_minutes=0, minimum_notice_minutes=0,
    max_advance_days=60, max_per_day=None, cancellation_hours=24, requires_approval=False,
    price=None, currency=None, questions=[],
)  # fmt: skip


def _auth() -> Authenticator:
    return Authenticator(
        TEST_SECRETS["ADMIN_API_KEY"],
        TEST_SECRETS["JWT_SECRET"],
        TEST_SECRETS["MANAGE_TOKEN_SECRET"],
    )


def _open_session(sessions: Sessions, booking_id: UUID, specialist_id: UUID) -> None:
    now = datetime.now(UTC)
    sessions.prepare(
        booking_id,
        specialist_id=specialist_id,
        client_subject=None,
        starts_at=now + timedelta(minutes=5),
        ends_at=now + timedelta(minutes=35),
        waiting_room=timedelta(minutes=10),
        recording="off",
    )


async def _joins(base_url: str, sessions: Sessions) -> dict[str, Any]:
    auth = _auth()
    parties = {uuid4(): uuid4() for _ in range(CONCURRENT_JOINS)}  # booking → specialist
    for booking_id, specialist_id in parties.items():
        _open_session(sessions, booking_id, specialist_id)
    now = datetime.now(UTC)
    credentials = {
        "client": {b: auth.manage_token(b) for b in parties},
        "specialist": {b: auth.specialist_token(s, now) for b, s in parties.items()},
    }
    latencies: dict[str, list[float]] = {"client": [], "specialist": []}
    async with aiohttp.ClientSession(base_url) as http:

        async def join(booking_id: UUID, who: str) -> float:
            headers = {"Authorization": f"Bearer {credentials[who][booking_id]}"}
            started = time.perf_counter()
            async with http.post(f"/v1/bookings/{booking_id}/join", headers=headers) as answer:
                body = await answer.json()
                assert answer.status == 200 and body["token"], body
            return time.perf_counter() - started

        for who in latencies:  # warm-up
            await asyncio.gather(*(join(b, who) for b in parties))
        for _ in range(JOIN_ROUNDS):
            for who, measured in latencies.items():
                measured += await asyncio.gather(*(join(b, who) for b in parties))
    client, specialist = (_percentiles(latencies[who]) for who in ("client", "specialist"))
    return {
        "concurrent": CONCURRENT_JOINS,
        "rounds": JOIN_ROUNDS,
        "latency_ms": client,  # the clients'
        "specialist_latency_ms": specialist,
        # What asking booking for the token's generation costs, under the same load.
        "client_over_specialist": {q: round(client[q] / specialist[q], 2) for q in ("p50", "p99")},
    }


def _webhook(kind: str, room: str, identity: str | None = None) -> tuple[bytes, str]:
    event = WebhookEvent(
        event=kind,
        id=f"EV_{uuid4().hex[:12]}",
        created_at=int(time.time()),
        room=models.Room(name=room),
        participant=models.ParticipantInfo(identity=identity or ""),
    )
    body = MessageToJson(event)
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    token = lk.AccessToken(LIVEKIT_KEY, LIVEKIT_SECRET).with_sha256(digest).to_jwt()
    return body.encode(), token


def _until(check: Callable[[], bool], timeout: float = 30) -> float:
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout:
            raise AssertionError("the booking's status did not change")
        time.sleep(0.002)
    return time.perf_counter()


def _status_latency(base_url: str, bookings: Bookings, sessions: Sessions) -> dict[str, Any]:
    started_ms: list[float] = []
    completed_ms: list[float] = []
    with httpx.Client(base_url=base_url) as http:

        def send(body: bytes, token: str) -> float:
            sent = time.perf_counter()
            answer = http.post(
                "/v1/webhooks/livekit",
                content=body,
                headers={"Authorization": token, "Content-Type": "application/webhook+json"},
            )
            assert answer.status_code == 200, answer.text
            return sent

        for _ in range(STATUS_SAMPLES):
            specialist = bookings.register_specialist("Dr", f"{uuid4().hex}@example.com", "UTC")
            bookings.set_schedule(specialist, None, ALL_DAY)
            service = bookings.define_service(specialist, TERMS).id
            now = datetime.now(UTC)
            starts_at = now.replace(second=0, microsecond=0) + timedelta(minutes=5 - now.minute % 5)
            client = {"name": "Ada", "email": "ada@example.com", "timezone": "UTC"}
            booking = bookings.request_booking(service, starts_at, client, {}, None, now).booking
            _open_session(sessions, booking.id, specialist)
            room = f"booking-{booking.id}"

            def status(booking_id: UUID = booking.id) -> str:
                return str(bookings.booking(booking_id).status)

            send(*_webhook("participant_joined", room, f"specialist:{specialist}"))
            sent = send(*_webhook("participant_joined", room, f"client:{booking.id}"))
            started_ms.append(_until(lambda: status() == "in_progress") - sent)
            sent = send(*_webhook("room_finished", room))
            completed_ms.append(_until(lambda: status() == "completed") - sent)
    return {
        "samples": STATUS_SAMPLES,
        "to_in_progress_ms": _percentiles(started_ms),
        "to_completed_ms": _percentiles(completed_ms),
    }


def run() -> dict[str, Any]:
    with (
        ensure_postgres() as postgres,
        ensure_redis(db=2) as redis,
        ensure_kafka(prefer_own_process=True) as kafka,
    ):
        database_url = postgres.create_database(prefix="kairos_bench_video")
        env = service_env(
            database_url,
            redis.url,
            kafka.bootstrap,
            LIVEKIT_URL="http://127.0.0.1:7880",  # joins sign locally; nothing calls it
            LIVEKIT_API_KEY=LIVEKIT_KEY,
            LIVEKIT_API_SECRET=LIVEKIT_SECRET,
            RECORDING_LINK_SECRET="recording-link-bench-secret-0123456789",
            RECORDINGS_BASE_URL="https://recordings.invalid/",
            # The machine's PostgreSQL is shared: small pools (the API's are min 1 anyway).
            DB_POOL_SIZE="4",
            DB_MAX_OVERFLOW="2",
        )
        settings = BookingStoreSettings(
            database_url=database_url,
            redis_url=redis.url,
            kafka_bootstrap_servers="unused:1",
            db_pool_size=2,
            db_max_overflow=2,
        )
        bookings = bookings_application(settings)
        sessions = sessions_application(database_url)
        try:
            with (
                ServiceProcess.api("booking.main:app", env) as booking_api,
                ServiceProcess.api(
                    "video.main:app",
                    {**env, "BOOKING_API_URL": f"http://127.0.0.1:{booking_api.port}"},
                ) as video,
                ServiceProcess.worker("video.relay", env, port_env="RELAY_OPS_PORT"),
                ServiceProcess.worker(
                    "booking.video_sessions", env, port_env="VIDEO_CONSUMER_OPS_PORT"
                ),
            ):
                base_url = f"http://127.0.0.1:{video.port}"
                return {
                    "join": asyncio.run(_joins(base_url, sessions)),
                    "webhook_to_booking_status": _status_latency(base_url, bookings, sessions),
                }
        finally:
            bookings.close()
            sessions.close()
            postgres.drop_database(database_name(database_url))
