"""Prometheus metrics of the notification channels (registered once per process).

The dispatcher's own metrics (`kairos_effects_*`) give the backlog (due but unsent),
parked effects and each effect's time; these add what is particular to sending:
per channel, how many went, how late, how long the provider took, and how it failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
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
    "Time the provider took to accept one message (of messages sent together over"
    " several connections: their time over their number)",
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
    _late(channel, [due_at], clock)
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        _outcome(channel, exc)
        raise
    SEND_SECONDS.labels(channel).observe(time.perf_counter() - started)
    _outcome(channel, None)


@contextmanager
def sent_together(
    channel: str, due: Sequence[datetime], clock: Callable[[], datetime]
) -> Iterator[list[Exception | None]]:
    """Measure messages due at `due` sent together: the block fills the list it is given
    with what became of each (None: sent). Each counts the batch's time per message."""
    _late(channel, due, clock)
    started = time.perf_counter()
    results: list[Exception | None] = []
    yield results
    if results:
        each = (time.perf_counter() - started) / len(results)
        for failed in results:
            if failed is None:
                SEND_SECONDS.labels(channel).observe(each)
            _outcome(channel, failed)


def _late(channel: str, due: Sequence[datetime], clock: Callable[[], datetime]) -> None:
    now = clock()
    for due_at in due:
        LATENESS_SECONDS.labels(channel).observe(max(0.0, (now - due_at).total_seconds()))


def _outcome(channel: str, failed: Exception | None) -> None:
    if failed is None:
        SENT.labels(channel).inc()
        return
    kind = "transient" if isinstance(failed, TransientEffectError) else "permanent"
    FAILURES.labels(channel, kind).inc()


SMS_STATUSES = Counter(
    "kairos_notifications_sms_status",
    "Delivery statuses Twilio reported back (signed status callbacks), by status",
    ["status"],
)
