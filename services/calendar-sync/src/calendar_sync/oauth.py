"""The OAuth connect flow of Google and Microsoft calendars.

`GET /v1/calendars/{provider}/connect?specialist_id=` (the specialist or an admin)
makes a random `state` bound to that specialist, stores it with the PKCE verifier
(one use, ten minutes), sets it in a cookie on the caller's browser, and redirects to
the provider's consent. The callback accepts a `state` only when it is stored, not
used, not expired, and equal to the cookie the same browser sends back (so a callback
link from someone else's consent cannot attach their calendar to this session: CSRF).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from kairos.ddl import create_if_missing

STATE_COOKIE = "kairos_calendar_oauth"
STATE_LIFETIME = timedelta(minutes=10)
_DDL = (
    "CREATE TABLE IF NOT EXISTS calendar_oauth_states (state_hash text PRIMARY KEY,"
    " specialist_id uuid NOT NULL, provider text NOT NULL, code_verifier text NOT NULL,"
    " expires_at timestamptz NOT NULL)"
)


class StateRefused(Exception):
    """A callback whose state is unknown, used, expired, for another provider, or not this
    browser's."""


@dataclass(frozen=True)
class Pending:
    specialist_id: UUID
    code_verifier: str


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


# Its API and its consumer both create it at start: under a lock, or a fresh database
# sees two CREATE TABLE IF NOT EXISTS collide.
_DDL_LOCK = 0x6B6169726F730040


def create_table(conn: psycopg.Connection[Any]) -> None:
    create_if_missing(conn, _DDL_LOCK, _DDL)


def begin(
    conn: psycopg.Connection[Any], provider: str, specialist_id: UUID, now: datetime
) -> tuple[str, str]:
    """A new (state, PKCE code verifier) for the specialist's consent."""
    state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    conn.execute(
        "INSERT INTO calendar_oauth_states VALUES (%s, %s, %s, %s, %s)",
        (_hash(state), specialist_id, provider, verifier, now + STATE_LIFETIME),
    )
    return state, verifier


def remember_flow(conn: psycopg.Connection[Any], state: str, flow: str) -> None:
    """Keep a provider library's whole flow (msal's holds the PKCE verifier and the nonce)
    in place of the verifier."""
    conn.execute(
        "UPDATE calendar_oauth_states SET code_verifier = %s WHERE state_hash = %s",
        (flow, _hash(state)),
    )


def finish(
    conn: psycopg.Connection[Any], provider: str, state: str, cookie: str | None, now: datetime
) -> Pending:
    """The specialist and verifier the state was made for; it cannot be used again."""
    if not cookie or not secrets.compare_digest(cookie, state):
        raise StateRefused("the state does not belong to this browser")
    row = conn.execute(
        "DELETE FROM calendar_oauth_states WHERE state_hash = %s"
        " RETURNING specialist_id, provider, code_verifier, expires_at",
        (_hash(state),),
    ).fetchone()
    if row is None or row[1] != provider or row[3] < now:
        raise StateRefused("unknown, used or expired state")
    return Pending(row[0], row[2])
