"""The video service's tests: its API served on a real port with a clock the test holds,
the local LiveKit server (kairos_dev.fakes.livekit) sending it webhooks, and the real
livekit-api SDK between them; PostgreSQL for the event store, effects and key store;
the booking API served beside it, which video asks whether a manage token is current."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from livekit import api as lk
from psycopg_pool import ConnectionPool

from booking.main import create_app as create_booking
from kairos.auth import Authenticator
from kairos.effects import EffectDispatcher
from kairos.privacy import KeyStore
from kairos_dev.fakes.livekit import FakeLiveKit
from kairos_dev.fakes.livekit import create_app as livekit_app
from kairos_dev.infra.process import free_port
from kairos_dev.testing.served import Served
from kairos_dev.testing.services import TEST_SECRETS
from tests.booking.conftest import booking_settings
from video.adapters import LiveKitRooms
from video.application import Sessions
from video.config import VideoSettings
from video.domain import Recording, Session
from video.effects import effect_handlers
from video.main import create_app
from video.store import sessions_application

LIVEKIT_KEY = "kairos-test"
LIVEKIT_SECRET = "livekit-test-secret-0123456789abcdef0123"


class Clock:
    """The service's clock: real time, unless a test sets `now`."""

    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)


@dataclass
class Video:
    url: str
    livekit_url: str
    livekit: FakeLiveKit
    sessions: Sessions
    rooms: LiveKitRooms
    keys: KeyStore
    auth: Authenticator
    clock: Clock
    database_url: str
    http: httpx.Client
    booking: httpx.Client  # the booking API, with no credentials of its own

    def session(
        self,
        starts_in: timedelta = timedelta(minutes=5),
        duration: timedelta = timedelta(minutes=30),
        recording: Recording = "off",
        client_email: str | None = None,
        booking_id: UUID | None = None,
    ) -> Session:
        """A confirmed booking's session, starting `starts_in` from now (of `booking_id`,
        one the booking API knows, or of a made-up booking)."""
        starts_at = datetime.now(UTC).replace(microsecond=0) + starts_in
        subject = self.keys.key_for(client_email or f"client-{uuid4()}@example.com").subject
        return self.sessions.prepare(
            booking_id or uuid4(),
            specialist_id=uuid4(),
            client_subject=subject,
            starts_at=starts_at,
            ends_at=starts_at + duration,
            waiting_room=timedelta(minutes=10),
            recording=recording,
        )

    def client(self, session: Session) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.auth.manage_token(session.id)}"}

    def specialist(self, session: Session | UUID) -> dict[str, str]:
        owner = session.specialist_id if isinstance(session, Session) else session
        token = self.auth.specialist_token(owner, datetime.now(UTC))
        return {"Authorization": f"Bearer {token}"}

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TEST_SECRETS['ADMIN_API_KEY']}"}

    def join(self, session: Session, who: str = "client", deliver: bool = True) -> Any:
        """Join through the API, then connect with the token as a browser would."""
        headers = self.client(session) if who == "client" else self.specialist(session)
        grant = self.http.post(f"/v1/bookings/{session.id}/join", headers=headers)
        assert grant.status_code == 200, grant.text
        joined = httpx.post(
            f"{self.livekit_url}/fake/join",
            json={"token": grant.json()["token"], "deliver": deliver},
        )
        assert joined.status_code == 200, joined.text
        return grant.json()

    def dispatch_effects(self) -> int:
        """Perform what is due now (the consumer's dispatcher does this in production)."""
        with EffectDispatcher(
            self.database_url, effect_handlers(self.sessions, self.rooms), name="test"
        ) as dispatcher:
            return dispatcher.drain()

    def fresh(self, session: Session) -> Session:
        return self.sessions.session(session.id)


def video_settings(database_url: str, livekit_url: str, booking_url: str) -> VideoSettings:
    return VideoSettings(
        database_url=database_url,
        redis_url="redis://unused:6379/0",
        kafka_bootstrap_servers="unused:9092",
        admin_api_key=TEST_SECRETS["ADMIN_API_KEY"],
        jwt_secret=TEST_SECRETS["JWT_SECRET"],
        manage_token_secret=TEST_SECRETS["MANAGE_TOKEN_SECRET"],
        privacy_database_url=database_url,
        privacy_master_key=TEST_SECRETS["PRIVACY_MASTER_KEY"],
        privacy_index_key=TEST_SECRETS["PRIVACY_INDEX_KEY"],
        livekit_url=livekit_url,
        livekit_api_key=LIVEKIT_KEY,
        livekit_api_secret=LIVEKIT_SECRET,
        recording_link_secret="recording-link-test-secret-0123456789ab",
        recordings_base_url="https://recordings.test/",
        booking_api_url=booking_url,
        db_pool_size=4,
    )


@pytest.fixture
def video(fresh_database: Callable[[], str], redis_url: str) -> Iterator[Video]:
    database_url = fresh_database()
    api_port = free_port()
    livekit = FakeLiveKit(
        LIVEKIT_KEY,
        LIVEKIT_SECRET,
        webhook_urls=[f"http://127.0.0.1:{api_port}/v1/webhooks/livekit"],
    )
    clock = Clock()
    with (
        Served(livekit_app(livekit)) as served_livekit,
        Served(create_booking(booking_settings(database_url, redis_url))) as served_booking,
        httpx.Client(base_url=served_booking.url, timeout=30) as booking,
    ):
        settings = video_settings(database_url, served_livekit.url, served_booking.url)
        app = create_app(settings, clock=clock)
        sessions = sessions_application(database_url)
        pool = ConnectionPool(database_url, min_size=1, max_size=2, open=True)
        keys = KeyStore(pool, TEST_SECRETS["PRIVACY_MASTER_KEY"], TEST_SECRETS["PRIVACY_INDEX_KEY"])
        with (
            Served(app, port=api_port) as served_api,
            httpx.Client(base_url=served_api.url, timeout=30) as http,
        ):
            yield Video(
                url=served_api.url,
                livekit_url=served_livekit.url,
                livekit=livekit,
                sessions=sessions,
                rooms=LiveKitRooms(served_livekit.url, LIVEKIT_KEY, LIVEKIT_SECRET),
                keys=keys,
                auth=Authenticator(
                    TEST_SECRETS["ADMIN_API_KEY"],
                    TEST_SECRETS["JWT_SECRET"],
                    TEST_SECRETS["MANAGE_TOKEN_SECRET"],
                ),
                clock=clock,
                database_url=database_url,
                http=http,
                booking=booking,
            )
        pool.close()
        sessions.close()


def decoded(token: str) -> lk.access_token.Claims:
    return lk.TokenVerifier(LIVEKIT_KEY, LIVEKIT_SECRET).verify(token)
