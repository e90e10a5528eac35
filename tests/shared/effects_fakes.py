"""What the effects tests share: a reminder kind, a fake provider that writes each call
to a table, a clock the test moves, and the subprocess worker's command line."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
from pydantic import BaseModel

from kairos.effects import (
    Effect,
    EffectKind,
    TransientEffectError,
    create_effects_table,
    record_effect,
)

ROOT = Path(__file__).resolve().parents[2]


class Reminder(BaseModel):
    booking_id: UUID
    minutes_before: int


REMINDER = EffectKind("test.reminder", Reminder)


def prepare(url: str) -> None:
    """The effects table, the provider's call log, and a bookings table to re-check."""
    with psycopg.connect(url, autocommit=True) as conn:
        create_effects_table(conn)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS provider_calls ("
            " seq bigserial PRIMARY KEY, effect_id uuid NOT NULL, idempotency_key text NOT NULL,"
            " caller text NOT NULL, attempt integer NOT NULL)"
        )
        conn.execute("CREATE TABLE IF NOT EXISTS bookings (id uuid PRIMARY KEY, status text)")
        conn.execute("CREATE TABLE IF NOT EXISTS reached (effect_id uuid, point text)")


@dataclass
class RecordingProvider:
    """Writes every call to provider_calls (committed at once, as a real provider's
    side effect would be), then fails while `failures_left` says so."""

    url: str
    caller: str = "test"
    failures_left: int = 0
    failure: type[Exception] = TransientEffectError
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, effect: Effect[Reminder]) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO provider_calls (effect_id, idempotency_key, caller, attempt)"
                " VALUES (%s, %s, %s, %s)",
                (effect.id, effect.idempotency_key, self.caller, effect.attempt),
            )
        with self._lock:
            failing = self.failures_left > 0
            self.failures_left -= 1
        if failing:
            raise self.failure("the provider answered 503")


def calls(url: str) -> list[tuple[UUID, str, str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT effect_id, idempotency_key, caller, attempt FROM provider_calls ORDER BY seq"
        ).fetchall()
    return [(row[0], row[1], row[2], row[3]) for row in rows]


def statuses(url: str) -> dict[UUID, tuple[str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, status, attempts FROM effects").fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def booking_is_confirmed(conn: psycopg.Connection[Any], effect: Effect[Reminder]) -> bool:
    row = conn.execute(
        "SELECT status FROM bookings WHERE id = %s", (effect.data.booking_id,)
    ).fetchone()
    return row is not None and row[0] == "confirmed"


class Clock:
    """The dispatcher's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def remind(
    url: str, clock: Clock, booking_id: UUID | None = None, *, due_in: timedelta = timedelta()
) -> UUID:
    """Record a reminder as a consumer's handler would, in its own committed transaction."""
    booking_id = booking_id or uuid4()
    with psycopg.connect(url) as conn, conn.transaction():
        return record_effect(
            conn,
            REMINDER,
            Reminder(booking_id=booking_id, minutes_before=60),
            key=f"event-{booking_id}",
            reason=f"booking:{booking_id}",
            due_at=clock.now + due_in,
        )


def worker_command(url: str, stop_at: str) -> list[str]:
    return [sys.executable, "-m", "tests.shared.effects_worker", url, stop_at]
