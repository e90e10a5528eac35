"""The subscriptions' signing secrets at rest: sealed by the shared store
(kairos.privacy.sealed_store) under WEBHOOK_SECRET_KEYS, one row per subscription.
The API shows a secret once, when the subscription is made; the sender opens it to sign.
"""

from __future__ import annotations

from kairos.privacy.sealed_store import SealedStore, SealingKeys, reencrypt_command

TABLE = "webhook_secrets"
KEYS_ENV = "WEBHOOK_SECRET_KEYS"
# The key derivation's purpose: changing it would make every stored secret unreadable.
PURPOSE = "webhook signing secrets"


def secret_store(database_url: str, keys: str) -> SealedStore:
    """The signing secrets of `database_url`, under the comma-separated `keys`."""
    return SealedStore(database_url, SealingKeys.parse(keys, PURPOSE), TABLE, "subscription_id")


REENCRYPT_COMMAND = reencrypt_command("webhook signing secrets", KEYS_ENV, secret_store)
