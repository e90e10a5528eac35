"""The webhooks consumer as it runs in production (kairos.messaging runner: consumer and
dispatcher together), on the real broker: events published on the topic reach a
receiver signed; a receiver that hangs holds none of the consuming, and another
endpoint still gets every event."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any
from uuid import uuid4

import pytest
from fastapi import FastAPI, Request, Response

from kairos.events import Envelope
from kairos.messaging import ConsumerProcess, ensure_topics, make_producer
from kairos.messaging.kafka import close_quietly
from kairos_dev.infra import KafkaHandle
from kairos_dev.testing.served import Served
from kairos_dev.testing.waiting import eventually
from tests.webhooks.conftest import SPECIALIST, Hooks, Receiver, webhook_settings
from tests.webhooks.test_delivery import documented_verify
from webhooks.consumer import consumer_spec, sender

pytestmark = pytest.mark.integration


class HangingReceiver:
    """Accepts a connection and answers nothing until released (or the sender gives up)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.arrived = 0
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            await request.body()
            self.arrived += 1
            await asyncio.to_thread(self.release.wait, 120)
            return Response(status_code=200)

        self.app = app


@pytest.fixture
async def publishing(hooks: Hooks, kafka: KafkaHandle) -> AsyncIterator[Callable[..., Any]]:
    """The consumer process on a topic of the test's own; yields `publish`."""
    topic = f"test.webhooks.{uuid4().hex[:10]}"
    await ensure_topics(kafka.bootstrap, [topic])
    settings = webhook_settings(
        hooks.database_url,
        kafka_bootstrap_servers=kafka.bootstrap,
        webhook_timeout_seconds=60.0,
        webhook_concurrency=8,
    )
    producer = make_producer(kafka.bootstrap, client_id="test-webhooks")
    await producer.start()
    with sender(settings) as sending:
        spec = replace(consumer_spec(settings, sending), topics=topic, group_id=topic)
        process = ConsumerProcess(spec, settings)
        running = asyncio.create_task(process.run())

        async def publish(*envelopes: Envelope) -> None:
            for envelope in envelopes:
                value = envelope.model_dump_json().encode()
                await producer.send_and_wait(topic, value, key=str(SPECIALIST).encode())

        try:
            yield publish
        finally:
            await close_quietly(producer.stop())
            process.stop()
            await asyncio.wait_for(running, 60)


async def test_events_on_the_topic_reach_the_receiver_signed_and_a_hanging_one_holds_none_of_it(
    hooks: Hooks, receiver: Receiver, publishing: Callable[..., Any]
) -> None:
    hanging = HangingReceiver()
    with Served(hanging.app) as served:
        stuck = hooks.subscribe(f"{served.url}/hook")
        healthy = hooks.subscribe(receiver.url)
        bookings = [hooks.booking() for _ in range(3)]
        published = [e for b in bookings for e in (b.confirmed(), b.rescheduled(), b.cancelled())]
        await publishing(*published)

        # Every event reached the healthy endpoint, verified, in order per booking…
        await eventually(lambda: len(receiver.received()) == len(published), "all delivered")
        verify = documented_verify()
        got = receiver.received()
        assert all(verify(healthy["secret"], r.signature, r.body) for r in got)
        for booking in bookings:
            mine = [json.loads(r.body) for r in got]
            order = [e["notification_id"] for e in mine if e["aggregate_id"] == str(booking.id)]
            assert order == sorted(order) and len(order) == 3
        # …while the hanging endpoint still holds the first attempt at each booking's first
        # delivery (none has come back, not even as a timeout), and the consumer made
        # every delivery for it all the same.
        assert hanging.arrived == len(bookings)
        log = hooks.deliveries(stuck["id"])
        assert len(log) == len(published)
        assert sorted(d["state"] for d in log) == ["pending"] * 3 + ["queued"] * 6
        assert {d["attempts"] for d in log} == {0}
        hanging.release.set()
        await eventually(
            lambda: {d["state"] for d in hooks.deliveries(stuck["id"])} == {"delivered"},
            "the released endpoint got everything",
            timeout=60,
        )
