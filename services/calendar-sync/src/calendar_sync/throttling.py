"""Provider quotas: a per-connection limit on concurrent calls, and the throttling metric.

Google answers 403 rateLimitExceeded or 429, Graph 429, a CalDAV server 429 or 503 (each
with Retry-After): the providers raise `throttled(...)`, a TransientEffectError with
`retry_after`, which the effect dispatcher honours (kairos.effects); the reconcile loop
waits the same way. Each throttling answer is counted, by provider.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from uuid import UUID

from prometheus_client import Counter

from kairos.effects import TransientEffectError

THROTTLED = Counter(
    "kairos_calendar_throttled_total",
    "Provider answers that asked calendar-sync to slow down (429, 403 rateLimitExceeded)",
    ["provider"],
)


def throttled(provider: str, answer: str, retry_after: str | float | None) -> TransientEffectError:
    """Count a provider's answer asking us to slow down (`answer`: its status), and the
    error that makes the caller wait as long as its Retry-After asked: seconds, as a
    header's text or already read."""
    THROTTLED.labels(provider).inc()
    if isinstance(retry_after, str):
        retry_after = int(retry_after) if retry_after.isdigit() else None
    wait = timedelta(seconds=retry_after) if retry_after else None
    return TransientEffectError(f"{provider} throttled ({answer})", retry_after=wait)


class ConnectionLimits:
    """At most `per_connection` provider calls of one connection at a time, in this process."""

    def __init__(self, per_connection: int) -> None:
        self._per_connection = per_connection
        self._lock = threading.Lock()
        self._semaphores: dict[UUID, threading.BoundedSemaphore] = {}

    @contextmanager
    def slot(self, connection_id: UUID) -> Iterator[None]:
        with self._lock:
            semaphore = self._semaphores.get(connection_id)
            if semaphore is None:
                semaphore = threading.BoundedSemaphore(self._per_connection)
                self._semaphores[connection_id] = semaphore
        with semaphore:
            yield
