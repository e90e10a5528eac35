"""Settings common to every service, read from the environment.

Secrets have no defaults on purpose: a service refuses to start without them,
so a production deployment can never run on a value that shipped in the code.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Connection URLs and secrets shared by all services."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str = Field(description="PostgreSQL URL, postgresql://user@host:port/db")
    redis_url: str = Field(description="Redis URL, redis://host:port/0")
    kafka_bootstrap_servers: str = Field(description="host:port[,host:port]")
    admin_api_key: SecretStr
    jwt_secret: SecretStr
    manage_token_secret: SecretStr
    log_level: str = "INFO"
    # Short group timeouts make consumer-group joins take well under a second
    # on a single-broker dev/test setup; production raises them.
    kafka_session_timeout_ms: int = 6000
    kafka_heartbeat_interval_ms: int = 500
    kafka_rebalance_timeout_ms: int = 3000
    # How long a fetch waits for data. The dev broker answers only when the wait is
    # over, so events would arrive up to this late; a real Kafka answers as data comes.
    kafka_fetch_max_wait_ms: int = 20
