"""Gauges of what notifications still has to send, read from the effects table when
Prometheus scrapes: per kind (the notices, and the reminders per channel), how many
are queued (pending, due or not) and how many are due but unsent. Lateness, send
time and failures per channel are counted as messages go (notifications.metrics)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class QueueCollector(Collector):
    def __init__(self, database_url: str) -> None:
        self._url = database_url

    def collect(self) -> Iterator[Metric]:
        queued = GaugeMetricFamily(
            "kairos_notifications_queued",
            "Messages recorded and not yet sent (pending, due or not), by kind",
            labels=["kind"],
        )
        overdue = GaugeMetricFamily(
            "kairos_notifications_due_unsent",
            "Messages whose due time has passed and that are not sent yet, by kind",
            labels=["kind"],
        )
        try:
            with psycopg.connect(self._url, connect_timeout=2) as conn:
                rows = conn.execute(
                    "SELECT kind, count(*), count(*) FILTER (WHERE due_at <= now())"
                    " FROM effects WHERE status = 'pending' AND starts_with(kind, 'notifications.')"
                    " GROUP BY kind"
                ).fetchall()
        except psycopg.Error:
            return  # no figures rather than a failed scrape; /readyz reports the database
        for kind, pending, due in rows:
            queued.add_metric([kind], pending)
            overdue.add_metric([kind], due)
        yield queued
        yield overdue


def register_queue_metrics(database_url: str) -> None:
    REGISTRY.register(QueueCollector(database_url))
