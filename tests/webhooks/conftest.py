"""The webhooks service's tests: its API in-process on a fresh database, the consumer's
handler fed booking.events.v1 envelopes as the runner would (each in its own
transaction), the real effect dispatcher and sender on a clock the test moves, and a
real HTTP receiver (kairos_dev.fakes.webhook_sink) on a port of its own, which a test
may stop and start again. The broker path is in test_consumer_process.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from kairos.effects import EffectDispatcher
from kairos.events import REGISTRY, Envelope
from kairos.events import booking as contract
from kairos.privacy import KeyStore, PersonalData
from kairos_dev.fakes.webhook_sink import ReceivedDelivery, WebhookSink
from kairos_dev.fakes.webhook_sink import create_app as sink_app
from kairos_dev.infra.process import free_port
from kairos_dev.testing.booking_events import BookingEvents
from kairos_dev.testing.served import Served
from kairos_dev.testing.services import TEST_SECRETS
from webhooks.config import WebhooksSettings
from webhooks.consumer import sender
from webhooks.consumers import on_booking_event
from webhooks.effects import Sender
from webhooks.main import create_app

ADMIN = {"Authorization": f"Bearer {TEST_SECRETS['ADMIN_API_KEY']}"}
SPECIALIST, SERVICE = uuid4(), uuid4()


class Clock:
    """The service's clock: real time until a test moves it."""

    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or datetime.now(UTC)

    def advance(self, delta: timedelta) -> None:
        self.now = self() + delta


def webhook_settings(database_url: str, **overrides: Any) -> WebhooksSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": "redis://unused:6379/0",
        "kafka_bootstrap_servers": "unused:9092",
        "kafka_topic_management": "dev",
        "admin_api_key": TEST_SECRETS["ADMIN_API_KEY"],
        "jwt_secret": TEST_SECRETS["JWT_SECRET"],
        "manage_token_secret": TEST_SECRETS["MANAGE_TOKEN_SECRET"],
        "privacy_database_url": database_url,
        "privacy_master_key": TEST_SECRETS["PRIVACY_MASTER_KEY"],
        "privacy_index_key": TEST_SECRETS["PRIVACY_INDEX_KEY"],
        "webhook_secret_keys": TEST_SECRETS["WEBHOOK_SECRET_KEYS"],
        # The test receivers listen on 127.0.0.1 over http, as in `kairos dev`.
        "webhook_allow_private_targets": True,
        "webhook_require_https": False,
        "webhook_timeout_seconds": 5.0,
        "webhook_concurrency": 4,
    }
    return WebhooksSettings(**{**values, **overrides})


class Receiver:
    """A real HTTP receiver on a port of its own, that can go down and come back."""

    def __init__(self) -> None:
        self.sink = WebhookSink()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/dev/webhooks/in"
        self._served: Served | None = None

    def start(self) -> None:
        self._served = Served(sink_app(self.sink), port=self.port).__enter__()

    def stop(self) -> None:
        if self._served is not None:
            self._served.__exit__(None, None, None)
            self._served = None

    def received(self) -> list[ReceivedDelivery]:
        """Oldest first."""
        return list(reversed(self.sink.received.newest_first()))


class Booking:
    """One booking's events (kairos_dev.testing.booking_events), its client's contact sealed
    in the key store; each reschedule moves it a day on."""

    def __init__(self, personal: PersonalData, email: str | None = None) -> None:
        self.email = email or f"client-{uuid4().hex[:8]}@example.com"
        sealer = personal.sealer(self.email)
        self.subject = sealer.subject
        contact = contract.PersonalContact(
            name=sealer.seal("Ada Lovelace"),
            email=sealer.seal(self.email),
            phone=sealer.seal("+441234567890"),
        )
        answers = {"reason": sealer.seal("Recurring migraines")}
        self.events = BookingEvents(contact, SPECIALIST, SERVICE, answers=answers)
        self.id = self.events.id
        self.starts_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)

    def confirmed(self) -> Envelope:
        return self.events.confirmed(self.starts_at)

    def rescheduled(self) -> Envelope:
        old, self.starts_at = self.starts_at, self.starts_at + timedelta(days=1)
        return self.events.rescheduled(old, self.starts_at)

    def cancelled(self) -> Envelope:
        return self.events.cancelled(self.starts_at)

    def no_show(self) -> Envelope:
        return self.events.no_show(self.starts_at)


@dataclass
class Hooks:
    api: TestClient
    clock: Clock
    sender: Sender
    dispatcher: EffectDispatcher
    personal: PersonalData
    keys: KeyStore
    database_url: str

    def subscribe(self, url: str, events: list[str] | None = None) -> dict[str, Any]:
        answer = self.api.post(
            "/v1/webhooks/subscriptions",
            json={"url": url, "events": events or ["*"]},
            headers=ADMIN,
        )
        assert answer.status_code == 201, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def publish(self, *envelopes: Envelope) -> None:
        """Hand the events to the consumer's handler, each in its own transaction."""
        with psycopg.connect(self.database_url) as conn:
            for envelope in envelopes:
                with conn.transaction():
                    on_booking_event(conn, envelope, REGISTRY.decode(envelope))

    def deliver(self) -> int:
        """Perform every send due now (on the test's clock); how many were claimed."""
        return self.dispatcher.drain()

    def deliveries(self, subscription_id: str | UUID) -> list[dict[str, Any]]:
        answer = self.api.get(
            f"/v1/webhooks/subscriptions/{subscription_id}/deliveries", headers=ADMIN
        )
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["deliveries"]
        return found

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        answer = self.api.get("/v1/webhooks/subscriptions", headers=ADMIN)
        assert answer.status_code == 200, answer.text
        return next(s for s in answer.json()["subscriptions"] if s["id"] == subscription_id)

    def booking(self, email: str | None = None) -> Booking:
        return Booking(self.personal, email)


@pytest.fixture
def hooks_factory(
    fresh_database: Callable[[], str],
) -> Iterator[Callable[..., Hooks]]:
    """Makes the service on a fresh database, with settings overridden as asked."""
    with_cleanup: list[Callable[[], None]] = []

    def make(**overrides: Any) -> Hooks:
        database_url = fresh_database()
        settings = webhook_settings(database_url, **overrides)
        clock = Clock()
        client = TestClient(create_app(settings, clock=clock))
        client.__enter__()
        with_cleanup.append(lambda: client.__exit__(None, None, None))
        sending_context = sender(settings, clock)
        sending = sending_context.__enter__()
        with_cleanup.append(lambda: sending_context.__exit__(None, None, None))
        dispatcher = EffectDispatcher(
            database_url, sending.handlers(), name="test-webhooks", clock=clock, concurrency=4
        )
        dispatcher.open()
        with_cleanup.append(dispatcher.close)
        pool = ConnectionPool(database_url, min_size=1, max_size=2, open=True)
        with_cleanup.append(pool.close)
        keys = KeyStore(pool, TEST_SECRETS["PRIVACY_MASTER_KEY"], TEST_SECRETS["PRIVACY_INDEX_KEY"])
        keys.create_tables()
        return Hooks(
            api=client,
            clock=clock,
            sender=sending,
            dispatcher=dispatcher,
            personal=PersonalData(keys),
            keys=keys,
            database_url=database_url,
        )

    yield make
    for cleanup in reversed(with_cleanup):
        cleanup()


@pytest.fixture
def hooks(hooks_factory: Callable[..., Hooks]) -> Hooks:
    return hooks_factory()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.start()
    yield running
    running.stop()
