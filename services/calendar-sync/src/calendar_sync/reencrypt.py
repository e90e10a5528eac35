"""`kairos reencrypt calendar-sync`: re-seal every stored credential under the current key.

Rotation: put a new key first in CALENDAR_CREDENTIAL_KEYS (keeping the old ones), roll
the Deployments, run this, then drop the old key. Reads DATABASE_URL and
CALENDAR_CREDENTIAL_KEYS from the environment (or the running `kairos dev`).
"""

from __future__ import annotations

import argparse
import sys

from calendar_sync.credentials import CredentialKeys, CredentialStore
from kairos.commands import Command, setting
from kairos.settings import DATABASE_URL_ENV

KEYS_ENV = "CALENDAR_CREDENTIAL_KEYS"


def _run(args: argparse.Namespace) -> int:
    database, keys = setting(DATABASE_URL_ENV), setting(KEYS_ENV)
    if not database or not keys:
        print(f"kairos reencrypt: set {DATABASE_URL_ENV} and {KEYS_ENV}", file=sys.stderr)
        return 2
    store = CredentialStore(database, CredentialKeys([k.strip() for k in keys.split(",")]))
    store.create_table()
    print(f"re-sealed {store.reencrypt()} connection credentials under the current key")
    return 0


REENCRYPT_COMMAND = Command("re-seal calendar credentials under the current key", _run)
