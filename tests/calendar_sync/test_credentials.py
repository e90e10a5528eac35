"""Credentials at rest: sealed (never in clear in the database), bound to their
connection, readable under any configured key, and re-sealed by the rotation command."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from uuid import uuid4

import psycopg
import pytest

from calendar_sync.credentials import TABLE, credential_store
from kairos.privacy.crypto import Unreadable

OLD = "old-calendar-key-0123456789abcdef0123456789"
NEW = "new-calendar-key-0123456789abcdef0123456789"
PASSWORD = "app-password-that-must-never-show"


def test_credentials_are_sealed_bound_to_their_connection_and_rotated(
    fresh_database: Callable[[], str],
) -> None:
    url = fresh_database()
    old_store = credential_store(url, OLD)
    old_store.create_table()
    connection, other = uuid4(), uuid4()
    old_store.put(connection, {"username": "grey", "password": PASSWORD})

    with psycopg.connect(url) as conn:
        (sealed,) = conn.execute(f"SELECT sealed FROM {TABLE}").fetchone() or ()
        assert PASSWORD.encode() not in bytes(sealed)
        # Copied onto another connection, it does not open.
        conn.execute(f"INSERT INTO {TABLE} SELECT %s, key_id, sealed FROM {TABLE}", (other,))
    with pytest.raises(Unreadable):
        old_store.get(other)
    with psycopg.connect(url) as conn:
        conn.execute(f"DELETE FROM {TABLE} WHERE connection_id = %s", (other,))

    rotated = credential_store(url, f"{NEW},{OLD}")
    assert rotated.get(connection) == {"username": "grey", "password": PASSWORD}
    command = [sys.executable, "-m", "kairos.cli", "reencrypt", "calendar-sync"]
    env = {"DATABASE_URL": url, "CALENDAR_CREDENTIAL_KEYS": f"{NEW},{OLD}", "PATH": ""}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "re-sealed 1 " in done.stdout

    new_only = credential_store(url, NEW)
    assert new_only.get(connection) == {"username": "grey", "password": PASSWORD}
