"""The booking service's settings: the common ones plus its own tuning knobs.

The relay reads only the event store's (BookingStoreSettings): it needs no secrets.
"""

from __future__ import annotations

from booking.contention import DEFAULT_TIMEOUT
from booking.domain import NO_SHOW_GRACE
from kairos.privacy.settings import PrivacySettings
from kairos.settings import CallerAuthSettings, ServiceSettings


class BookingStoreSettings(ServiceSettings):
    # Aggregates are cached per process and fast-forwarded from the store on every
    # load, so a cached copy is never stale for a command.
    aggregate_cache_size: int = 10_000
    db_pool_size: int = 10
    db_max_overflow: int = 20


class BookingSettings(BookingStoreSettings, CallerAuthSettings, PrivacySettings):
    idempotency_ttl_seconds: int = 24 * 60 * 60
    # How long a command may keep losing races on a busy specialist's day before it
    # answers 503 busy (booking.contention); a slot is never refused for losing a race.
    contention_timeout_seconds: float = DEFAULT_TIMEOUT.total_seconds()
    # A no-show can be marked once the consultation is this many minutes old.
    no_show_grace_minutes: int = int(NO_SHOW_GRACE.total_seconds()) // 60
