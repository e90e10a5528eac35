"""Fixtures for the availability service: the booking API and the slots API in-process, on
one database, with the read model brought up to date from the booking event store.

`world.sync()` applies the booking events stored since the last sync through the
projector's own `apply`, and records the consumer's positions as the Kafka consumer
would; the end-to-end tests in tests/e2e cover the same path through a real broker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from availability.config import AvailabilitySettings
from availability.main import create_app as create_availability
from availability.projector import CONSUMER, PRODUCER, apply
from availability.tables import record_status
from booking.integration import booking_log
from booking.main import create_app as create_booking
from kairos.messaging import specialist_partition
from kairos.messaging.notification_log import NotificationLog
from kairos.messaging.positions import TABLE as POSITIONS
from kairos.messaging.positions import create_positions_table
from kairos_dev.infra import PostgresHandle
from kairos_dev.infra.postgres import database_name
from tests.booking.conftest import API_NOW, booking_settings
from tests.booking.helpers import ADMIN_API_KEY, Catalog, FrozenClock, expect


def availability_settings(database_url: str, redis_url: str) -> AvailabilitySettings:
    return AvailabilitySettings(
        database_url=database_url,
        redis_url=redis_url,
        kafka_bootstrap_servers="unused:9092",
        kafka_topic_management="dev",  # a test's broker is a dev broker
        db_pool_size=4,
        admin_api_key=ADMIN_API_KEY,
    )


def project_new_events(log: NotificationLog, database_url: str, after: int) -> int:
    """Apply the booking events after `after` as the projector does; the last id applied."""
    with psycopg.connect(database_url) as conn:
        create_positions_table(conn)
        for page in log.pages(after):
            for event in page:
                with conn.transaction():
                    apply(conn, event, event.payload)
                    conn.execute(
                        f"INSERT INTO {POSITIONS} AS p"
                        " (consumer, producer, partition, notification_id) VALUES (%s, %s, %s, %s)"
                        " ON CONFLICT (consumer, producer, partition) DO UPDATE"
                        " SET notification_id = EXCLUDED.notification_id",
                        (
                            CONSUMER,
                            PRODUCER,
                            specialist_partition(event.specialist_id),
                            event.notification_id,
                        ),
                    )
                after = event.notification_id
        # Current as of now: every stored event is applied.
        record_status(
            conn, CONSUMER, True, lag_events=0, lag_seconds=0.0, current_as_of=time.time()
        )
        conn.commit()
    return after


@dataclass
class World:
    """A booking API and a slots API sharing a database and a frozen clock."""

    booking: TestClient
    slots_api: TestClient
    log: NotificationLog
    database_url: str
    clock: FrozenClock
    catalog: Catalog
    applied: int = 0
    _synced: list[int] = field(default_factory=list)

    def sync(self) -> None:
        """Bring the read model up to date with the booking event store."""
        self.applied = project_new_events(self.log, self.database_url, self.applied)
        # The slots API's cache hears of the changes through NOTIFY; wait until it has.
        self.wait_for_cache()

    def wait_for_cache(self) -> None:
        cache = self.slots_api.app.state.slots.cache
        assert self.slots_api.portal is not None
        heard = self.slots_api.portal.call(cache.wait_for, self.applied, 5.0)
        assert heard, f"the slots API never heard of event {self.applied}"

    def slots(
        self,
        service_id: str,
        first: date | str,
        last: date | str,
        timezone: str | None = None,
        **params: Any,
    ) -> httpx.Response:
        query = {"service_id": service_id, "from": str(first), "to": str(last), **params}
        if timezone is not None:
            query["timezone"] = timezone
        return self.slots_api.get("/v1/slots", params=query)

    def offered(
        self, service_id: str, first: date | str, last: date | str, timezone: str | None = None
    ) -> list[str]:
        """The offered starts (UTC, with Z), after syncing the read model."""
        self.sync()
        body = expect(self.slots(service_id, first, last, timezone), 200)
        return [slot["start"] for slot in body["slots"]]


@contextmanager
def running_world(database_url: str, redis_url: str) -> Iterator[World]:
    """The booking API and the slots API in-process on `database_url`, clock at API_NOW."""
    clock = FrozenClock(API_NOW)
    booking_app = create_booking(booking_settings(database_url, redis_url), clock=clock)
    slots_app = create_availability(availability_settings(database_url, redis_url), clock=clock)
    with (
        TestClient(booking_app) as booking,
        TestClient(slots_app) as slots_api,
        booking_log(database_url) as log,
    ):
        yield World(booking, slots_api, log, database_url, clock, Catalog(booking))


@pytest.fixture
def world(fresh_database: Callable[[], str], redis_url: str) -> Iterator[World]:
    """A world on a database of its own."""
    with running_world(fresh_database(), redis_url) as world:
        yield world


@pytest.fixture(scope="module")
def module_world(postgres: PostgresHandle, redis_url: str) -> Iterator[World]:
    """One world for a whole module: tests keep apart by their own specialists, which
    keeps the module fast. Use it through `shared_world`."""
    database_url = postgres.create_database(prefix="kairos_test")
    try:
        with running_world(database_url, redis_url) as world:
            yield world
    finally:
        postgres.drop_database(database_name(database_url))


@pytest.fixture
def shared_world(module_world: World) -> Iterator[World]:
    """The module's world, with its clock at API_NOW when each test starts and ends."""
    module_world.clock.now = API_NOW
    yield module_world
    module_world.clock.now = API_NOW


def at(text: str) -> datetime:
    """An ISO instant (with Z or an offset) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
