"""Fixtures of the notifications tests: the links a recipient gets, a running consumer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from kairos.events import VIDEO_REGISTRY
from kairos_dev.infra import KafkaHandle
from notifications.appointment import Links
from notifications.video_rooms import CONSUMER as VIDEO_ROOMS
from notifications.video_rooms import handlers as video_room_handlers
from tests.notifications.delivering import Delivery, Fakes, delivering, running_fakes
from tests.notifications.running import Consumer, running_consumer


@pytest.fixture
def links() -> Links:
    return Links(
        manage="https://kairos.example/bookings/b1?token=secret-manage",
        join="https://kairos.example/bookings/b1/join",
    )


@pytest.fixture
async def consumer(
    kafka: KafkaHandle, fresh_database: Callable[[], str]
) -> AsyncIterator[Consumer]:
    """The notifications handlers consuming a topic of their own, in a fresh database."""
    async for running in running_consumer(kafka, fresh_database()):
        yield running


@pytest.fixture
async def video_rooms(kafka: KafkaHandle, consumer: Consumer) -> AsyncIterator[Consumer]:
    """notifications.video_rooms consuming a topic of its own, in `consumer`'s database."""
    async for running in running_consumer(
        kafka, consumer.database, video_room_handlers, VIDEO_ROOMS, VIDEO_REGISTRY
    ):
        yield running


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with running_fakes() as running:
        yield running


@pytest.fixture
def delivery(consumer: Consumer, fakes: Fakes) -> Iterator[Delivery]:
    with delivering(consumer, fakes) as made:
        yield made
