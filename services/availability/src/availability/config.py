"""The availability service's settings: the common ones plus its own."""

from __future__ import annotations

from kairos.settings import Secret, ServiceSettings


class AvailabilitySettings(ServiceSettings):
    db_pool_size: int = 10
    # Specialists whose availability a query process keeps in memory.
    cache_size: int = 10_000
    # How long GET /v1/slots?min_position=… waits for the projection to catch up.
    min_position_wait_seconds: float = 1.0
    # How far the read model may fall behind the booking log (seconds) before the query
    # API and the projector report not ready.
    max_staleness_seconds: float = 5.0
    # The booking event store, read by `kairos replay availability` (not by the
    # service): in dev one database holds both.
    booking_database_url: str | None = None
    # The key store's database (kairos.privacy), where the projector reports erasures as
    # a participant; unset, it takes no part (erasures then don't wait for it).
    privacy_database_url: str | None = None
    # The admin API key: a request bearing it sees which members of a team are free at
    # each slot. Unset, no one does (the slots themselves are public).
    admin_api_key: Secret | None = None
