"""The privacy settings of a service that seals or reveals personal data."""

from __future__ import annotations

from pydantic import Field

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
