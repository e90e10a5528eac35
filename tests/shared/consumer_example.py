"""The smallest consumer with an effect, whole: docs/consumers.md walks through it, and
tests/shared/test_consumer_runner.py runs it as a process, as k8s would run a service's:

    EXAMPLE_TOPIC=… python -m tests.shared.consumer_example

On `SpecialistRegistered` it keeps the specialist in its own table and records a
welcome effect in the same transaction; the dispatcher the runner starts beside the
consumer performs it after the commit. The "provider" here writes each call to a
table, so that the test sees what a mailer would have sent, and how often.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from pydantic import BaseModel

from kairos.effects import Effect, EffectHandler, EffectKind, record_effect
from kairos.events import BOOKING_TOPIC, Envelope
from kairos.events.booking import SpecialistRegistered
from kairos.messaging import ConsumerSpec, Handlers, run_consumer
from kairos.settings import ServiceSettings


# consumers.py: the tables the handlers write, and the handlers.
class Welcome(BaseModel):
    specialist_id: UUID  # an id, not an address: the provider reads it when it sends


WELCOME = EffectKind("example.welcome", Welcome)

handlers = Handlers()


def create_tables(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS example_specialists (id uuid PRIMARY KEY, timezone text)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS example_welcomes ("
        " effect_id uuid PRIMARY KEY, specialist_id uuid NOT NULL, calls integer NOT NULL)"
    )


@handlers.on
def on_specialist_registered(
    conn: psycopg.Connection[Any], envelope: Envelope, event: SpecialistRegistered
) -> None:
    conn.execute(
        "INSERT INTO example_specialists (id, timezone) VALUES (%s, %s)"
        " ON CONFLICT (id) DO UPDATE SET timezone = EXCLUDED.timezone",
        (event.specialist_id, event.timezone),
    )
    record_effect(
        conn,
        WELCOME,
        Welcome(specialist_id=event.specialist_id),
        key=str(envelope.event_id),
        reason=f"specialist:{event.specialist_id}",
        due_at=envelope.occurred_at,  # due at once; a later time schedules it
    )


# effects.py: the provider call, and the re-check made just before it.
@dataclass(frozen=True)
class WelcomeDesk:
    """Stands in for a mailer: one row per effect id (its idempotency key), counting calls."""

    database_url: str

    def send(self, effect: Effect[Welcome]) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO example_welcomes (effect_id, specialist_id, calls) VALUES (%s, %s, 1)"
                " ON CONFLICT (effect_id) DO UPDATE SET calls = example_welcomes.calls + 1",
                (effect.id, effect.data.specialist_id),
            )


def still_registered(conn: psycopg.Connection[Any], effect: Effect[Welcome]) -> bool:
    row = conn.execute(
        "SELECT 1 FROM example_specialists WHERE id = %s", (effect.data.specialist_id,)
    ).fetchone()
    return row is not None


# main.py: the entry point.
def main() -> None:
    settings = ServiceSettings()
    welcome = EffectHandler(WELCOME, WelcomeDesk(settings.database_url).send, still_registered)
    topic = os.environ.get("EXAMPLE_TOPIC", BOOKING_TOPIC)
    spec = ConsumerSpec("example", topic, handlers, setup=create_tables, effects=[welcome])
    run_consumer(spec, settings)


if __name__ == "__main__":
    main()
