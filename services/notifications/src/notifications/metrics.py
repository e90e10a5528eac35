"""Prometheus metrics of the notification channels (registered once per process)."""

from __future__ import annotations

from prometheus_client import Counter

CHANNEL_SKIPPED = Counter(
    "kairos_notifications_skipped",
    "Messages not sent because their channel is not configured",
    ["channel"],
)
