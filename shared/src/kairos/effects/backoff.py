"""Exponential backoff with jitter for effects whose provider failed transiently."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Backoff:
    """Delay before try n+1 after try n failed: `base` · 2^(n-1), capped at `cap`, of
    which a random half is jitter ("equal jitter": never sooner than half the step,
    so retries spread out without ever hammering a provider that just failed)."""

    base: timedelta = timedelta(seconds=10)
    cap: timedelta = timedelta(hours=1)

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        step: timedelta = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return step / 2 + step / 2 * rng.random()


DEFAULT_BACKOFF = Backoff()
