"""booking.events.v1 end to end: real processes, real PostgreSQL, Redis and a tansu broker.

HTTP → booking API process (`booking.main:app`) → event store → outbox relay process
(`python -m booking.relay`) → Kafka topic `booking.events.v1` → an EventConsumer whose
handler writes each event into a table keyed by event id, in a database of its own.

What is checked (ARCHITECTURE.md rules 1, 3 and 4; API.md, Kafka topics):
- every message is the documented envelope, keyed by the specialist id, decodable, and
  matches the committed JSON Schemas (fully with jsonschema when installed, else their
  top-level fields);
- every stored event but the internal ones (DayLedger, SpecialistEmail) reaches the topic,
  with its own type at its own notification id, in log order per partition (the kairos-previous
  chain), and the same event always with the same content and event id;
- a relay killed with SIGKILL mid-stream, a broker restarted with empty storage (while
  bookings flow, and while all is quiet), and a broker down for a while lose nothing,
  and the consumer applies each event exactly once;
- an event whose transaction commits after a later one's still reaches the topic.

Each test gets its own broker (`own_kafka`, the relay owns the fixed topic name) and its
own databases; the consumers have their own group ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import httpx
import psycopg
import pytest
from aiokafka import TopicPartition
from prometheus_client import REGISTRY as METRICS

from booking.domain import DayLedger
from kairos.events import BOOKING_TOPIC, REGISTRY, Envelope
from kairos.events.booking import BookingEvent, Payload
from kairos.events.registry import SCHEMA_DIR
from kairos.events.sealed import as_sealed
from kairos.messaging import (
    PREVIOUS_HEADER,
    TOPIC_PARTITIONS,
    EventConsumer,
    GroupTimeouts,
    make_consumer,
    partition_for,
)
from kairos_dev.infra import KafkaHandle
from kairos_dev.testing.services import TEST_SECRETS, ServiceProcess, service_env
from tests.booking.helpers import reveal

try:  # Validate against the committed JSON Schemas fully when jsonschema is there.
    import jsonschema
except ImportError:  # pragma: no cover - depends on the environment
    jsonschema = None

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

T = TypeVar("T")

ADMIN = {"Authorization": f"Bearer {TEST_SECRETS['ADMIN_API_KEY']}"}
RELAY_NAME = "booking"  # booking/relay.py
EVENTS_TABLE = "bookings_events"  # the eventsourcing table of the `bookings` application
FAST = GroupTimeouts(session_timeout_ms=3000, heartbeat_interval_ms=300, rebalance_timeout_ms=2000)
DURATION = timedelta(minutes=30)
DAYS = 10  # bookings spread over this many local dates per specialist

#: Aggregates whose events stay inside the service: the day ledgers and the e-mail holds.
INTERNAL_AGGREGATES = ("DayLedger.", "SpecialistEmail.")
#: Stored domain event (aggregate.event name) → the integration event the relay must publish.
#: Any other stored event fails the test.
DOMAIN_TO_INTEGRATION: dict[str, str | None] = {
    "Specialist.Registered": "SpecialistRegistered",
    "Specialist.ScheduleSet": "ScheduleSet",
    "Specialist.OverrideSet": "OverrideSet",
    "Specialist.OverrideCleared": "OverrideCleared",
    "Service.Defined": "ServiceDefined",
    "Service.Updated": "ServiceUpdated",
    "Booking.SlotRequested": "SlotRequested",
    "Booking.Confirmed": "BookingConfirmed",
    "Booking.Pending": "BookingPending",
    "Booking.Declined": "BookingDeclined",
    "Booking.Cancelled": "BookingCancelled",
    "Booking.Rescheduled": "BookingRescheduled",
    "Booking.Started": "BookingStarted",
    "Booking.Completed": "BookingCompleted",
    "Booking.NoShowMarked": "NoShowMarked",
}


# --- the running system --------------------------------------------------------


@dataclass
class Offer:
    specialist_id: str
    service_id: str


@dataclass
class Booked:
    id: str
    specialist_id: str
    service_id: str
    starts_at: str
    manage_token: str


@dataclass
class Stack:
    """The booking API process, relays started on demand, and the databases behind them."""

    database: str
    bootstrap: str
    env: dict[str, str]
    api: ServiceProcess
    processes: list[ServiceProcess] = field(default_factory=list)

    def relay(self) -> ServiceProcess:
        """A relay process, not yet started."""
        relay = ServiceProcess.worker("booking.relay", self.env, port_env="RELAY_OPS_PORT")
        self.processes.append(relay)
        return relay

    def output(self) -> str:
        return "\n".join(
            f"--- {p.name} (alive={p.alive}):\n{p.output(30)}" for p in [self.api, *self.processes]
        )


@pytest.fixture
def stack(
    own_kafka: KafkaHandle, fresh_database: Callable[[], str], redis_url: str
) -> Iterator[Stack]:
    database = fresh_database()
    env = service_env(database, redis_url, own_kafka.bootstrap)
    api = ServiceProcess.api("booking.main:app", env).start()
    running = Stack(database, own_kafka.bootstrap, env, api)
    try:
        yield running
    finally:
        for process in reversed(running.processes):
            process.stop()
        api.stop()


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.api.url, timeout=15) as client:
        yield client


async def create_catalog(http: httpx.AsyncClient, specialists: int) -> list[Offer]:
    """Specialists working around the clock (UTC) every day, each with a 30-minute service."""
    offers = []
    for n in range(specialists):
        response = await http.post(
            "/v1/specialists",
            headers=ADMIN,
            json={
                "name": f"Dr E2E {n}",
                "email": f"e2e-{n}@example.com",
                "timezone": "UTC",
                "specialty": "testing",
            },
        )
        assert response.status_code == 201, response.text
        specialist_id = response.json()["id"]
        weekly = [{"day": d, "start": "00:00", "end": "24:00"} for d in range(7)]
        response = await http.put(
            f"/v1/specialists/{specialist_id}/schedule", headers=ADMIN, json={"weekly": weekly}
        )
        assert response.status_code == 200, response.text
        response = await http.post(
            "/v1/services",
            headers=ADMIN,
            json={
                "specialist_id": specialist_id,
                "name": f"Consultation {n}",
                "duration_minutes": DURATION.seconds // 60,
                "max_advance_days": 60,
                "cancellation_hours": 24,
            },
        )
        assert response.status_code == 201, response.text
        offers.append(Offer(specialist_id, response.json()["id"]))
    return offers


def first_day() -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=2)


def slot(offers: list[Offer], i: int, base: datetime) -> tuple[Offer, datetime]:
    """Booking number i: round-robin over specialists, then days, then slots in a day,
    so concurrent requests rarely claim the same specialist's day."""
    j, k = divmod(i, len(offers))
    nth_slot, day = divmod(j, DAYS)
    return offers[k], base + timedelta(days=day) + nth_slot * DURATION


async def book(http: httpx.AsyncClient, offer: Offer, starts_at: datetime, n: int) -> Booked:
    response = await http.post(
        "/v1/bookings",
        json={
            "service_id": offer.service_id,
            "starts_at": starts_at.isoformat().replace("+00:00", "Z"),
            "client": {
                "name": f"Client {n}",
                "email": f"client-{n}@example.com",
                "timezone": "Europe/Berlin",
            },
            "notes": f"booking #{n}",
        },
    )
    assert response.status_code == 201, f"booking #{n}: {response.status_code} {response.text}"
    body = response.json()
    assert body["status"] == "confirmed"
    assert body["specialist_id"] == offer.specialist_id
    return Booked(
        body["id"], offer.specialist_id, offer.service_id, body["starts_at"], body["manage_token"]
    )


async def book_many(
    http: httpx.AsyncClient,
    offers: list[Offer],
    numbers: range,
    base: datetime,
    into: list[Booked],
    concurrency: int = 1,
) -> None:
    """Make bookings `numbers` (each its own slot), `concurrency` at a time, into `into`.

    One at a time unless asked: concurrent saves can commit out of notification-id order,
    which today loses events (see the test of an event committed after a later one), and
    the other tests are about other things.
    """
    queue = iter(numbers)

    async def worker() -> None:
        for n in queue:
            offer, starts_at = slot(offers, n, base)
            into.append(await book(http, offer, starts_at, n))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


# --- what the event store holds --------------------------------------------------


@dataclass(frozen=True)
class Stored:
    notification_id: int
    originator_id: UUID
    originator_version: int
    name: str  # "Booking.Confirmed"

    @property
    def integration_type(self) -> str | None:
        if self.name.startswith(INTERNAL_AGGREGATES):
            return None  # internal, whatever their events
        assert self.name in DOMAIN_TO_INTEGRATION, f"unexpected stored event {self.name}"
        return DOMAIN_TO_INTEGRATION[self.name]


def stored_events(database: str) -> list[Stored]:
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            f"SELECT notification_id, originator_id, originator_version, topic"
            f" FROM {EVENTS_TABLE} ORDER BY notification_id"
        ).fetchall()
    return [Stored(int(n), UUID(str(o)), int(v), t.rsplit(":", 1)[-1]) for n, o, v, t in rows]


def to_publish(database: str) -> dict[int, Stored]:
    """The stored events the relay must publish, by notification id."""
    return {s.notification_id: s for s in stored_events(database) if s.integration_type}


def waiting_for_locks(database: str) -> int:
    """How many lock requests in this database are waiting."""
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE NOT l.granted AND a.datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def relay_position(database: str) -> int:
    with psycopg.connect(database) as conn:
        try:
            row = conn.execute(
                "SELECT position FROM relay_positions WHERE name = %s", (RELAY_NAME,)
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(row[0]) if row else 0


RelayState = tuple[int, list[tuple[int, int, int]]]


def relay_state(database: str) -> RelayState:
    """The relay's recorded state: its position, and per partition its head (last
    notification id, first offset of its latest batch). One statement: one snapshot."""
    with psycopg.connect(database) as conn:
        row = conn.execute(
            "SELECT (SELECT position FROM relay_positions WHERE name = %(n)s),"
            " (SELECT json_agg(json_build_array(partition, notification_id, kafka_offset))"
            "  FROM relay_partitions WHERE name = %(n)s)",
            {"n": RELAY_NAME},
        ).fetchone()
    assert row is not None and row[0] is not None
    return int(row[0]), [(int(p), int(n), int(o)) for p, n, o in row[1] or []]


def restore_relay_state(database: str, state: RelayState) -> None:
    """Put back a state the relay recorded earlier (only while no relay runs)."""
    position, heads = state
    with psycopg.connect(database) as conn, conn.transaction():
        conn.execute(
            "UPDATE relay_positions SET position = %s WHERE name = %s", (position, RELAY_NAME)
        )
        conn.execute("DELETE FROM relay_partitions WHERE name = %s", (RELAY_NAME,))
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO relay_partitions (name, partition, notification_id, kafka_offset)"
                " VALUES (%s, %s, %s, %s)",
                [(RELAY_NAME, p, n, o) for p, n, o in heads],
            )


def store_top(database: str) -> int:
    with psycopg.connect(database) as conn:
        row = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {EVENTS_TABLE}")
        return int(row.fetchone()[0])  # type: ignore[index]


# --- what the topic holds --------------------------------------------------------


@dataclass(frozen=True)
class Message:
    partition: int
    offset: int
    key: bytes
    previous: int
    raw: dict[str, Any]
    envelope: Envelope


async def read_topic(
    bootstrap: str,
    wanted: set[int],
    timeout: float = 20.0,
    diagnostics: Callable[[], str] = str,
    linger: float = 0.0,
) -> list[Message]:
    """Every message of the topic from the beginning, once `wanted` notification ids arrived
    (and `linger` seconds passed). Manual assignment from the beginning: no group, and no
    reliance on end offsets.
    """
    reader = make_consumer(bootstrap, group_id=None, client_id=f"e2e-reader-{uuid.uuid4().hex}")
    await reader.start()
    try:
        partitions = [TopicPartition(BOOKING_TOPIC, p) for p in range(TOPIC_PARTITIONS)]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        messages: list[Message] = []
        seen: set[int] = set()
        deadline = time.monotonic() + timeout
        lingering = time.monotonic() + linger
        while not wanted <= seen or time.monotonic() < lingering:
            if time.monotonic() > deadline and not wanted <= seen:
                missing = sorted(wanted - seen)
                raise AssertionError(
                    f"{len(missing)} of {len(wanted)} events never reached {BOOKING_TOPIC}"
                    f" (first missing: {missing[:10]})\n{diagnostics()}"
                )
            for batch in (await reader.getmany(timeout_ms=200)).values():
                for m in batch:
                    headers = dict(m.headers or ())
                    assert PREVIOUS_HEADER in headers, f"no {PREVIOUS_HEADER} header: {m}"
                    raw = json.loads(m.value)
                    envelope = Envelope.model_validate(raw)
                    messages.append(
                        Message(
                            m.partition,
                            m.offset,
                            m.key,
                            int(headers[PREVIOUS_HEADER]),
                            raw,
                            envelope,
                        )
                    )
                    seen.add(envelope.notification_id)
        return messages
    finally:
        await reader.stop()


def follow(messages: list[Message], gaps: bool = False) -> list[Message]:
    """What a consumer reading the topic from its beginning applies, per partition in offset
    order: it skips a redelivery (a notification id at or below the last one applied) and
    never applies an event whose PREVIOUS_HEADER names another event than the last one it
    applied. With `gaps`, such a message is skipped (as EventConsumer does, waiting for the
    relay to republish); without, it fails: a relay that never lost the topic makes none."""
    last: dict[int, int] = {}
    applied: list[Message] = []
    for m in sorted(messages, key=lambda m: (m.partition, m.offset)):
        n = m.envelope.notification_id
        if n <= last.get(m.partition, 0):
            continue
        if m.previous != last.get(m.partition, 0):
            assert gaps, (
                f"partition {m.partition} offset {m.offset}: #{n} says it follows"
                f" #{m.previous}, but #{last.get(m.partition, 0)} came before it"
            )
            continue
        last[m.partition] = n
        applied.append(m)
    return applied


def describe_partitions(messages: list[Message]) -> str:
    """Per partition: (offset, notification id, previous) of each message, for a failure."""
    lines = []
    for partition in range(TOPIC_PARTITIONS):
        mine = sorted((m for m in messages if m.partition == partition), key=lambda m: m.offset)
        if mine:
            listed = [(m.offset, m.envelope.notification_id, m.previous) for m in mine]
            lines.append(f"partition {partition}: {listed}")
    return "\n".join(lines)


def _schema(name: str) -> dict[str, Any]:
    return dict(json.loads((SCHEMA_DIR / name).read_text()))


def check_against_committed_schema(raw: dict[str, Any]) -> None:
    """The message against the committed Envelope.json and <Type>.v<version>.json: fully
    with jsonschema when installed, else the top-level field names (required, no extras)."""
    envelope_schema = _schema("Envelope.json")
    data_schema = _schema(f"{raw['type']}.v{raw['version']}.json")
    if jsonschema is not None:
        jsonschema.validate(raw, envelope_schema)
        jsonschema.validate(raw["data"], data_schema)
        return
    for schema, value in ((envelope_schema, raw), (data_schema, raw["data"])):
        assert set(schema.get("required", ())) <= value.keys(), (schema["title"], value)
        if schema.get("additionalProperties") is False:
            assert value.keys() <= schema["properties"].keys(), (schema["title"], value)


def check_message(m: Message, stored: dict[int, Stored], started: datetime) -> None:
    """One message: the documented envelope, keyed and partitioned by the specialist, and
    carrying the integration event of the stored event at its notification id."""
    e = m.envelope
    assert m.key == str(e.specialist_id).encode(), f"key {m.key!r} is not {e.specialist_id}"
    assert m.partition == partition_for(m.key, TOPIC_PARTITIONS)
    assert e.producer == "booking"
    assert e.version == REGISTRY.latest_version(e.type)
    payload = REGISTRY.decode(e)
    assert type(payload).__name__ == e.type
    check_against_committed_schema(m.raw)
    source = stored.get(e.notification_id)
    assert source is not None, f"#{e.notification_id} ({e.type}) is not a public stored event"
    assert e.type == source.integration_type, f"#{e.notification_id}: {e.type} vs {source.name}"
    assert e.aggregate_id == source.originator_id
    assert e.occurred_at.utcoffset() == timedelta(0), f"occurred_at not UTC: {e.occurred_at}"
    assert started - timedelta(seconds=5) <= e.occurred_at <= datetime.now(UTC)
    assert m.previous < e.notification_id


def check_topic(
    messages: list[Message], stored: dict[int, Stored], started: datetime, gaps: bool = False
) -> None:
    """The whole topic: every public event, nothing else, each event always the same, and
    a consumer reading it from the beginning gets every event in log order."""
    for m in messages:
        check_message(m, stored, started)
    applied = sorted(m.envelope.notification_id for m in follow(messages, gaps))
    missing = sorted(set(stored) - set(applied))
    assert not missing, (
        f"a consumer reading {BOOKING_TOPIC} from its beginning never gets {len(missing)}"
        f" events (first: {missing[:10]}) of {len(stored)}\n{describe_partitions(messages)}"
    )
    assert applied == sorted(stored)
    by_notification: dict[int, set[str]] = defaultdict(set)
    for m in messages:
        by_notification[m.envelope.notification_id].add(m.envelope.model_dump_json())
    changed = {n: v for n, v in by_notification.items() if len(v) > 1}
    assert not changed, f"republished events differ from the first copy: {changed}"
    event_ids = {m.envelope.notification_id: m.envelope.event_id for m in messages}
    assert len(set(event_ids.values())) == len(event_ids), "two events share an event id"


def booking_events(messages: list[Message]) -> dict[str, list[Message]]:
    """Per booking id, its messages as a consumer reading from the beginning applies them."""
    per: dict[str, list[Message]] = defaultdict(list)
    for m in follow(messages, gaps=True):
        booking_id = m.envelope.data.get("booking_id")
        if booking_id is not None:
            per[booking_id].append(m)
    return per


def check_each_booking_confirmed(messages: list[Message], bookings: list[Booked]) -> None:
    events = booking_events(messages)
    for b in bookings:
        mine = events.get(b.id, [])
        types = [m.envelope.type for m in mine]
        assert types[:2] == ["SlotRequested", "BookingConfirmed"], f"booking {b.id}: {types}"
        requested, confirmed = mine[0], mine[1]
        assert requested.envelope.notification_id < confirmed.envelope.notification_id
        assert requested.partition == confirmed.partition
        assert requested.offset < confirmed.offset
        for m in (requested, confirmed):
            assert str(m.envelope.aggregate_id) == b.id
            assert str(m.envelope.specialist_id) == b.specialist_id
        assert requested.envelope.data["service_id"] == b.service_id
        assert _instant(requested.envelope.data["starts_at"]) == _instant(b.starts_at)


@dataclass(frozen=True)
class Act:
    """What a notifying consumer needs: the status, who (client, specialist), what, when."""

    status: str
    client_email: str
    client_timezone: str
    specialist_name: str
    specialist_email: str
    service: str
    starts_at: datetime
    duration: timedelta


def act_on(envelope: Envelope, database: str) -> Act:
    """The consumer's side: one envelope, decoded by the contract, its personal fields
    opened through the key store (kairos.privacy), and nothing else."""
    event = REGISTRY.decode(envelope)
    assert isinstance(event, BookingEvent) and event.booking is not None, envelope.type
    b = event.booking
    return Act(
        b.status,
        reveal(database, b.client.contact.email),
        b.client.timezone,
        reveal(database, b.specialist.contact.name),
        reveal(database, b.specialist.contact.email),
        b.service.name,
        b.starts_at,
        b.ends_at - b.starts_at,
    )


def opened(stack: Stack, data: dict[str, Any], *personal: str) -> dict[str, Any]:
    """`data` with its `personal` fields revealed."""
    return {k: reveal(stack.database, v) if k in personal else v for k, v in data.items()}


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- a consumer of the topic -------------------------------------------------------


class ReadModel:
    """A database of its own with a table keyed by event id (and unique notification id):
    applying an event twice fails the handler, which fails the consumer."""

    def __init__(self, url: str) -> None:
        self.url = url
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE applied ("
                " seq bigserial NOT NULL,"
                " event_id uuid PRIMARY KEY,"
                " notification_id bigint NOT NULL UNIQUE,"
                " type text NOT NULL,"
                " specialist_id uuid NOT NULL,"
                " booking_id uuid)"
            )

    @staticmethod
    def apply(conn: psycopg.Connection[Any], envelope: Envelope, payload: Any) -> None:
        conn.execute(
            "INSERT INTO applied (event_id, notification_id, type, specialist_id, booking_id)"
            " VALUES (%s, %s, %s, %s, %s)",
            (
                envelope.event_id,
                envelope.notification_id,
                envelope.type,
                envelope.specialist_id,
                getattr(payload, "booking_id", None),
            ),
        )

    def rows(self) -> list[tuple[int, UUID, int, str, UUID, UUID | None]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(
                "SELECT seq, event_id, notification_id, type, specialist_id, booking_id"
                " FROM applied ORDER BY seq"
            ).fetchall()

    def progress(self, database: str) -> str:
        """What is missing, for a timeout's message."""
        applied = set(self.notification_ids())
        wanted = set(to_publish(database))
        return (
            f"applied {len(applied)} of {len(wanted)} events;"
            f" missing {sorted(wanted - applied)[:20]}; unexpected {sorted(applied - wanted)[:20]};"
            f" relay position {relay_position(database)}, store top {store_top(database)}"
        )

    def positions(self) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            try:
                return conn.execute(
                    "SELECT partition, notification_id FROM consumer_positions ORDER BY 1"
                ).fetchall()
            except psycopg.errors.UndefinedTable:
                return []

    def notification_ids(self) -> list[int]:
        with psycopg.connect(self.url) as conn:
            rows = conn.execute("SELECT notification_id FROM applied").fetchall()
        return sorted(int(n) for (n,) in rows)

    def check(self, stored: dict[int, Stored], bookings: list[Booked]) -> None:
        """Each public event applied exactly once, in log order per specialist, and each
        booking's SlotRequested before its BookingConfirmed."""
        rows = self.rows()
        counts = Counter(n for _, _, n, *_ in rows)
        assert not [n for n, c in counts.items() if c > 1], "an event was applied twice"
        assert sorted(counts) == sorted(stored)
        for _, _, n, kind, _, _ in rows:
            assert kind == stored[n].integration_type
        per_specialist: dict[UUID, list[int]] = defaultdict(list)
        for _, _, n, _, specialist_id, _ in rows:
            per_specialist[specialist_id].append(n)
        for specialist_id, ns in per_specialist.items():
            assert ns == sorted(ns), f"{specialist_id}'s events applied out of order: {ns}"
        per_booking: dict[str, list[str]] = defaultdict(list)
        for _, _, _, kind, _, booking_id in rows:
            if booking_id is not None:
                per_booking[str(booking_id)].append(kind)
        for b in bookings:
            assert per_booking[b.id][:2] == ["SlotRequested", "BookingConfirmed"], b.id


async def _run(consumer: EventConsumer) -> None:
    """`consumer.run()`, telling a CancelledError nobody asked for from a real cancellation."""
    try:
        await consumer.run()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        raise AssertionError(
            "EventConsumer.run() ended with a CancelledError although nothing cancelled it:\n"
            + traceback.format_exc()
        ) from None


def consumed(group_id: str, outcome: str) -> float:
    """kairos_consumer_messages_total of the consumer in this process, for one outcome."""
    labels = {"consumer": group_id, "outcome": outcome}
    return METRICS.get_sample_value("kairos_consumer_messages_total", labels) or 0.0


def consumer_recoveries(group_id: str) -> float:
    return (
        METRICS.get_sample_value("kairos_consumer_recoveries_total", {"consumer": group_id}) or 0.0
    )


@contextlib.asynccontextmanager
async def running_consumer(
    bootstrap: str, read_model: ReadModel, group_id: str | None = None
) -> AsyncIterator[asyncio.Task[None]]:
    consumer = EventConsumer(
        bootstrap,
        BOOKING_TOPIC,
        group_id or f"e2e-{uuid.uuid4().hex[:12]}",
        {Payload: ReadModel.apply},
        read_model.url,
        timeouts=FAST,
        check_interval=0.5,
        stall_timeout=3.0,
        retry_delay=0.2,
    )
    task = asyncio.create_task(_run(consumer))
    try:
        yield task
    finally:
        consumer.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 20)


async def eventually(
    check: Callable[[], bool],
    what: str,
    timeout: float = 20.0,
    alive: Callable[[], None] = lambda: None,
    diagnostics: Callable[[], str] = str,
) -> None:
    """Poll `check` until it holds; `alive` raises if something that must keep running died."""
    deadline = time.monotonic() + timeout
    while True:
        alive()
        if await asyncio.to_thread(check):
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}\n{diagnostics()}"
            )
        await asyncio.sleep(0.1)


async def all_applied(
    read_model: ReadModel,
    stack: Stack,
    what: str,
    alive: Callable[[], None],
    timeout: float = 20.0,
) -> dict[int, Stored]:
    """Wait until the consumer applied every public event in the store; returns them."""
    try:
        await eventually(
            lambda: read_model.notification_ids() == sorted(to_publish(stack.database)),
            what,
            timeout=timeout,
            alive=alive,
            diagnostics=lambda: f"{read_model.progress(stack.database)}\n{stack.output()}",
        )
    except AssertionError as failure:
        missing = set(to_publish(stack.database)) - set(read_model.notification_ids())
        if not missing:
            raise
        where = await locate(stack.bootstrap, missing)
        stored = to_publish(stack.database)
        raise AssertionError(
            f"{failure}\nthe missing events: {[stored[n] for n in sorted(missing)]}"
            f"\nwhere they are on {BOOKING_TOPIC}: {where}"
            f"\nthe consumer's positions: {read_model.positions()}"
            f"\nthe relay's state: {relay_state(stack.database)}"
        ) from None
    return to_publish(stack.database)


async def locate(bootstrap: str, notification_ids: set[int], seconds: float = 3.0) -> str:
    """Where these events sit on the topic (and what precedes them), for a failure."""
    try:
        messages = await read_topic(bootstrap, set(), timeout=seconds, linger=seconds)
    except Exception as exc:
        return f"(could not read the topic: {exc!r})"
    found = [
        (m.envelope.notification_id, m.envelope.type, m.partition, m.offset, m.previous)
        for m in messages
        if m.envelope.notification_id in notification_ids
    ]
    context = describe_partitions(messages)
    absent = sorted(notification_ids - {f[0] for f in found})
    return (
        f"{len(messages)} messages read; (id, type, partition, offset, previous) of the"
        f" missing: {sorted(found)}; not on the topic: {absent}\n{context}"
    )


async def relay_resets(relay: ServiceProcess) -> float:
    """kairos_relay_resets_total of the relay process, from its /metrics."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{relay.url}/metrics")).text
    for line in text.splitlines():
        if line.startswith(f'kairos_relay_resets_total{{relay="{RELAY_NAME}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def eventually_async(
    probe: Callable[[], Awaitable[T]],
    holds: Callable[[T], bool],
    what: str,
    timeout: float = 20.0,
    alive: Callable[[], None] = lambda: None,
    diagnostics: Callable[[], str] = str,
) -> T:
    """Await `probe()` until `holds` its result; returns that result."""
    deadline = time.monotonic() + timeout
    while True:
        alive()
        value = await probe()
        if holds(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what} (last: {value!r})"
                f"\n{diagnostics()}"
            )
        await asyncio.sleep(0.1)


def still_running_processes(*processes: ServiceProcess) -> Callable[[], None]:
    def check() -> None:
        for p in processes:
            assert p.alive, f"{p.name} died:\n{p.output(40)}"

    return check


def still_running(task: asyncio.Task[None], *processes: ServiceProcess) -> Callable[[], None]:
    def check() -> None:
        if task.done():
            task.result()  # raises the consumer's error (e.g. HandlerFailed on a duplicate)
            raise AssertionError("the consumer stopped")
        for p in processes:
            assert p.alive, f"{p.name} died:\n{p.output(40)}"

    return check


# --- the tests -------------------------------------------------------------------------


async def test_a_booking_over_http_reaches_the_topic_as_documented_integration_events(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    started = datetime.now(UTC)
    relay = stack.relay().start()
    [offer, other] = await create_catalog(http, specialists=2)
    base = first_day()
    bookings: list[Booked] = []
    for n in range(3):
        offer_n = offer if n < 2 else other
        bookings.append(await book(http, offer_n, base + n * DURATION, n))
    cancelled = bookings[0]
    response = await http.post(
        f"/v1/bookings/{cancelled.id}/cancel",
        headers={"Authorization": f"Bearer {cancelled.manage_token}"},
        json={"reason": "changed my mind"},
    )
    assert response.status_code == 200, response.text
    cancel = response.json()
    moved = bookings[2]
    moved_to = base + 5 * DURATION
    response = await http.post(
        f"/v1/bookings/{moved.id}/reschedule",
        headers={"Authorization": f"Bearer {moved.manage_token}"},
        json={"starts_at": moved_to.isoformat()},
    )
    assert response.status_code == 200, response.text
    assert cancel == {
        "status": "cancelled",
        "refund_eligible": True,
        "notification_id": cancel["notification_id"],
    }

    stored = to_publish(stack.database)
    # The read-your-writes hint names the cancellation's own place in the log.
    assert stored[cancel["notification_id"]].integration_type == "BookingCancelled"
    assert str(stored[cancel["notification_id"]].originator_id) == cancelled.id
    everything = stored_events(stack.database)
    assert len(stored) < len(everything), "no internal DayLedger events were stored?"
    messages = await read_topic(stack.bootstrap, set(stored), diagnostics=stack.output)
    check_topic(messages, stored, started)
    assert relay.alive
    types = Counter(
        m.envelope.type for m in {m.envelope.notification_id: m for m in messages}.values()
    )
    assert types["SpecialistRegistered"] == 2
    assert types["ScheduleSet"] == 2
    assert types["ServiceDefined"] == 2
    assert types["SlotRequested"] == types["BookingConfirmed"] == 3
    assert types["BookingCancelled"] == 1
    assert types["BookingRescheduled"] == 1

    # The catalog, as the admin API defined it.
    of_offer = [
        m.envelope
        for m in sorted(messages, key=lambda m: m.offset)
        if str(m.envelope.specialist_id) == offer.specialist_id
    ]
    registered = next(e for e in of_offer if e.type == "SpecialistRegistered")
    # Personal fields travel sealed (ARCHITECTURE.md rule 7); a consumer opens them.
    assert as_sealed(registered.data["name"]) and as_sealed(registered.data["email"])
    assert opened(stack, registered.data, "name", "email") == {
        "specialist_id": offer.specialist_id,
        "name": "Dr E2E 0",
        "email": "e2e-0@example.com",
        "timezone": "UTC",
        "specialty": "testing",
        "bio": None,
    }
    assert str(registered.aggregate_id) == offer.specialist_id
    schedule = next(e for e in of_offer if e.type == "ScheduleSet")
    assert schedule.data["timezone"] == "UTC"
    assert schedule.data["weekly"] == [
        {"day": d, "start": "00:00", "end": "24:00"} for d in range(7)
    ]
    service = next(e for e in of_offer if e.type == "ServiceDefined")
    assert service.data["service_id"] == offer.service_id == str(service.aggregate_id)
    assert service.data["specialist_id"] == offer.specialist_id
    assert service.data["duration_minutes"] == 30
    assert service.data["cancellation_hours"] == 24
    assert service.data["requires_approval"] is False
    assert [e.type for e in of_offer][:3] == [
        "SpecialistRegistered",
        "ScheduleSet",
        "ServiceDefined",
    ]

    # Each booking: SlotRequested then BookingConfirmed, on its specialist's partition.
    check_each_booking_confirmed(messages, bookings)
    requested = next(
        m.envelope for m in messages if m.envelope.data.get("booking_id") == bookings[1].id
    )
    assert opened(stack, requested.data["client"], "name", "email") == {
        "name": "Client 1",
        "email": "client-1@example.com",
        "timezone": "Europe/Berlin",
        "phone": None,
    }
    assert as_sealed(requested.data["notes"])
    assert reveal(stack.database, requested.data["notes"]) == "booking #1"
    assert _instant(requested.data["ends_at"]) - _instant(requested.data["starts_at"]) == DURATION

    # Cancel → BookingCancelled, after the confirmation.
    of_cancelled = [m.envelope for m in booking_events(messages)[cancelled.id]]
    assert [e.type for e in of_cancelled] == [
        "SlotRequested",
        "BookingConfirmed",
        "BookingCancelled",
    ]
    assert of_cancelled[1].notification_id < of_cancelled[2].notification_id
    assert {k: v for k, v in of_cancelled[2].data.items() if k != "booking"} == {
        "booking_id": cancelled.id,
        "reason": "changed my mind",
        "refund_eligible": True,
        "cancelled_by": "client",
    }
    assert [m.envelope.type for m in booking_events(messages)[bookings[1].id]] == [
        "SlotRequested",
        "BookingConfirmed",
    ]
    assert [m.envelope.type for m in booking_events(messages)[moved.id]] == [
        "SlotRequested",
        "BookingConfirmed",
        "BookingRescheduled",
    ]

    # A consumer acts on a confirmation, a move or a cancellation from its envelope alone:
    # who to tell, when, and about what (issue 8, events a consumer can act on alone).
    acted = {
        (m.envelope.type, str(m.envelope.aggregate_id)): act_on(m.envelope, stack.database)
        for m in messages
        if m.envelope.type in ("BookingConfirmed", "BookingRescheduled", "BookingCancelled")
    }
    first = Act(
        "confirmed",
        "client-0@example.com",
        "Europe/Berlin",
        "Dr E2E 0",
        "e2e-0@example.com",
        "Consultation 0",
        _instant(cancelled.starts_at),
        DURATION,
    )
    assert acted[("BookingConfirmed", cancelled.id)] == first
    assert acted[("BookingCancelled", cancelled.id)] == dataclasses.replace(
        first, status="cancelled"
    )
    assert acted[("BookingRescheduled", moved.id)] == Act(
        "confirmed",
        "client-2@example.com",
        "Europe/Berlin",
        "Dr E2E 1",
        "e2e-1@example.com",
        "Consultation 1",
        moved_to,
        DURATION,
    )


async def test_a_relay_killed_mid_stream_loses_nothing_and_the_consumer_applies_each_event_once(
    stack: Stack, http: httpx.AsyncClient, fresh_database: Callable[[], str]
) -> None:
    started = datetime.now(UTC)
    read_model = ReadModel(fresh_database())
    relay = stack.relay().start()
    offers = await create_catalog(http, specialists=4)
    base = first_day()
    bookings: list[Booked] = []
    total = 200
    group_id = f"e2e-{uuid.uuid4().hex[:12]}"
    async with running_consumer(stack.bootstrap, read_model, group_id) as consumer:
        writer = asyncio.create_task(book_many(http, offers, range(total), base, bookings))
        catalog_top = 3 * len(offers)
        await eventually(
            lambda: relay_position(stack.database) >= catalog_top + 40,
            "the relay to publish some bookings",
            alive=still_running(consumer, relay, stack.api),
            diagnostics=stack.output,
        )
        await asyncio.to_thread(relay.kill)
        made_at_kill = len(bookings)
        assert not writer.done(), "the bookings were all written before the relay was killed"
        killed_state = relay_state(stack.database)
        killed_at = killed_state[0]

        # Bookings keep coming while no relay runs; then a new one takes over mid-stream.
        await eventually(
            lambda: len(bookings) >= made_at_kill + 20 or writer.done(),
            "more bookings while the relay is down",
        )
        assert relay_position(stack.database) == killed_at, "a dead relay made progress"
        assert store_top(stack.database) > killed_at, "nothing was left for the new relay"
        relay = stack.relay()
        await asyncio.to_thread(relay.start)
        await writer
        assert len(bookings) == total
        await eventually(
            lambda: relay_position(stack.database) == store_top(stack.database),
            "the second relay to catch up",
            alive=still_running(consumer, relay, stack.api),
            diagnostics=stack.output,
        )

        # The unlucky crash: after the broker acked everything the second relay sent, but
        # before it recorded any of it (its recorded state rewound to where it started).
        # The third relay republishes all of that; the consumer must skip every copy.
        await asyncio.to_thread(relay.kill)
        top_at_second_kill = store_top(stack.database)
        restore_relay_state(stack.database, killed_state)
        await book_many(http, offers, range(total, total + 10), base, bookings)
        relay = stack.relay()
        await asyncio.to_thread(relay.start)

        stored = await all_applied(
            read_model,
            stack,
            "the consumer to apply every event",
            alive=still_running(consumer, relay, stack.api),
            timeout=30,
        )
        await eventually(
            lambda: relay_position(stack.database) == store_top(stack.database),
            "the third relay to catch up",
            alive=still_running(consumer, relay, stack.api),
            diagnostics=stack.output,
        )
        assert not consumer.done()

    read_model.check(stored, bookings)
    messages = await read_topic(stack.bootstrap, set(stored), diagnostics=stack.output)
    check_topic(messages, stored, started)
    check_each_booking_confirmed(messages, bookings)
    republished = len(messages) - len(stored)
    expected_copies = len([n for n in stored if killed_at < n <= top_at_second_kill])
    assert republished >= expected_copies > 0
    # The consumer saw those copies and skipped them (rather than never reading them).
    assert consumed(group_id, "redelivered") >= expected_copies
    assert consumed(group_id, "applied") == len(stored)
    print(
        f"relay killed at position {killed_at} after {made_at_kill} of {total} bookings;"
        f" {len(stored)} public events, {republished} republished copies on the topic"
    )


async def test_an_event_committed_after_a_later_one_still_reaches_the_topic(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    """Rule 1 under concurrency. Booking A's save takes its notification ids, then waits
    (here: on a row lock that a transaction of this test holds on A's day ledger); booking
    B, of another specialist, commits meanwhile with higher ids, and the relay publishes
    it. When A commits, its events lie below the relay's position: a relay that went past
    them never publishes them. (The eventsourcing recorder prevents this by locking the
    events table for each insert, so ids are handed out in commit order.)"""
    started = datetime.now(UTC)
    relay = stack.relay().start()
    [first, second] = await create_catalog(http, specialists=2)
    day = first_day()
    blocker = await asyncio.to_thread(psycopg.connect, stack.database)
    try:
        # The first ledger version of each date A's claim can touch: A's insert waits on it.
        for d in (-1, 0, 1):
            ledger_id = DayLedger.create_id(
                UUID(first.specialist_id), (day + timedelta(days=d)).date().isoformat()
            )
            blocker.execute(
                f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state)"
                " VALUES (%s, 1, 'e2e:blocker', '')",
                (ledger_id,),
            )
        a = asyncio.create_task(book(http, first, day + timedelta(hours=10), 0))
        await eventually(
            lambda: waiting_for_locks(stack.database) >= 1 or a.done(),
            "booking A to wait for the ledger row",
        )
        assert not a.done(), f"booking A was not held up: {a.result()}"
        b = asyncio.create_task(book(http, second, day + timedelta(hours=10), 1))
        await eventually(
            lambda: b.done() or waiting_for_locks(stack.database) >= 2,
            "booking B to commit or to wait too",
        )
        if b.done():  # B committed while A waits: let the relay publish it first.
            await eventually(
                lambda: relay_position(stack.database) == store_top(stack.database),
                "the relay to publish booking B",
                alive=still_running_processes(relay, stack.api),
                diagnostics=stack.output,
            )
    finally:
        await asyncio.to_thread(blocker.rollback)
        await asyncio.to_thread(blocker.close)
    bookings = [await a, await b]

    await eventually(
        lambda: relay_position(stack.database) == store_top(stack.database),
        "the relay to reach the end of the log",
        alive=still_running_processes(relay, stack.api),
        diagnostics=stack.output,
    )
    stored = to_publish(stack.database)
    try:
        messages = await read_topic(stack.bootstrap, set(stored), timeout=5)
    except AssertionError:
        messages = await read_topic(stack.bootstrap, set(), timeout=3, linger=3)
        missing = sorted(set(stored) - {m.envelope.notification_id for m in messages})
        raise AssertionError(
            f"the relay recorded position {relay_position(stack.database)}, the end of the"
            f" log, but {len(missing)} of {len(stored)} public events never reached"
            f" {BOOKING_TOPIC}: {[stored[n] for n in missing]} (booking A: {bookings[0].id},"
            f" booking B: {bookings[1].id})"
        ) from None
    check_topic(messages, stored, started)
    check_each_booking_confirmed(messages, bookings)


async def test_a_broker_restart_while_bookings_flow_loses_nothing_and_applies_each_event_once(
    stack: Stack,
    http: httpx.AsyncClient,
    own_kafka: KafkaHandle,
    fresh_database: Callable[[], str],
) -> None:
    started = datetime.now(UTC)
    read_model = ReadModel(fresh_database())
    relay = stack.relay().start()
    offers = await create_catalog(http, specialists=4)
    base = first_day()
    bookings: list[Booked] = []
    async with running_consumer(stack.bootstrap, read_model) as consumer:
        alive = still_running(consumer, relay, stack.api)
        await book_many(http, offers, range(0, 30), base, bookings)
        await all_applied(read_model, stack, "the first events", alive)

        # The broker restarts empty while bookings are being made and relayed.
        writer = asyncio.create_task(book_many(http, offers, range(30, 90), base, bookings))
        await eventually(lambda: len(bookings) >= 40, "bookings during the restart")
        assert not writer.done(), "the bookings were all written before the broker restarted"
        await asyncio.to_thread(own_kafka.restart)
        await writer
        await book_many(http, offers, range(90, 110), base, bookings)
        stored = await all_applied(
            read_model, stack, "every event after the broker restart", alive, 40
        )
        alive()

    read_model.check(stored, bookings)
    # Rule 1: the relay republished what the broker lost, so a consumer that starts now,
    # from the beginning of the topic, gets every event too.
    messages = await read_topic(stack.bootstrap, set(stored), diagnostics=stack.output)
    check_topic(messages, stored, started, gaps=True)
    check_each_booking_confirmed(messages, bookings)
    assert await relay_resets(relay) >= 1


async def test_a_quiet_broker_restart_is_noticed_and_republished_without_new_events(
    stack: Stack,
    http: httpx.AsyncClient,
    own_kafka: KafkaHandle,
    fresh_database: Callable[[], str],
) -> None:
    """Nothing is being written when the broker restarts: only the relay's periodic check
    can notice, and it must republish the whole log on its own."""
    started = datetime.now(UTC)
    read_model = ReadModel(fresh_database())
    relay = stack.relay().start()
    offers = await create_catalog(http, specialists=3)
    base = first_day()
    bookings: list[Booked] = []
    async with running_consumer(stack.bootstrap, read_model) as consumer:
        alive = still_running(consumer, relay, stack.api)
        await book_many(http, offers, range(0, 20), base, bookings)
        await all_applied(read_model, stack, "the first events", alive)
        resets = await relay_resets(relay)

        await asyncio.to_thread(own_kafka.restart)
        await eventually_async(
            lambda: relay_resets(relay),
            lambda n: n > resets,
            "the relay to notice the empty broker",
            alive=alive,
            diagnostics=stack.output,
        )
        stored = to_publish(stack.database)
        messages = await read_topic(stack.bootstrap, set(stored), diagnostics=stack.output)
        check_topic(messages, stored, started, gaps=True)

        await book_many(http, offers, range(20, 30), base, bookings)
        stored = await all_applied(
            read_model, stack, "every event after a quiet broker restart", alive, 40
        )
        alive()

    read_model.check(stored, bookings)
    messages = await read_topic(stack.bootstrap, set(stored), diagnostics=stack.output)
    check_topic(messages, stored, started, gaps=True)
    check_each_booking_confirmed(messages, bookings)


async def test_a_consumer_outlives_a_broker_outage_and_applies_each_event_once(
    stack: Stack,
    http: httpx.AsyncClient,
    own_kafka: KafkaHandle,
    fresh_database: Callable[[], str],
) -> None:
    """The broker is down for a while (not just bounced): the consumer keeps trying to
    rebuild its Kafka client until it is back, then catches up."""
    started = datetime.now(UTC)
    read_model = ReadModel(fresh_database())
    relay = stack.relay().start()
    offers = await create_catalog(http, specialists=2)
    base = first_day()
    bookings: list[Booked] = []
    group_id = f"e2e-{uuid.uuid4().hex[:12]}"
    assert own_kafka.broker is not None
    async with running_consumer(stack.bootstrap, read_model, group_id) as consumer:
        alive = still_running(consumer, relay, stack.api)
        await book_many(http, offers, range(0, 10), base, bookings)
        await all_applied(read_model, stack, "the first events", alive)

        before = consumer_recoveries(group_id)
        await asyncio.to_thread(own_kafka.broker.stop)
        try:
            await book_many(http, offers, range(10, 20), base, bookings)
            # Long enough for the consumer to notice and try to rebuild its client twice.
            await eventually(
                lambda: consumer_recoveries(group_id) >= before + 2,
                "the consumer to notice the outage",
                alive=alive,
                diagnostics=stack.output,
            )
        finally:
            await asyncio.to_thread(own_kafka.broker.start)
        await book_many(http, offers, range(20, 30), base, bookings)
        stored = await all_applied(read_model, stack, "every event after the outage", alive, 40)
        alive()

    read_model.check(stored, bookings)
    messages = await read_topic(stack.bootstrap, set(stored), diagnostics=stack.output)
    check_topic(messages, stored, started, gaps=True)
    check_each_booking_confirmed(messages, bookings)
