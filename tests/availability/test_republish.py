"""`kairos republish booking`: a range of the booking event store sent to a topic again."""

from __future__ import annotations

import asyncio
import io
import json
import uuid

import pytest

from kairos.cli import main
from kairos.messaging.kafka import make_admin, topic_partitions
from kairos.tail import tail
from kairos_dev.infra import KafkaHandle
from tests.availability.conftest import World

pytestmark = pytest.mark.integration


def read_topic(bootstrap: str, topic: str, count: int) -> list[dict[str, object]]:
    out = io.StringIO()
    asyncio.run(asyncio.wait_for(tail(bootstrap, topic, out=out, max_messages=count), 30))
    # Each line: "<partition>:<offset> <key> <value>".
    return [json.loads(line.split(" ", 2)[2]) for line in out.getvalue().splitlines() if line]


def test_a_range_is_republished_to_a_topic_of_its_own_with_ids_kept(
    world: World, kafka: KafkaHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_TOPIC_MANAGEMENT", "dev")  # the test's broker is a dev broker
    specialist = world.catalog.specialist(timezone="Europe/Paris")
    service = world.catalog.service(specialist["id"])
    booking = world.catalog.booked(service["id"], "2026-03-09T09:00:00Z")
    topic = f"replayed.{uuid.uuid4().hex[:8]}"

    # Everything after the specialist's registration, up to the booking; the internal
    # event that holds the specialist's e-mail address comes next and is not published.
    after, until = str(specialist["notification_id"]), str(booking["notification_id"])
    code = main(
        [
            "republish", "booking", "--after", after, "--until", until,
            "--topic", topic, "--bootstrap", kafka.bootstrap,
            "--booking-database", world.database_url,
        ]
    )  # fmt: skip

    assert code == 0
    messages = read_topic(kafka.bootstrap, topic, 4)
    assert sorted((m["notification_id"], m["type"]) for m in messages) == [
        (service["notification_id"] - 1, "ScheduleSet"),
        (service["notification_id"], "ServiceDefined"),
        (booking["notification_id"] - 1, "SlotRequested"),
        (booking["notification_id"], "BookingConfirmed"),
    ]
    assert {m["specialist_id"] for m in messages} == {specialist["id"]}


def test_republish_refuses_a_missing_platform_topic_rather_than_let_the_broker_make_it(
    world: World, kafka: KafkaHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_TOPIC_MANAGEMENT", "external")
    topic = f"missing.{uuid.uuid4().hex[:8]}"
    with pytest.raises(SystemExit, match=f"topic {topic} does not exist"):
        main(
            [
                "republish", "booking", "--after", "0", "--topic", topic,
                "--bootstrap", kafka.bootstrap, "--booking-database", world.database_url,
            ]
        )  # fmt: skip
    assert asyncio.run(partitions_of(kafka.bootstrap, topic)) is None


async def partitions_of(bootstrap: str, topic: str) -> int | None:
    admin = make_admin(bootstrap)
    await admin.start()
    try:
        return await topic_partitions(admin, topic)
    finally:
        await admin.close()
