"""Personal data can be forgotten (ARCHITECTURE.md rule 7; API.md, Privacy), told as one
scenario on real PostgreSQL and a real broker.

Two clients book the same specialist with names, addresses, phones, intake answers and
notes. Before and after an erasure, no event-store row, no message on the topic, no
table row and no captured log line holds any of it in clear. After `POST
/v1/privacy/erasures` for one client, the API, the topic (read again) and the read
models show that client as erased while the other stays readable; the availability
projector hears `PersonErased` and reports, so the erasure reaches done; `kairos replay
availability` and a rebuild of the booking service's query tables still work.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer
from psycopg import sql
from psycopg_pool import ConnectionPool

from availability.projector import projector_spec
from availability.replay import replay_availability
from booking.history import TABLE as HISTORY_TABLE
from kairos.events import REGISTRY, Envelope
from kairos.events.booking import SlotRequested, SpecialistRegistered
from kairos.messaging import TOPIC_PARTITIONS, ensure_topics, make_producer
from kairos.messaging.kafka import close_quietly
from kairos.messaging.notification_log import NotificationLog, republish
from kairos.privacy import ERASED, KeyStore, PersonalData
from kairos.settings import TopicSettings
from kairos_dev.infra import KafkaHandle
from kairos_dev.testing.services import TEST_SECRETS
from tests.availability.conftest import World, availability_settings, running_world
from tests.booking.helpers import ADMIN, bearer, expect, specialist_jwt

pytestmark = pytest.mark.integration

MONDAY_TEN = datetime(2026, 3, 9, 10, tzinfo=UTC)
MONDAY_TWO = datetime(2026, 3, 9, 14, tzinfo=UTC)

ADA = {
    "name": "Adelheid Quastorf",
    "email": "adelheid.quastorf@example.org",
    "phone": "+44 20 7946 0101",
    "answer": "insomnia since the spring",
    "notes": "worried about the sertraline dosage",
}
BEN = {
    "name": "Benedikt Ulmwarth",
    "email": "benedikt.ulmwarth@example.org",
    "phone": "+44 20 7946 0202",
    "answer": "back pain after the fall",
    "notes": "prefers mornings, hard of hearing",
}
SPECIALIST = {
    "name": "Dr. Vesna Orlovskaya",
    "email": "vesna.orlovskaya@example.org",
    "bio": "Sleep medicine at Kettering General",
}


def needles(person: dict[str, str]) -> list[str]:
    return list(person.values())


def booking(world: World, service_id: str, starts_at: datetime, person: dict[str, str]) -> str:
    body = {
        "service_id": service_id,
        "starts_at": starts_at.isoformat().replace("+00:00", "Z"),
        "client": {
            "name": person["name"],
            "email": person["email"],
            "timezone": "Europe/London",
            "phone": person["phone"],
        },
        "answers": {"topic": person["answer"]},
        "notes": person["notes"],
    }
    created = expect(world.booking.post("/v1/bookings", json=body), 201)
    assert created["client"]["name"] == person["name"]  # the answer shows it to its client
    booking_id: str = created["id"]
    return booking_id


def rows_holding(database_url: str, texts: list[str]) -> list[str]:
    """Every table row of the database (bytea as hex too) that holds one of `texts`."""
    found = []
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        ).fetchall()
        for (table,) in tables:
            query = sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(table))
            for (row,) in conn.execute(query):
                lowered = row.casefold()
                for text in texts:
                    if text.casefold() in lowered or text.encode().hex() in row:
                        found.append(f"{table}: {text!r}")
    return found


def on_topic(kafka: KafkaHandle, log: NotificationLog) -> list[bytes]:
    """Every stored event published to a topic of its own, read back raw."""
    topic = f"privacy-{uuid4().hex[:8]}"

    async def publish_and_read() -> list[bytes]:
        await ensure_topics(kafka.bootstrap, [topic], partitions=TOPIC_PARTITIONS)
        producer = make_producer(kafka.bootstrap, client_id="test-privacy")
        await producer.start()
        try:
            sent = await republish(log, producer, topic, 0, log.top())
        finally:
            await close_quietly(producer.stop())
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        values: list[bytes] = []
        try:
            while len(values) < sent:
                batches = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 30)
                values += [m.value for batch in batches.values() for m in batch if m.value]
        finally:
            await close_quietly(consumer.stop())
        return values

    return asyncio.run(publish_and_read())


def decoded(values: list[bytes], kind: type[Any]) -> list[Any]:
    payloads = [REGISTRY.decode(Envelope.model_validate_json(v)) for v in values]
    return [p for p in payloads if isinstance(p, kind)]


def sync_projector(world: World) -> None:
    """Apply the booking events to the availability read model through the projector's
    own handler table (the one its consumer runs, erasures included)."""
    settings = availability_settings(world.database_url, "redis://unused").model_copy(
        update={"privacy_database_url": world.database_url}
    )
    spec = projector_spec(settings)
    with psycopg.connect(world.database_url) as conn:
        assert spec.setup is not None
        spec.setup(conn)
        for page in world.log.pages(world.applied):
            for event in page:
                handler = next(
                    spec.handlers[c] for c in type(event.payload).__mro__ if c in spec.handlers
                )
                with conn.transaction():
                    handler(conn, event, event.payload)
                world.applied = event.notification_id


@pytest.fixture
def world(fresh_database: Callable[[], str], redis_url: str) -> Iterator[World]:
    with running_world(fresh_database(), redis_url) as world:
        yield world


@pytest.fixture
def personal(world: World) -> Iterator[PersonalData]:
    """A consumer's PersonalData on the world's key store."""
    with ConnectionPool(world.database_url, min_size=1, max_size=2) as pool:
        keys = KeyStore(pool, TEST_SECRETS["PRIVACY_MASTER_KEY"], TEST_SECRETS["PRIVACY_INDEX_KEY"])
        yield PersonalData(keys)


def test_an_erased_client_is_unreadable_everywhere_and_replays_still_work(
    world: World,
    personal: PersonalData,
    kafka: KafkaHandle,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    sync_projector(world)  # the projector takes part in erasures from its start
    specialist = world.catalog.specialist(**SPECIALIST)
    service = world.catalog.service(
        specialist["id"],
        questions=[{"key": "topic", "label": "What brings you?", "type": "text", "required": True}],
    )
    ada_booking = booking(world, service["id"], MONDAY_TEN, ADA)
    ben_booking = booking(world, service["id"], MONDAY_TWO, BEN)
    sync_projector(world)
    everyone = needles(ADA) + needles(BEN)

    # Before any erasure: sealed in the store, on the topic and in the read models.
    assert rows_holding(world.database_url, everyone) == []
    before = on_topic(kafka, world.log)
    assert [text for text in everyone if any(text.encode() in v for v in before)] == []
    requested = {p.booking_id: p for p in decoded(before, SlotRequested)}
    ada_event = requested[UUID(ada_booking)]
    revealer = personal.revealer()
    assert revealer.reveal(ada_event.client.name) == ADA["name"]
    assert revealer.reveal(ada_event.notes) == ADA["notes"]
    assert revealer.reveal(ada_event.answers["topic"]) == ADA["answer"]
    listed = world.booking.get("/v1/bookings", params={"client_email": ADA["email"]}, headers=ADMIN)
    assert [b["id"] for b in expect(listed, 200)["bookings"]] == [ada_booking]

    # The endpoint: admin only, validated.
    body = {"email": ADA["email"].upper()}  # addresses match whatever their case
    assert world.booking.post("/v1/privacy/erasures", json=body).status_code == 401
    as_specialist = bearer(specialist_jwt(specialist["id"]))
    refused = world.booking.post("/v1/privacy/erasures", json=body, headers=as_specialist)
    assert refused.status_code == 403
    for bad in ({}, {"email": "not an address"}, {"email": ADA["email"], "also": 1}):
        invalid = world.booking.post("/v1/privacy/erasures", json=bad, headers=ADMIN)
        assert invalid.status_code == 422 and invalid.json()["error"]["code"], invalid.text
    unknown = world.booking.get(f"/v1/privacy/erasures/{uuid4()}", headers=ADMIN)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"

    erasure = expect(world.booking.post("/v1/privacy/erasures", json=body, headers=ADMIN), 202)
    status_url = f"/v1/privacy/erasures/{erasure['id']}"
    assert world.booking.get(status_url).status_code == 401
    assert expect(world.booking.get(status_url, headers=ADMIN), 200) == {
        "state": "pending",
        "services": {"booking": "done", "availability": "pending"},
    }
    sync_projector(world)  # the projector hears PersonErased
    assert expect(world.booking.get(status_url, headers=ADMIN), 200) == {
        "state": "done",
        "services": {"booking": "done", "availability": "done"},
    }

    # The API shows the erased client as erased, the other as before.
    ada = expect(world.booking.get(f"/v1/bookings/{ada_booking}", headers=ADMIN), 200)
    assert (ada["client"]["name"], ada["client"]["email"], ada["client"]["phone"]) == (
        ERASED,
        ERASED,
        ERASED,
    )
    assert (ada["answers"], ada["notes"]) == ({"topic": ERASED}, ERASED)
    ben = expect(world.booking.get(f"/v1/bookings/{ben_booking}", headers=ADMIN), 200)
    assert (ben["client"]["name"], ben["answers"], ben["notes"]) == (
        BEN["name"],
        {"topic": BEN["answer"]},
        BEN["notes"],
    )
    listed = world.booking.get("/v1/bookings", params={"client_email": ADA["email"]}, headers=ADMIN)
    assert expect(listed, 200)["bookings"] == []
    history = expect(world.booking.get("/v1/bookings", headers=ADMIN), 200)["bookings"]
    assert {(b["client_name"], b["client_email"]) for b in history} == {
        (ERASED, ERASED),
        (BEN["name"], BEN["email"]),
    }

    # The topic, read again, and the events already consumed: erased for her, not for him.
    after = on_topic(kafka, world.log)
    for values in (before, after):
        for event in decoded(values, SlotRequested):
            fresh = personal.revealer()
            shown = [
                fresh.reveal(event.client.name),
                fresh.reveal(event.client.email),
                fresh.reveal(event.answers["topic"]),
                fresh.reveal_optional(event.notes),
            ]
            if event.booking_id == UUID(ada_booking):
                assert shown == [ERASED] * 4
            else:
                assert shown == [BEN["name"], BEN["email"], BEN["answer"], BEN["notes"]]
    assert [text for text in everyone if any(text.encode() in v for v in after)] == []

    # Replays and rebuilds work after the erasure, and show her as erased.
    out = io.StringIO()
    topics = TopicSettings(kafka_partitions=TOPIC_PARTITIONS)
    replayed = replay_availability(
        world.database_url, world.database_url, page_size=1000, topics=topics, out=out
    )
    assert replayed == 0, out.getvalue()
    with psycopg.connect(world.database_url) as conn:
        conn.execute("DELETE FROM booking_index_position")
        conn.execute(f"TRUNCATE {HISTORY_TABLE}, specialist_profiles, service_definitions")
    rebuilt = expect(world.booking.get("/v1/bookings", headers=ADMIN), 200)["bookings"]
    assert rebuilt == history
    assert rows_holding(world.database_url, everyone) == []

    # Then the specialist: the public profile is overwritten, her bookings remain.
    gone = {"email": SPECIALIST["email"]}
    expect(world.booking.post("/v1/privacy/erasures", json=gone, headers=ADMIN), 202)
    profile = expect(world.booking.get(f"/v1/specialists/{specialist['id']}"), 200)
    assert (profile["name"], profile["bio"]) == (ERASED, ERASED)
    page = expect(world.booking.get("/v1/specialists"), 200)["specialists"]
    assert [p["name"] for p in page] == [ERASED]
    assert rows_holding(world.database_url, needles(SPECIALIST)) == []
    registered = decoded(on_topic(kafka, world.log), SpecialistRegistered)
    assert {personal.reveal(r.name) for r in registered} == {ERASED}
    assert expect(world.booking.get(f"/v1/bookings/{ben_booking}", headers=ADMIN), 200)

    # No log line ever held any of it.
    logged = caplog.text + "".join(capfd.readouterr())
    assert [t for t in everyone + needles(SPECIALIST) if t.casefold() in logged.casefold()] == []


def test_a_second_erasure_of_the_same_address_finds_no_one_and_is_done(world: World) -> None:
    body = {"email": "nobody-here@example.org"}
    erasure = expect(world.booking.post("/v1/privacy/erasures", json=body, headers=ADMIN), 202)
    state = expect(world.booking.get(f"/v1/privacy/erasures/{erasure['id']}", headers=ADMIN), 200)
    assert state == {"state": "done", "services": {"booking": "done"}}
