"""The effects table: what handlers record, and the dispatcher's claim/finish statements.

Claims use a lease column rather than a row lock held across the provider call:
a dispatcher marks a batch of due effects as its own until `leased_until` in one
short transaction (FOR UPDATE SKIP LOCKED, so dispatchers never wait on each
other nor take the same rows) and commits before calling any provider. A slow
SMTP or Google call therefore holds no transaction, no row lock and no pooled
connection. If the dispatcher dies, its lease runs out and another dispatcher
takes the effect again: that is the "at most one repeat" of ARCHITECTURE.md
rule 6, and why performers pass the effect id as the provider's idempotency key.

Each of the dispatcher's writes is one statement, and the outcomes of a whole batch
are written by one (`finish`): an effect performed but not yet recorded when its
dispatcher dies runs once more, whether it was the batch's last or its first. The
dispatcher's own pool commits them with synchronous_commit off: losing one in a
database crash likewise only makes an effect run again, which the contract allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar
from uuid import UUID, uuid4

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from kairos.ddl import create_if_missing
from kairos.effects.model import EffectKind, Status, StoredEffect, effect_id

TABLE = "effects"
#: The PostgreSQL channel `record_effect` notifies with the kind of each effect due at
#: once; an `EffectDispatcher` listens on it so it need not wait for its next poll.
CHANNEL = "kairos_effects"

_DDL = """
CREATE TABLE IF NOT EXISTS effects (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    reason text NOT NULL,
    data jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'done', 'skipped', 'cancelled', 'parked')),
    due_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    leased_until timestamptz,
    lease uuid,
    claimed_by text,
    last_error text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS effects_pending_due ON effects (due_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS effects_by_reason ON effects (reason, kind);
CREATE INDEX IF NOT EXISTS effects_parked ON effects (due_at) WHERE status = 'parked';
CREATE INDEX IF NOT EXISTS effects_finished_with_data ON effects (finished_at)
    WHERE status IN ('done', 'skipped', 'cancelled') AND data <> '{}';
"""
_DDL_LOCK = 0x6B6169726F730003
_MAX_ERROR_TEXT = 2000

D = TypeVar("D", bound=BaseModel)

_COLUMNS = "id, kind, reason, status, due_at, attempts, data, last_error, lease"


def create_effects_table(conn: psycopg.Connection[Any]) -> None:
    create_if_missing(conn, _DDL_LOCK, _DDL)


def record_effect(
    conn: psycopg.Connection[Any],
    kind: EffectKind[D],
    data: D,
    *,
    key: str,
    reason: str,
    due_at: datetime,
) -> UUID:
    """Record an effect in the caller's transaction (the consumer's, with its position).

    `key` makes the id deterministic (see `effect_id`): recording the same effect
    again changes nothing. `reason` groups effects that `cancel_effects` drops
    together, e.g. "booking:<id>". A `due_at` in the future schedules it (a reminder).
    """
    if not isinstance(data, kind.data):
        raise TypeError(f"{kind.name} takes {kind.data.__name__}, not {type(data).__name__}")
    if due_at.tzinfo is None:
        raise ValueError("due_at must be timezone-aware (ARCHITECTURE.md rule 5)")
    id_ = effect_id(kind.name, key)
    # One statement: the insert, and a NOTIFY that wakes the dispatchers (delivered when
    # the caller commits; repeats in one transaction are folded into one by PostgreSQL).
    # Only for a new effect that is already due: a reminder for tomorrow wakes no one.
    conn.execute(
        "WITH recorded AS ("
        " INSERT INTO effects (id, kind, reason, data, due_at) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO NOTHING RETURNING kind, due_at)"
        " SELECT pg_notify(%s, kind) FROM recorded WHERE due_at <= clock_timestamp()",
        (id_, kind.name, reason, Jsonb(data.model_dump(mode="json")), due_at, CHANNEL),
    )
    return id_


def cancel_effects(conn: psycopg.Connection[Any], reason: str, kind_prefix: str = "") -> int:
    """Cancel the pending and parked effects of `reason` whose kind starts with
    `kind_prefix`, in the caller's transaction; returns how many.

    An effect already handed to a provider cannot be called back: its re-check
    is what stops it when the cancellation commits just before it fires.
    """
    cursor = conn.execute(
        "UPDATE effects SET status = 'cancelled', finished_at = now(),"
        " leased_until = NULL, lease = NULL"
        " WHERE reason = %s AND starts_with(kind, %s) AND status IN ('pending', 'parked')",
        (reason, kind_prefix),
    )
    return cursor.rowcount


def claim_due(
    conn: psycopg.Connection[Any],
    kinds: Sequence[str],
    *,
    now: datetime,
    leased_until: datetime,
    limit: int,
    claimant: str,
) -> list[StoredEffect]:
    """Lease up to `limit` due effects of `kinds` to `claimant`, oldest due first;
    each claim counts as an attempt. Commit before performing them."""
    rows = conn.execute(
        f"""
        UPDATE effects e
        SET attempts = e.attempts + 1, leased_until = %(until)s, lease = %(lease)s,
            claimed_by = %(claimant)s
        FROM (
            SELECT id FROM effects
            WHERE status = 'pending' AND due_at <= %(now)s AND kind = ANY(%(kinds)s)
              AND (leased_until IS NULL OR leased_until <= %(now)s)
            ORDER BY due_at
            LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        ) due
        WHERE e.id = due.id
        RETURNING {", ".join(f"e.{c}" for c in _COLUMNS.split(", "))}
        """,
        {
            "until": leased_until,
            "lease": uuid4(),
            "claimant": claimant,
            "now": now,
            "kinds": list(kinds),
            "limit": limit,
        },
    ).fetchall()
    return sorted((_stored(row) for row in rows), key=lambda e: e.due_at)


class Outcome(NamedTuple):
    """How a leased effect ended: done, skipped or parked (then with its error)."""

    effect: StoredEffect
    status: Status
    error: str | None = None


def finish(
    conn: psycopg.Connection[Any], outcomes: Sequence[Outcome], *, now: datetime
) -> set[UUID]:
    """Close leased effects in one statement; returns the ids closed. An effect left out
    lost its lease: it was cancelled meanwhile, or another dispatcher took it over."""
    if not outcomes:
        return set()
    rows = conn.execute(
        "UPDATE effects e SET status = o.status, finished_at = %s, last_error = o.error,"
        " leased_until = NULL"
        " FROM unnest(%s::uuid[], %s::uuid[], %s::text[], %s::text[])"
        " AS o(id, lease, status, error)"
        " WHERE e.id = o.id AND e.lease = o.lease AND e.status = 'pending'"
        " RETURNING e.id",
        (
            now,
            [outcome.effect.id for outcome in outcomes],
            [outcome.effect.lease for outcome in outcomes],
            [outcome.status.value for outcome in outcomes],
            [_clip(outcome.error) for outcome in outcomes],
        ),
    ).fetchall()
    return {row[0] for row in rows}


def retry_at(
    conn: psycopg.Connection[Any], effect: StoredEffect, due_at: datetime, error: str
) -> bool:
    """Give a leased effect back, due again at `due_at`. False if the lease was lost."""
    cursor = conn.execute(
        "UPDATE effects SET due_at = %s, last_error = %s, leased_until = NULL, lease = NULL"
        " WHERE id = %s AND lease = %s AND status = 'pending'",
        (due_at, _clip(error), effect.id, effect.lease),
    )
    return cursor.rowcount == 1


def parked_effects(conn: psycopg.Connection[Any], limit: int = 100) -> list[StoredEffect]:
    """The parked effects, the longest parked first, each with its last error."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM effects WHERE status = 'parked' ORDER BY finished_at LIMIT %s",
        (limit,),
    ).fetchall()
    return [_stored(row) for row in rows]


def redrive(conn: psycopg.Connection[Any], effect_ids: Sequence[UUID] | None = None) -> list[UUID]:
    """Make parked effects (the given ones, or all) pending again with a fresh count
    of attempts; returns the ids re-driven. They are due at once (their due time,
    when they were last tried, has passed); their last error stays until they run."""
    query = (
        "UPDATE effects SET status = 'pending', attempts = 0,"
        " finished_at = NULL, lease = NULL, leased_until = NULL"
        " WHERE status = 'parked'"
    )
    params: tuple[Any, ...] = ()
    if effect_ids is not None:
        query += " AND id = ANY(%s)"
        params = (list(effect_ids),)
    return [row[0] for row in conn.execute(query + " RETURNING id", params).fetchall()]


def forget_finished_data(conn: psycopg.Connection[Any], finished_before: datetime) -> int:
    """Empty the data (often personal: addresses, names) and errors of effects that
    finished before `finished_before`; returns how many.

    The rows themselves stay: their ids keep a replayed consumer, which records the
    same effects again, from performing them twice.
    """
    cursor = conn.execute(
        "UPDATE effects SET data = '{}', last_error = NULL"
        " WHERE status IN ('done', 'skipped', 'cancelled') AND data <> '{}'"
        " AND finished_at < %s",
        (finished_before,),
    )
    return cursor.rowcount


def count_by_status(conn: psycopg.Connection[Any], *, now: datetime) -> dict[str, int]:
    """How many effects are parked, and how many pending ones are due (the backlog)."""
    row = conn.execute(
        "SELECT"
        " (SELECT count(*) FROM effects WHERE status = 'parked'),"
        " (SELECT count(*) FROM effects WHERE status = 'pending' AND due_at <= %s)",
        (now,),
    ).fetchone()
    assert row is not None
    return {"parked": int(row[0]), "due": int(row[1])}


def _stored(row: Any) -> StoredEffect:
    id_, kind, reason, status, due_at, attempts, data, last_error, lease = row
    return StoredEffect(
        id=id_,
        kind=kind,
        reason=reason,
        status=Status(status),
        due_at=due_at,
        attempts=attempts,
        data=data,
        last_error=last_error,
        lease=lease,
    )


def _clip(error: str | None) -> str | None:
    return None if error is None else error[:_MAX_ERROR_TEXT]


__all__ = [
    "CHANNEL",
    "TABLE",
    "Outcome",
    "cancel_effects",
    "claim_due",
    "count_by_status",
    "create_effects_table",
    "finish",
    "forget_finished_data",
    "parked_effects",
    "record_effect",
    "redrive",
    "retry_at",
]
