"""How stale the slots are, told truthfully: with the real relay, a real broker and the
projector writing the read model the slots API reads.

While the projector runs, the API is ready and `Kairos-Staleness` is a number of
seconds; once the projector stops while bookings continue, the API reports not ready
(past `max_staleness_seconds`) and the staleness keeps growing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from uuid import uuid4

import pytest

from availability.projector import projector_spec
from kairos.messaging import ConsumerProcess
from kairos_dev.infra import KafkaHandle
from tests.availability.conftest import World, availability_settings
from tests.availability.test_replay import relaying

pytestmark = pytest.mark.integration

MONDAY = "2026-03-09"


def staleness(world: World, service_id: str) -> float:
    response = world.slots(service_id, MONDAY, MONDAY)
    assert response.status_code == 200, response.text
    return float(response.headers["Kairos-Staleness"])


async def eventually(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.1)


async def test_a_stopped_projector_makes_the_slots_api_not_ready_and_its_staleness_grow(
    world: World, kafka: KafkaHandle, redis_url: str
) -> None:
    specialist = world.catalog.specialist()
    service = world.catalog.service(specialist["id"])
    topic = f"test.stale.{uuid4().hex[:10]}"
    settings = availability_settings(world.database_url, redis_url).model_copy(
        update={"kafka_bootstrap_servers": kafka.bootstrap}
    )
    spec = replace(projector_spec(settings), topics=topic, group_id=f"g-{uuid4().hex[:8]}")
    process = ConsumerProcess(spec, settings)

    def ready() -> bool:
        return world.slots_api.get("/readyz").status_code == 200

    async with relaying(world.database_url, kafka, topic):
        running = asyncio.create_task(process.run())
        try:
            await eventually(ready, "the slots API is ready")
            assert staleness(world, service["id"]) < settings.max_staleness_seconds
        finally:
            process.stop()
            await asyncio.wait_for(running, 30)

        # Bookings go on (the relay publishes them), nothing applies them.
        world.catalog.specialist()
        await eventually(lambda: not ready(), "the slots API reports not ready")
        body = world.slots_api.get("/readyz").json()
        assert "behind the log" in body["checks"]["projection"]
        first = staleness(world, service["id"])
        assert first >= settings.max_staleness_seconds  # to a tenth of a second
        await eventually(lambda: staleness(world, service["id"]) > first, "the staleness grows")
