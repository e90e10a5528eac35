"""The privacy settings of a service that seals or reveals personal data."""

from __future__ import annotations

from typing import Any

from psycopg_pool import ConnectionPool
from pydantic import Field

from kairos.pools import autocommit_pool
from kairos.privacy.keys import KeyStore
from kairos.settings import Secret, ServiceSettings


class PrivacySettings(ServiceSettings):
    # The key store's database; dev and the tests point it at the booking database.
    privacy_database_url: str = Field(description="PostgreSQL URL of the key store")
    # Wraps every data subject's key: losing it loses all personal data; leaking it
    # together with the key store's database discloses it (rotate by re-wrapping).
    privacy_master_key: Secret
    # Keys the blind index of e-mail addresses; separate from the master key so that the
    # master key can be rotated without the addresses.
    privacy_index_key: Secret


def key_store(settings: PrivacySettings, pool_size: int) -> tuple[ConnectionPool[Any], KeyStore]:
    """The key store these settings name, on a pool of its own (not yet open: open it in
    the app's lifespan, and close it there)."""
    # Each use of the store is one statement (or an explicit transaction): an implicit
    # BEGIN and COMMIT would only add two round trips to every booking.
    pool = autocommit_pool(settings.privacy_database_url, pool_size)
    keys = KeyStore(
        pool,
        settings.privacy_master_key.get_secret_value(),
        settings.privacy_index_key.get_secret_value(),
    )
    return pool, keys
