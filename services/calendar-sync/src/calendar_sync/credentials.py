"""Provider credentials at rest: OAuth tokens and CalDAV passwords, sealed by the shared
store (kairos.privacy.sealed_store) under CALENDAR_CREDENTIAL_KEYS, one row per
connection. The events name the connection, never its credentials.
"""

from __future__ import annotations

from kairos.privacy.sealed_store import SealedStore, SealingKeys

TABLE = "calendar_credentials"
KEYS_ENV = "CALENDAR_CREDENTIAL_KEYS"
# The key derivation's purpose: changing it would make every stored row unreadable.
PURPOSE = "calendar-sync credentials"


def credential_store(database_url: str, keys: str) -> SealedStore:
    """The credentials of `database_url`, under the comma-separated `keys`."""
    return SealedStore(database_url, SealingKeys.parse(keys, PURPOSE), TABLE, "connection_id")
