"""`kairos reencrypt calendar-sync`: re-seal every stored credential under the current key
of CALENDAR_CREDENTIAL_KEYS (rotation: kairos.privacy.sealed_store.reencrypt_command)."""

from __future__ import annotations

from calendar_sync.credentials import KEYS_ENV, credential_store
from kairos.privacy.sealed_store import reencrypt_command

REENCRYPT_COMMAND = reencrypt_command("connection credentials", KEYS_ENV, credential_store)
