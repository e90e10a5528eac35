"""Prometheus metrics of the notification channels (registered once per process).

The dispatcher's own metrics (`kairos_effects_*`) give the backlog (due but unsent),
parked effects and each effect's time; these add what is particular to sending:
per channel, how many went, how late, how long the provider took, and how it failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from prometheus_client import Counter, Histogram

from kairos.effects import TransientEffectError

CHANNEL_SKIPPED = Counter(
    "kairos_notifications_skipped",
    "Messages not sent because their channel is not configured",
    ["channel"],
)
SENT = Counter(
    "kairos_notifications_sent",
    "Messages handed to their channel without error (an unconfigured channel's too:"
    " kairos_notifications_skipped counts those apart)",
    ["channel"],
)
FAILURES = Counter(
    "kairos_notifications_failures",
    "Sends that failed, by channel and kind (transient: retried; permanent: parked)",
    ["channel", "kind"],
)
SEND_SECONDS = Histogram(
    "kairos_notifications_send_seconds",
    "Time the provider took to accept one message",
    ["channel"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
LATENESS_SECONDS = Histogram(
    "kairos_notifications_lateness_seconds",
    "How long after its due time a message was handed to its provider",
    ["channel"],
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
)


@contextmanager
def sending(channel: str, due_at: datetime, clock: Callable[[], datetime]) -> Iterator[None]:
    """Measure one send on `channel` of a message due at `due_at`."""
    LATENESS_SECONDS.labels(channel).observe(max(0.0, (clock() - due_at).total_seconds()))
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        kind = "transient" if isinstance(exc, TransientEffectError) else "permanent"
        FAILURES.labels(channel, kind).inc()
        raise
    SEND_SECONDS.labels(channel).observe(time.perf_counter() - started)
    SENT.labels(channel).inc()


SMS_STATUSES = Counter(
    "kairos_notifications_sms_status",
    "Delivery statuses Twilio reported back (signed status callbacks), by status",
    ["status"],
)
