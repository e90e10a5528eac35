"""The booking service's settings: the common ones plus its own tuning knobs.

The relay reads only the event store's (BookingStoreSettings): it needs no secrets.
"""

from __future__ import annotations

from pydantic import Field

from booking.contention import DEFAULT_TIMEOUT
from booking.domain import NO_SHOW_GRACE
from kairos.privacy.settings import PrivacySettings
from kairos.providers.smtp import SmtpSettings
from kairos.settings import CallerAuthSettings, ServiceSettings


class BookingStoreSettings(ServiceSettings):
    # Aggregates are cached per process and fast-forwarded from the store on every
    # load, so a cached copy is never stale for a command.
    aggregate_cache_size: int = 10_000
    db_pool_size: int = 10
    db_max_overflow: int = 20


class BookingSettings(BookingStoreSettings, CallerAuthSettings, PrivacySettings, SmtpSettings):
    idempotency_ttl_seconds: int = 24 * 60 * 60
    # How long a command may keep losing races on a busy specialist's day before it
    # answers 503 busy (booking.contention); a slot is never refused for losing a race.
    contention_timeout_seconds: float = DEFAULT_TIMEOUT.total_seconds()
    # A no-show can be marked once the consultation is this many minutes old.
    no_show_grace_minutes: int = int(NO_SHOW_GRACE.total_seconds()) // 60
    # Sign-in links (booking.sign_in): mailed through SMTP_HOST as MAIL_FROM, pointing at
    # the web app at PUBLIC_URL; without all three, sign-in requests send nothing.
    public_url: str | None = Field(None, description="e.g. https://kairos.example.com")
    smtp_timeout_seconds: float = Field(10.0, gt=0)
    # Sign-in requests per address and per client IP in each window.
    sign_in_per_address: int = Field(5, ge=1)
    sign_in_per_ip: int = Field(30, ge=1)
    sign_in_window_minutes: int = Field(15, ge=1)
