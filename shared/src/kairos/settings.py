"""Settings common to every service, read from the environment.

Secrets have no defaults on purpose: a service refuses to start without them,
so a production deployment can never run on a value that shipped in the code.
A service declares only the secrets it uses (a Deployment gets no others), and
refuses one shorter than MIN_SECRET_BYTES, naming the variable.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr, ValidationInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from kairos.auth import JWT_AUDIENCE, JWT_ISSUER

# 256 bits: the strength of the HMAC-SHA256 keys they are (HS256 JWTs, manage tokens),
# and out of reach of guessing for the admin key.
MIN_SECRET_BYTES = 32


def _long_enough(value: SecretStr, info: ValidationInfo) -> SecretStr:
    length = len(value.get_secret_value().encode())
    if length < MIN_SECRET_BYTES:
        name = (info.field_name or "secret").upper()
        raise ValueError(
            f"{name} must be at least {MIN_SECRET_BYTES} bytes long, it has {length}; "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return value


#: A secret setting: required, never shown (in reprs or errors), at least MIN_SECRET_BYTES.
Secret = Annotated[SecretStr, AfterValidator(_long_enough)]


class ServiceSettings(BaseSettings):
    """Connection URLs and tuning shared by all services and workers."""

    # Validation errors must not echo a setting's value: it may be a secret.
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", hide_input_in_errors=True)

    database_url: str = Field(description="PostgreSQL URL, postgresql://user@host:port/db")
    redis_url: str = Field(description="Redis URL, redis://host:port/0")
    kafka_bootstrap_servers: str = Field(description="host:port[,host:port]")
    log_level: str = "INFO"
    # Short group timeouts make consumer-group joins take well under a second
    # on a single-broker dev/test setup; production raises them.
    kafka_session_timeout_ms: int = 6000
    kafka_heartbeat_interval_ms: int = 500
    kafka_rebalance_timeout_ms: int = 3000
    # How long a fetch waits for data. The dev broker answers only when the wait is
    # over, so events would arrive up to this late; a real Kafka answers as data comes.
    kafka_fetch_max_wait_ms: int = 20


class CallerAuthSettings(ServiceSettings):
    """The secrets of a service that authenticates callers (kairos.auth.Authenticator)."""

    admin_api_key: Secret
    jwt_secret: Secret
    manage_token_secret: Secret
    # Specialist JWTs name who issued them and for whom; tokens that don't match are refused.
    jwt_issuer: str = JWT_ISSUER
    jwt_audience: str = JWT_AUDIENCE
