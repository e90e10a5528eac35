"""The booking service's settings: the common ones plus its own tuning knobs."""

from __future__ import annotations

from kairos.settings import ServiceSettings


class BookingSettings(ServiceSettings):
    # Aggregates are cached per process and fast-forwarded from the store on every
    # load, so a cached copy is never stale for a command.
    aggregate_cache_size: int = 10_000
    db_pool_size: int = 10
    db_max_overflow: int = 20
    idempotency_ttl_seconds: int = 24 * 60 * 60
