"""Provider quotas: a per-connection limit on concurrent calls, and the throttling metric.

Google answers 403 rateLimitExceeded or 429, Graph 429 (with Retry-After): the
providers raise TransientEffectError with `retry_after`, which the effect dispatcher
honours (kairos.effects); the reconcile loop waits the same way. Each throttling
answer is counted, by provider.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from prometheus_client import Counter

THROTTLED = Counter(
    "kairos_calendar_throttled_total",
    "Provider answers that asked calendar-sync to slow down (429, 403 rateLimitExceeded)",
    ["provider"],
)


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
