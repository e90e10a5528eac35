"""Prometheus metrics of consumers and relays (registered once per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter(
    "kairos_consumer_messages",
    "Messages a consumer finished with, by outcome "
    "(applied, unhandled, redelivered, dead_lettered, gap)",
    ["consumer", "outcome"],
)
DEAD_LETTERED = Counter(
    "kairos_consumer_dead_lettered",
    "Messages parked on the dead-letter topic, by reason (undecodable, invalid-envelope,"
    " unknown-type, invalid-payload, handler-failed)",
    ["consumer", "reason"],
)
DATABASE_RETRIES = Counter(
    "kairos_consumer_database_retries",
    "Times a consumer waited out a transient database failure (retried, never parked)",
    ["consumer"],
)
HANDLER_SECONDS = Histogram(
    "kairos_consumer_handler_seconds",
    "Time to apply one event: handler plus position record, in its transaction",
    ["consumer"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
CONSUMER_RECOVERIES = Counter(
    "kairos_consumer_recoveries",
    "Times a consumer rebuilt its Kafka client after a broker problem",
    ["consumer"],
)
CONSUMER_LAG_EVENTS = Gauge(
    "kairos_consumer_lag_events",
    "Events of the producers' logs this consumer has not applied (unpublished ones included),"
    " from the relays' heartbeats; NaN when no heartbeat arrived recently (unknown, not 0)",
    ["consumer"],
)
CONSUMER_LAG_SECONDS = Gauge(
    "kairos_consumer_lag_seconds",
    "Staleness: seconds since the latest instant at which the consumer had applied everything"
    " the producers' logs held; grows while the relay, broker or consumer stands still;"
    " NaN before it was first known current",
    ["consumer"],
)

RELAY_LAG = Gauge(
    "kairos_relay_lag_events",
    "Events in the notification log not yet published (max notification id - position),"
    " read from the producer's database, broker outages included; NaN when unknown",
    ["relay"],
)
RELAY_POSITION = Gauge(
    "kairos_relay_position", "Last notification id published and recorded", ["relay"]
)
RELAY_PUBLISHED = Counter(
    "kairos_relay_published",
    "Messages published and acknowledged (republished included)",
    ["relay"],
)
RELAY_LAST_PUBLISH = Gauge(
    "kairos_relay_last_publish_timestamp_seconds",
    "Unix time of the last acknowledged publish",
    ["relay"],
)
RELAY_RESETS = Counter(
    "kairos_relay_resets",
    "Times the relay found the broker had lost its topic and republished from the start",
    ["relay"],
)
