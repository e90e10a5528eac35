"""A consumer's handler records effects with its position; a running dispatcher performs
them: the real broker, the shared consumer runtime, PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from pydantic import BaseModel

from kairos.effects import (
    Effect,
    EffectDispatcher,
    EffectHandler,
    EffectKind,
    create_effects_table,
    effect_id,
    record_effect,
)
from kairos.events import Envelope
from kairos.events.booking import SpecialistRegistered
from kairos.messaging import EventConsumer, create_positions_table
from kairos_dev.infra import KafkaHandle
from tests.shared.test_messaging_consumer import (
    FAST,
    PARTITIONS,
    eventually,
    produce,
    registered,
)

pytestmark = [pytest.mark.integration]


class Welcome(BaseModel):
    to: str
    name: str


WELCOME = EffectKind("test.welcome-email", Welcome)


def on_registered(
    conn: psycopg.Connection[Any], envelope: Envelope, event: SpecialistRegistered
) -> None:
    record_effect(
        conn,
        WELCOME,
        Welcome(to=event.email, name=event.name),
        key=str(envelope.event_id),
        reason=f"specialist:{event.specialist_id}",
        due_at=envelope.occurred_at,
    )


async def test_effects_recorded_by_a_handler_run_once_after_its_commit(
    kafka: KafkaHandle, fresh_database: Callable[[], str]
) -> None:
    url = fresh_database()
    with psycopg.connect(url, autocommit=True) as conn:
        create_positions_table(conn)
        create_effects_table(conn)
    topic = f"test.{uuid4().hex[:10]}.events.v1"
    ada, bea = registered(1), registered(2, name="Dr Bea")
    await produce(kafka.bootstrap, topic, ada, ada, bea)  # ada's event is redelivered
    sent: list[Effect[Welcome]] = []
    consumer = EventConsumer(
        kafka.bootstrap,
        topic,
        f"{topic}.g",
        {SpecialistRegistered: on_registered},
        url,
        partitions=PARTITIONS,
        timeouts=FAST,
    )
    dispatcher = EffectDispatcher(url, [EffectHandler(WELCOME, sent.append)], poll_interval=0.05)
    tasks = [asyncio.create_task(consumer.run()), asyncio.create_task(dispatcher.run())]
    try:
        await eventually(lambda: len(sent) >= 2 and _open(url) == 0, what="two e-mails sent")
    finally:
        consumer.stop()
        dispatcher.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)

    assert sorted(effect.data.name for effect in sent) == ["Dr Ada", "Dr Bea"]
    assert {effect.id for effect in sent} == {_id(ada), _id(bea)}


def _id(envelope: Envelope) -> UUID:
    return effect_id(WELCOME.name, str(envelope.event_id))


def _open(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM effects WHERE status <> 'done'").fetchone()
    assert row is not None
    return int(row[0])
