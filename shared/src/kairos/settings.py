"""Settings common to every service, read from the environment.

Secrets have no defaults on purpose: a service refuses to start without them,
so a production deployment can never run on a value that shipped in the code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Who owns the event topics. "dev": the dev broker, which forgets everything when it
#: restarts; the processes create the topics and a relay recreates its own. "external":
#: the platform (Strimzi `KafkaTopic`); nothing here creates, deletes or recreates a
#: topic, and a relay or consumer refuses to start when a topic's partitions differ.
TopicManagement = Literal["dev", "external"]

#: KAFKA_PARTITIONS when unset: the dev broker's topics. deploy/k8s sets its own.
DEFAULT_PARTITIONS = 6


class TopicSettings(BaseSettings):
    """How the event topics are laid out and who owns them (ServiceSettings has these too;
    the ops commands read only these)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    # The one partition count of every event topic. It decides which partition holds a
    # specialist's events, so the relays, the consumers, the rebuilds and the topics'
    # owner (the KafkaTopic manifests) must all agree on it.
    kafka_partitions: int = Field(DEFAULT_PARTITIONS, ge=1)
    # "external" unless told otherwise: a process never deletes a topic it was not told
    # is the dev broker's. `kairos dev` and the tests set "dev".
    kafka_topic_management: TopicManagement = "external"


class ServiceSettings(TopicSettings):
    """Connection URLs and secrets shared by all services."""

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
    # Where workers (relays, consumers) serve their ops endpoints: this machine only,
    # unless told otherwise (the k8s manifests set 0.0.0.0 for the kubelet's probes).
    ops_host: str = "127.0.0.1"
