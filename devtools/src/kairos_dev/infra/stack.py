"""All three pieces of infrastructure together, as the services see them."""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import TracebackType
from typing import Self

from kairos.settings import (
    DATABASE_URL_ENV,
    KAFKA_BOOTSTRAP_ENV,
    REDIS_URL_ENV,
    TOPIC_MANAGEMENT_ENV,
)
from kairos_dev.infra.kafka import KafkaHandle, ensure_kafka
from kairos_dev.infra.postgres import PostgresHandle, ensure_postgres
from kairos_dev.infra.redis import RedisHandle, ensure_redis


class Stack:
    """PostgreSQL, Redis and Kafka; `database_url` is the database the services use."""

    def __init__(
        self,
        postgres: PostgresHandle,
        redis: RedisHandle,
        kafka: KafkaHandle,
        database_url: str,
    ) -> None:
        self.postgres = postgres
        self.redis = redis
        self.kafka = kafka
        self.database_url = database_url

    @classmethod
    def start(
        cls,
        *,
        database: str | None = None,
        prefer_own_process: bool = False,
        postgres_data_dir: Path | None = None,
        redis_db: int = 0,
    ) -> Stack:
        """Bring up all three. `database` is created if absent, unless DATABASE_URL is given."""
        with contextlib.ExitStack() as started:
            postgres = started.enter_context(
                ensure_postgres(prefer_own_process=prefer_own_process, data_dir=postgres_data_dir)
            )
            redis = started.enter_context(
                ensure_redis(prefer_own_process=prefer_own_process, db=redis_db)
            )
            kafka = started.enter_context(ensure_kafka(prefer_own_process=prefer_own_process))
            database_url = postgres.url
            if database is not None and postgres.provider != "env":
                database_url = postgres.create_database(database, exist_ok=True)
            started.pop_all()
        return cls(postgres, redis, kafka, database_url)

    def env(self) -> dict[str, str]:
        """The connection variables every service reads, and who owns the topics: the
        processes, on a broker started or found here (a dev broker); whoever the
        environment says (KAFKA_TOPIC_MANAGEMENT, default external) on one it named."""
        env = {
            DATABASE_URL_ENV: self.database_url,
            REDIS_URL_ENV: self.redis.url,
            KAFKA_BOOTSTRAP_ENV: self.kafka.bootstrap,
        }
        if self.kafka.provider != "env":
            env[TOPIC_MANAGEMENT_ENV] = "dev"
        return env

    def stop(self) -> None:
        """Stop whatever was started here, Kafka first, PostgreSQL last."""
        for handle in (self.kafka, self.redis, self.postgres):
            handle.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
