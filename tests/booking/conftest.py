"""Fixtures for the booking service's tests: settings on a fresh database, the in-process API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from booking.config import BookingSettings
from booking.main import create_app
from kairos_dev.infra import PostgresHandle
from kairos_dev.infra.postgres import database_name
from kairos_dev.testing import ServiceProcess, service_env
from kairos_dev.testing.services import TEST_SECRETS
from tests.booking.helpers import (
    ADMIN_API_KEY,
    JWT_SECRET,
    MANAGE_TOKEN_SECRET,
    Catalog,
    FrozenClock,
)

#: The in-process API's "now": a Monday, a week before the Monday most tests book.
API_NOW = datetime(2026, 3, 2, tzinfo=UTC)


def booking_settings(database_url: str, redis_url: str) -> BookingSettings:
    return BookingSettings(
        database_url=database_url,
        redis_url=redis_url,
        kafka_bootstrap_servers="unused:9092",
        admin_api_key=ADMIN_API_KEY,
        jwt_secret=JWT_SECRET,
        manage_token_secret=MANAGE_TOKEN_SECRET,
        privacy_database_url=database_url,
        privacy_master_key=TEST_SECRETS["PRIVACY_MASTER_KEY"],
        privacy_index_key=TEST_SECRETS["PRIVACY_INDEX_KEY"],
        db_pool_size=4,
        db_max_overflow=4,
    )


@pytest.fixture(scope="module")
def module_databases(postgres: PostgresHandle) -> Iterator[Callable[[], str]]:
    """Call it for a new database shared by one test module, dropped when the module ends.

    Tests sharing one keep apart by their own specialists, keys and start times; fewer
    databases keep the suite fast.
    """
    created: list[str] = []

    def make() -> str:
        created.append(postgres.create_database(prefix="kairos_test"))
        return created[-1]

    yield make
    for url in created:
        postgres.drop_database(database_name(url))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(API_NOW)


@pytest.fixture
def api(
    fresh_database: Callable[[], str], redis_url: str, clock: FrozenClock
) -> Iterator[TestClient]:
    """The booking API in-process on a database of its own, with its lifespan running."""
    app = create_app(booking_settings(fresh_database(), redis_url), clock=clock)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def catalog(api: TestClient) -> Catalog:
    return Catalog(api)


@pytest.fixture
def two_workers(database_url: str, redis_url: str) -> Iterator[ServiceProcess]:
    """A booking process of two uvicorn workers on the module's `database_url`, so requests
    race both within a process and between processes. A generous contention timeout: on a
    loaded machine the test must not turn into a race against the clock (a 503 busy would
    fail it as surely as a false 409)."""
    env = service_env(database_url, redis_url, CONTENTION_TIMEOUT_SECONDS="300")
    with ServiceProcess.api("booking.main:app", env, workers=2) as process:
        yield process
