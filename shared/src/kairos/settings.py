"""Settings common to every service, read from the environment.

Secrets have no defaults on purpose: a service refuses to start without them,
so a production deployment can never run on a value that shipped in the code.
A service declares only the secrets it uses (a Deployment gets no others), and
refuses one shorter than MIN_SECRET_BYTES, naming the variable.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, ValidationInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from kairos.auth import JWT_AUDIENCE, JWT_ISSUER, Authenticator

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


#: Who owns the event topics. "dev": the dev broker, which forgets everything when it
#: restarts; the processes create the topics and a relay recreates its own. "external":
#: the platform (Strimzi `KafkaTopic`); nothing here creates, deletes or recreates a
#: topic, and a relay or consumer refuses to start when a topic's partitions differ.
TopicManagement = Literal["dev", "external"]

# The environment variables of the settings that tools outside a service read too (the
# ops commands, the dev stack): each is its field's name, upper-cased.
DATABASE_URL_ENV = "DATABASE_URL"
REDIS_URL_ENV = "REDIS_URL"
KAFKA_BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
KAFKA_PARTITIONS_ENV = "KAFKA_PARTITIONS"
#: "dev" or "external" (TopicManagement).
TOPIC_MANAGEMENT_ENV = "KAFKA_TOPIC_MANAGEMENT"

#: KAFKA_PARTITIONS when unset: the dev broker's topics. deploy/k8s sets its own.
DEFAULT_PARTITIONS = 6


class TopicSettings(BaseSettings):
    """How the event topics are laid out and who owns them (ServiceSettings has these too;
    the ops commands read only these)."""

    # Validation errors must not echo a setting's value: it may be a secret.
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", hide_input_in_errors=True)

    # The one partition count of every event topic. It decides which partition holds a
    # specialist's events, so the relays, the consumers, the rebuilds and the topics'
    # owner (the KafkaTopic manifests) must all agree on it.
    kafka_partitions: int = Field(DEFAULT_PARTITIONS, ge=1)
    # "external" unless told otherwise: a process never deletes a topic it was not told
    # is the dev broker's. `kairos dev` and the tests set "dev".
    kafka_topic_management: TopicManagement = "external"


class ServiceSettings(TopicSettings):
    """Connection URLs and tuning shared by all services and workers."""

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
    # Where workers (relays, consumers) serve their ops endpoints: this machine only,
    # unless told otherwise (the k8s manifests set 0.0.0.0 for the kubelet's probes).
    ops_host: str = "127.0.0.1"


class CallerAuthSettings(ServiceSettings):
    """The secrets of a service that authenticates callers (kairos.auth.Authenticator)."""

    admin_api_key: Secret
    jwt_secret: Secret
    manage_token_secret: Secret
    # Specialist JWTs name who issued them and for whom; tokens that don't match are refused.
    jwt_issuer: str = JWT_ISSUER
    jwt_audience: str = JWT_AUDIENCE

    def authenticator(self) -> Authenticator:
        """The Authenticator of these secrets, issuer and audience."""
        return Authenticator(
            self.admin_api_key.get_secret_value(),
            self.jwt_secret.get_secret_value(),
            self.manage_token_secret.get_secret_value(),
            issuer=self.jwt_issuer,
            audience=self.jwt_audience,
        )
