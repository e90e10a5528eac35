"""Replaying the availability read model from the booking event store.

`kairos replay availability` (`availability.replay.replay_availability`) folds the booking
log in memory, COPYs it into fresh tables, catches up, swaps them in and hands the
live consumer's positions over (availability/rebuild.py). Checked here, on real
PostgreSQL (and a real broker where a consumer runs):

- after 10,000 bookings and their cancellations, reschedules, approvals and declines,
  the rebuilt tables hold exactly the live rows and answer every query identically;
- the slots API answers throughout a replay, and the swap resets its cache;
- the positions are handed over: a consumer skips everything the replay applied;
- a projector whose apply fails in the middle of a batch retries it, restarts, re-reads,
  and ends with the tables a clean rebuild makes, having applied every event exactly once;
- an event the projector applies while a replay swaps is not lost, even on a partition
  the projector had no position on yet.

"Live" is the read model `world.sync()` keeps, exactly as the projector does.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY as METRICS
from psycopg import sql

from availability.main import create_app as create_availability
from availability.projector import CONSUMER, PRODUCER, apply, projector
from availability.rebuild import rebuild
from availability.replay import replay_availability
from availability.tables import CHANGED_CHANNEL, TABLES
from booking.application import Bookings
from booking.integration import IntegrationMapper, booking_log
from kairos.events import REGISTRY, Envelope
from kairos.eventstore import open_application
from kairos.messaging import (
    TOPIC_PARTITIONS,
    OutboxRelay,
    applied_position,
    create_positions_table,
    ensure_topics,
    make_producer,
    record,
    specialist_partition,
)
from kairos.messaging.kafka import close_quietly
from kairos.messaging.notification_log import LoggedEvent, NotificationLog, republish
from kairos.settings import TopicSettings
from kairos.slots import Interval, ServiceRules, WorkingHours, offered_slots
from kairos.timezones import local_date
from kairos_dev.infra import KafkaHandle
from tests.availability.conftest import World, availability_settings
from tests.booking.helpers import service_terms

pytestmark = pytest.mark.integration

ZONES = ["America/New_York", "Europe/London", "Asia/Kathmandu", "Australia/Sydney", "UTC"]
CLIENT = {"name": "Ada Lovelace", "email": "ada@example.org", "timezone": "Europe/London"}
HOUR = timedelta(hours=1)
# Bookings spread over 120 days, so that 10,000 of them leave most slots free; the slots
# compared: every service's 124 days from the clock's date, in ranges of 62 days (the
# API's longest).
HORIZON_DAYS = 120
FIRST, LAST = date(2026, 3, 2), date(2026, 5, 2)
RANGES = [(FIRST, LAST), (LAST + timedelta(days=1), LAST + timedelta(days=62))]
# Each service: (duration, slot interval, buffer before, buffer after, max per day, approval).
SERVICES = [
    (30, None, 0, 5, None, False),
    (45, 15, 10, 0, 6, False),
    (60, None, 5, 10, None, True),
]
WINDOWS = [[7 * 60, 12 * 60], [13 * 60, 21 * 60]]  # local working hours, most days


# --- a booking history, made through the Bookings application -------------------------


@dataclass(frozen=True)
class Held:
    """An active booking as the builder keeps it, to plan further ones around it."""

    specialist_id: UUID
    service_id: UUID
    start: datetime
    busy: Interval

    @property
    def day(self) -> tuple[UUID, date]:
        """Its key in Dataset's by-day index: the specialist and the UTC date it starts."""
        return self.specialist_id, self.start.astimezone(UTC).date()


@dataclass
class Dataset:
    """A booking history made straight through the `Bookings` application. The builder
    plans each start with the slot rules (`offered_slots`) against its own record of the
    active bookings, so nearly every request is accepted: building stays fast."""

    app: Bookings
    now: datetime
    rng: random.Random
    specialists: list[UUID] = field(default_factory=list)
    services: dict[UUID, UUID] = field(default_factory=dict)  # service → specialist
    status: dict[UUID, str] = field(default_factory=dict)  # booking → status, as last set
    held: dict[UUID, Held] = field(default_factory=dict)  # active booking → its time
    _hours: dict[UUID, WorkingHours] = field(default_factory=dict)
    _rules: dict[UUID, ServiceRules] = field(default_factory=dict)
    # The same bookings by specialist and the UTC date of their start.
    _by_day: dict[tuple[UUID, date], dict[UUID, Held]] = field(default_factory=dict)

    def offered_start(self, service_id: UUID, moving: UUID | None = None) -> datetime | None:
        """A start the slot rules offer on a random day within the horizon (trying a few
        days), with the booking `moving` released first: freed time can move the grid."""
        specialist_id = self.services[service_id]
        if specialist_id not in self._hours:
            self._hours[specialist_id] = self.app.specialist(specialist_id).working_hours()
        if service_id not in self._rules:
            self._rules[service_id] = self.app.service(service_id).rules()
        hours, rules = self._hours[specialist_id], self._rules[service_id]
        for _ in range(20):
            day = self.now.date() + timedelta(days=self.rng.randint(1, HORIZON_DAYS - 2))
            # Only bookings starting within a day of it can touch a local day's slots (no
            # zone is a day away from UTC, no buffer is hours long): with 10,000 bookings,
            # weighing every one of a specialist's for each request was most of the build.
            held = [
                h
                for near in (day - timedelta(days=1), day, day + timedelta(days=1))
                for b, h in self._by_day.get((specialist_id, near), {}).items()
                if b != moving
            ]
            per_day = Counter(
                local_date(h.start, hours.timezone) for h in held if h.service_id == service_id
            )
            busy = [h.busy for h in held]
            slots = offered_slots(hours, rules, busy, per_day, day, day, self.now)
            if slots:
                return self.rng.choice(slots).start
        return None

    def hold(self, booking: Any) -> None:
        self.release(booking.id, booking.status)  # a reschedule moves it to another day
        held = Held(
            booking.specialist_id,
            booking.service_id,
            booking.starts_at,
            Interval(booking.busy_from, booking.busy_until),
        )
        self.held[booking.id] = held
        self._by_day.setdefault(held.day, {})[booking.id] = held

    def release(self, booking_id: UUID, status: str) -> None:
        self.status[booking_id] = status
        gone = self.held.pop(booking_id, None)
        if gone is not None:
            del self._by_day[gone.day][booking_id]

    def changed(self, specialist_id: UUID | None = None, service_id: UUID | None = None) -> None:
        """Forget what the builder read of a specialist or service that changed."""
        self._hours.pop(specialist_id, None)  # type: ignore[arg-type]
        self._rules.pop(service_id, None)  # type: ignore[arg-type]

    def active(self, *statuses: str) -> list[UUID]:
        return sorted(b for b, s in self.status.items() if s in statuses)


def catalog(world: World, specialists: int, seed: int = 7) -> Dataset:
    """Specialists in several zones (each with a day off), three services each, and
    overrides: a blocked day, a day of other hours, and one set then cleared."""
    data = Dataset(world.booking.app.state.booking.app, world.clock(), random.Random(seed))
    app = data.app
    for n in range(specialists):
        tz = ZONES[n % len(ZONES)]
        specialist_id = app.register_specialist(
            f"Dr {n}", f"dr{n}-{uuid4().hex[:6]}@example.org", tz
        )
        weekly = {d: WINDOWS for d in range(7) if d != n % 7}
        app.set_schedule(specialist_id, None, weekly)
        data.specialists.append(specialist_id)
        for k, (duration, interval, before, after, per_day, approval) in enumerate(SERVICES):
            terms = service_terms(
                name=f"Service {k}",
                duration_minutes=duration,
                slot_interval_minutes=interval,
                buffer_before_minutes=before,
                buffer_after_minutes=after,
                minimum_notice_minutes=60,
                max_advance_days=HORIZON_DAYS,
                max_per_day=per_day,
                requires_approval=approval,
            )
            service = app.define_service(specialist_id, terms)
            data.services[service.id] = specialist_id
        today = data.now.date()
        app.set_override(specialist_id, today + timedelta(days=3 + n % 5), [])
        app.set_override(specialist_id, today + timedelta(days=10 + n % 7), [[10 * 60, 14 * 60]])
        app.set_override(specialist_id, today + timedelta(days=20), [])
        app.clear_override(specialist_id, today + timedelta(days=20))
    return data


def book(data: Dataset, count: int) -> None:
    """`count` bookings of random services at offered starts on random days."""
    services = sorted(data.services)
    made = 0
    while made < count:
        service_id = data.rng.choice(services)
        start = data.offered_start(service_id)
        if start is None:
            continue
        placed = data.app.request_booking(service_id, start, CLIENT, {}, None, data.now)
        data.hold(placed.booking)
        made += 1


def churn(data: Dataset) -> None:
    """Cancel ~30% of the bookings, reschedule some, approve or decline pending ones,
    complete a few and mark no-shows; change some services and schedules."""
    app, rng, now = data.app, data.rng, data.now
    bookings = sorted(data.status)
    for booking_id in rng.sample(bookings, int(len(bookings) * 0.3)):
        if data.status[booking_id] in ("confirmed", "pending"):
            app.cancel(booking_id, "plans changed", "client", now)
            data.release(booking_id, "cancelled")
    for booking_id in rng.sample(data.active("confirmed", "pending"), len(bookings) // 20):
        booking = app.booking(booking_id)
        start = data.offered_start(booking.service_id, moving=booking_id)
        if start is not None:
            data.hold(app.reschedule(booking_id, start, now))
    pending = data.active("pending")
    for booking_id in pending[: len(pending) // 3]:
        app.decline(booking_id, "not a fit", now)
        data.release(booking_id, "declined")
    for booking_id in pending[len(pending) // 3 : 2 * len(pending) // 3]:
        data.hold(app.approve(booking_id, now))
    confirmed = data.active("confirmed")
    # Both need the consultation under way: they happen an hour after its start.
    for booking_id in confirmed[: len(confirmed) // 30]:
        data.hold(app.complete(booking_id, app.booking(booking_id).starts_at + HOUR))
    for booking_id in confirmed[len(confirmed) // 30 : len(confirmed) // 20]:
        data.hold(app.mark_no_show(booking_id, "client", app.booking(booking_id).starts_at + HOUR))
    for service_id in sorted(data.services)[::4]:
        app.update_service(service_id, {"buffer_after_minutes": 15, "max_per_day": 8})
        data.changed(service_id=service_id)
    for specialist_id in data.specialists[::3]:
        weekly = {d: [[8 * 60, 12 * 60], [13 * 60, 20 * 60]] for d in range(6)}
        app.set_schedule(specialist_id, None, weekly)
        app.set_override(specialist_id, now.date() + timedelta(days=4), [[9 * 60, 11 * 60]])
        data.changed(specialist_id=specialist_id)


# --- observing the read model -----------------------------------------------------------


def table_rows(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the read model's tables (all columns, last_nid included), in key order."""
    rows = {}
    with psycopg.connect(database_url) as conn:
        for table in TABLES:
            query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
                sql.SQL(", ").join(map(sql.Identifier, table.all_columns)),
                sql.Identifier(table.name),
                sql.SQL(", ").join(map(sql.Identifier, table.key)),
            )
            rows[table.name] = conn.execute(query).fetchall()
    return rows


def answers(client: TestClient, data: Dataset) -> dict[tuple[UUID, date], Any]:
    """GET /v1/slots of every service over RANGES, in the specialist's zone."""
    found = {}
    for service_id in sorted(data.services):
        for first, last in RANGES:
            response = client.get(
                "/v1/slots", params={"service_id": str(service_id), "from": first, "to": last}
            )
            assert response.status_code == 200, response.text
            found[service_id, first] = response.json()
    return found


@contextlib.contextmanager
def fresh_slots_api(world: World, redis_url: str) -> Iterator[TestClient]:
    """A slots API process of its own on the world's database: its cache starts empty."""
    app = create_availability(
        availability_settings(world.database_url, redis_url), clock=world.clock
    )
    with TestClient(app) as client:
        yield client


def positions(database_url: str) -> dict[int, int]:
    with psycopg.connect(database_url) as conn:
        return {
            p: applied_position(conn, CONSUMER, PRODUCER, p)
            for p in range(TOPIC_PARTITIONS)
            if applied_position(conn, CONSUMER, PRODUCER, p)
        }


def published_tops(log: NotificationLog) -> dict[int, int]:
    """The highest notification id of a published event on each partition."""
    tops: dict[int, int] = {}
    for page in log.pages():
        for event in page:
            partition = specialist_partition(event.specialist_id)
            tops[partition] = max(tops.get(partition, 0), event.notification_id)
    return tops


def replay(world: World, page_size: int = 5000) -> str:
    out = io.StringIO()
    code = replay_availability(
        world.database_url,
        world.database_url,
        page_size=page_size,
        topics=TopicSettings(kafka_partitions=TOPIC_PARTITIONS),
        out=out,
    )
    assert code == 0
    return out.getvalue()


# --- the tests ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_replay_after_ten_thousand_bookings_rebuilds_the_live_rows_and_answers(
    world: World, redis_url: str
) -> None:
    started = time.perf_counter()
    data = catalog(world, specialists=20)
    book(data, 10_000)
    churn(data)
    print(f"built in {time.perf_counter() - started:.1f} s")
    world.sync()
    print(f"synced in {time.perf_counter() - started:.1f} s")
    counts = Counter(data.status.values())
    assert counts["cancelled"] >= 2900 and counts["declined"] and counts["pending"], counts
    live_rows = table_rows(world.database_url)
    live_answers = answers(world.slots_api, data)
    assert sum(len(a["slots"]) for a in live_answers.values()) > 10_000
    assert len(live_rows["availability_busy"]) == 10_000

    report = replay(world)

    assert "rebuilt availability from" in report and "swapped in" in report, report
    assert table_rows(world.database_url) == live_rows
    with fresh_slots_api(world, redis_url) as rebuilt:
        assert answers(rebuilt, data) == live_answers
    with booking_log(world.database_url) as log:
        assert positions(world.database_url) == published_tops(log)


def test_the_slots_api_answers_throughout_a_replay_and_the_swap_resets_its_cache(
    world: World, redis_url: str
) -> None:
    data = catalog(world, specialists=6)
    book(data, 600)
    world.sync()
    services = sorted(data.services)
    # A change the live read model never hears of: booked after the last sync.
    service_id = services[0]
    offered = world.slots(str(service_id), FIRST, LAST).json()["slots"]
    taken = offered[len(offered) // 2]["start"]
    placed = data.app.request_booking(
        service_id, datetime.fromisoformat(taken.replace("Z", "+00:00")), CLIENT, {}, None, data.now
    )
    assert placed.position is not None
    still = [s["start"] for s in world.slots(str(service_id), FIRST, LAST).json()["slots"]]
    assert taken in still, "the cached, unsynced read model should still offer the slot"

    statuses: list[tuple[float, float, int]] = []
    stop = threading.Event()

    watched = data.services[service_id]
    others = [s for s in data.specialists if s != watched]

    def ask() -> None:
        # Queries of every service; now and then another specialist's entry is dropped,
        # as a projector's NOTIFY would, so that queries load from the tables mid-replay
        # too (never the watched one's: only the swap's reset may drop that).
        with psycopg.connect(world.database_url, autocommit=True) as conn:
            n = 0
            while not stop.is_set():
                if n % 3 == 0:
                    conn.execute(
                        "SELECT pg_notify(%s, %s)",
                        (CHANGED_CHANNEL, f"{others[n % len(others)]} 1"),
                    )
                started = time.monotonic()
                response = world.slots(
                    str(services[n % len(services)]), FIRST, FIRST + timedelta(days=13)
                )
                statuses.append((started, time.monotonic(), response.status_code))
                n += 1

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    try:
        time.sleep(0.2)
        began = time.monotonic()
        replay(world, page_size=200)
        ended = time.monotonic()
        # The swap's NOTIFY resets the cache (entries and positions): the booking shows
        # without another sync, and min_position (the booking's notification id) is met.
        body = world.slots(str(service_id), FIRST, LAST, min_position=placed.position).json()
        now_offered = [s["start"] for s in body["slots"]]
        time.sleep(0.2)
    finally:
        stop.set()
        asker.join(10)
    assert taken not in now_offered, "the swap did not reset the slots API's cache"
    during = [s for started, finished, s in statuses if started < ended and finished > began]
    print(f"{len(during)} of {len(statuses)} queries overlapped the replay ({ended - began:.2f} s)")
    assert len(during) >= 5, f"only {len(during)} queries overlapped the replay"
    assert Counter(s for _, _, s in statuses) == {200: len(statuses)}
    # After the reset the cached answers are the rebuilt tables' answers.
    with fresh_slots_api(world, redis_url) as rebuilt:
        assert answers(world.slots_api, data) == answers(rebuilt, data)


def test_the_slots_api_hears_every_change_after_a_replay_swapped_its_tables(world: World) -> None:
    """The swap's reset is a notice like the others: after it, the query process still
    hears the projection's changes and drops what it had cached."""
    data = catalog(world, specialists=2)
    book(data, 20)
    world.sync()
    replay(world, page_size=200)
    service_id = sorted(data.services)[0]
    cached = world.slots(str(service_id), FIRST, LAST).json()["slots"]
    taken = cached[len(cached) // 2]["start"]

    placed = data.app.request_booking(
        service_id, datetime.fromisoformat(taken.replace("Z", "+00:00")), CLIENT, {}, None, data.now
    )
    world.sync()

    answer = world.slots(str(service_id), FIRST, LAST, min_position=placed.position)
    assert taken not in [s["start"] for s in answer.json()["slots"]]


# --- consumers after a replay, and after a crash -------------------------------------------


@contextlib.asynccontextmanager
async def notices(database_url: str) -> AsyncIterator[list[int]]:
    """The notification ids the projection NOTIFYs while the block runs: one notice per
    event applied (and committed); a rolled-back apply sends none."""
    heard: list[int] = []
    listening = asyncio.Event()

    async def listen() -> None:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANGED_CHANNEL)))
            listening.set()
            async for notice in conn.notifies():
                heard.append(int(notice.payload.split(" ")[1]))

    task = asyncio.create_task(listen())
    await asyncio.wait_for(listening.wait(), 10)
    try:
        yield heard
        await asyncio.sleep(0.3)  # notices of the last commits are on their way
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.05)


async def run_until(consumer: Any, done: Callable[[], bool], what: str) -> None:
    """Run a projector until `done()`, then stop it and wait for it to leave."""
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: done() or task.done(), what)
        if task.done():
            task.result()  # raises what the consumer raised
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 30)


async def republish_log(
    bootstrap: str, log: NotificationLog, topic: str, after: int, until: int
) -> int:
    await ensure_topics(bootstrap, [topic], partitions=TOPIC_PARTITIONS)
    producer = make_producer(bootstrap, client_id="test-republish")
    await producer.start()
    try:
        return await republish(log, producer, topic, after, until)
    finally:
        await close_quietly(producer.stop())


def parked(consumer: str) -> float:
    """Events `consumer` has parked because its handler kept failing."""
    labels = {"consumer": consumer, "reason": "handler-failed"}
    return METRICS.get_sample_value("kairos_consumer_dead_lettered_total", labels) or 0.0


def projector_settings(database_url: str, redis_url: str, kafka: KafkaHandle) -> Any:
    """The projector's settings, on the session broker, with short group timeouts."""
    return availability_settings(database_url, redis_url).model_copy(
        update={
            "kafka_bootstrap_servers": kafka.bootstrap,
            "kafka_session_timeout_ms": 3000,
            "kafka_heartbeat_interval_ms": 300,
            "kafka_rebalance_timeout_ms": 1000,
        }
    )


def published_ids(log: NotificationLog, after: int = 0) -> list[int]:
    return [event.notification_id for page in log.pages(after) for event in page]


async def test_a_replay_hands_its_positions_over_so_the_projector_skips_what_it_applied(
    world: World, kafka: KafkaHandle, redis_url: str
) -> None:
    data = catalog(world, specialists=6)
    book(data, 200)
    world.sync()
    synced = positions(world.database_url)
    # More history that only the replay will see.
    book(data, 100)
    churn(data)

    replay(world)

    with booking_log(world.database_url) as log:
        top = log.top()
        tops = published_tops(log)
        assert positions(world.database_url) == tops
        assert any(tops[p] > synced.get(p, 0) for p in tops), "the replay applied nothing new"
        rebuilt = table_rows(world.database_url)
        # The whole log again, through Kafka to the real projector: every event is one
        # the replay applied, so the projector applies none of them.
        topic = f"test.replay.{uuid4().hex[:10]}"
        settings = projector_settings(world.database_url, redis_url, kafka)
        sent = await republish_log(kafka.bootstrap, log, topic, 0, top)
        assert sent == len(published_ids(log))
        group = f"g-{uuid4().hex[:8]}"
        async with notices(world.database_url) as heard:
            consumer = projector(settings, topic=topic, group_id=group)
            await run_until(consumer, lambda: consumer.caught_up, "the projector caught up")
        assert heard == []
        assert table_rows(world.database_url) == rebuilt
        # ... and, restarted, it applies what comes after: once.
        service_id = sorted(data.services)[0]
        start = data.offered_start(service_id)
        assert start is not None
        placed = await asyncio.to_thread(
            data.app.request_booking, service_id, start, CLIENT, {}, None, data.now
        )
        new = published_ids(log, top)
        assert placed.position in new and len(new) == 2
        await republish_log(kafka.bootstrap, log, topic, top, log.top())
        async with notices(world.database_url) as heard:
            consumer = projector(settings, topic=topic, group_id=group)
            await run_until(
                consumer,
                lambda: positions(world.database_url) == published_tops(log),
                "the projector applied the new booking",
            )
        assert sorted(heard) == new
    with psycopg.connect(world.database_url) as conn:
        row = conn.execute(
            "SELECT status, active, last_nid FROM availability_busy WHERE source_id = %s",
            (placed.booking.id,),
        ).fetchone()
    assert row == (placed.booking.status, True, placed.position)


@contextlib.asynccontextmanager
async def relaying(
    database_url: str, kafka: KafkaHandle, topic: str
) -> AsyncIterator[Callable[[], bool]]:
    """The real outbox relay publishing the booking store to `topic` (with its predecessor
    headers) while the block runs; yields a check: has it published the whole store?"""
    app = open_application(lambda env: Bookings(env=env), database_url)
    relay = OutboxRelay(
        app,
        IntegrationMapper(app),
        bootstrap=kafka.bootstrap,
        database_url=database_url,
        topic=topic,
        topic_management="dev",
        name=topic,
    )

    def relayed() -> bool:
        top = app.recorder.max_notification_id()
        with psycopg.connect(database_url) as conn:
            if conn.execute("SELECT to_regclass('relay_positions')").fetchone() == (None,):
                return False
            row = conn.execute(
                "SELECT position FROM relay_positions WHERE name = %s", (topic,)
            ).fetchone()
        return row is not None and row[0] >= top

    task = asyncio.create_task(relay.run())
    try:
        yield relayed
    finally:
        relay.stop()
        await asyncio.wait_for(task, 30)
        app.close()


CRASH_ON = 40  # the projector's apply fails on this INSERT into availability_busy

_CRASH_TRIGGER = f"""
CREATE SEQUENCE crash_counter;
CREATE FUNCTION crash_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A sequence is not transactional: the rolled-back attempt still counts.
    IF nextval('crash_counter') = {CRASH_ON} THEN
        RAISE EXCEPTION 'the projector crashed on booking %', NEW.source_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER crash BEFORE INSERT ON availability_busy
    FOR EACH ROW EXECUTE FUNCTION crash_once();
"""


async def test_a_projector_whose_apply_fails_mid_batch_retries_it_and_ends_where_a_rebuild_does(
    world: World, kafka: KafkaHandle, fresh_database: Callable[[], str], redis_url: str
) -> None:
    data = catalog(world, specialists=6)
    book(data, 300)
    churn(data)
    world.sync()
    topic = f"test.crash.{uuid4().hex[:10]}"
    async with relaying(world.database_url, kafka, topic) as relayed:
        await eventually(relayed, "the relay published the store")

    target = fresh_database()
    settings = projector_settings(target, redis_url, kafka)
    group = f"g-{uuid4().hex[:8]}"
    with booking_log(world.database_url) as log:
        expected_ids = published_ids(log)
        tops = published_tops(log)
    parked_before = parked(CONSUMER)
    async with notices(target) as heard:
        failing = projector(settings, topic=topic, group_id=group, retry_delay=0.05)
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(_CRASH_TRIGGER)
            create_positions_table(conn)  # `positions` reads it before the consumer starts
        # Everything was published before it starts: its first fetch of a partition is
        # one batch of (nearly) all that partition's events, and one apply fails inside
        # it. That apply rolls back and is tried again, not parked.
        await run_until(failing, lambda: positions(target) == tops, "it got past the failure")
        with psycopg.connect(target, autocommit=True) as conn:
            assert conn.execute("SELECT last_value FROM crash_counter").fetchone()[0] > CRASH_ON
            conn.execute("DROP TRIGGER crash ON availability_busy")
        assert parked(CONSUMER) == parked_before
        # The same group again: it resumes after the last committed offset ...
        restarted = projector(settings, topic=topic, group_id=group)
        await run_until(restarted, lambda: restarted.caught_up, "the restart caught up")
        # ... and a new group re-reads everything, as after a crash before any offset
        # commit: positions make every message a redelivery.
        rereading = projector(settings, topic=topic, group_id=f"g-{uuid4().hex[:8]}")
        await run_until(rereading, lambda: rereading.caught_up, "the re-read caught up")

    assert Counter(heard) == Counter(expected_ids), "an event was applied twice or never"
    assert positions(target) == tops
    clean = fresh_database()
    with booking_log(world.database_url) as log:
        rebuild(log, clean, consumer=CONSUMER, producer=PRODUCER)
    assert table_rows(target) == table_rows(clean)
    assert table_rows(target) == table_rows(world.database_url)


class CatchUpHook(NotificationLog):
    """The booking log, calling `hook` once a rebuild has read its catch-up pages (the
    events stored after its fold) and before it swaps: a live process acting then."""

    def __init__(self, log: NotificationLog, hook: Callable[[], None]) -> None:
        super().__init__(log._app, log._translator)
        self._hook: Callable[[], None] | None = hook

    def pages(
        self, after: int = 0, until: int | None = None, page_size: int = 5000
    ) -> Iterator[list[LoggedEvent]]:
        yield from super().pages(after, until, page_size)
        if until is None and self._hook is not None:  # the catch-up reads to the end
            hook, self._hook = self._hook, None
            hook()


def consume(database_url: str, envelopes: list[Envelope]) -> None:
    """What the live projector does with each message (EventConsumer._apply): lock the
    partition's position, skip a redelivery, else apply and record, in one transaction."""
    with psycopg.connect(database_url) as conn:
        for envelope in envelopes:
            partition = specialist_partition(envelope.specialist_id)
            with conn.transaction():
                stored = applied_position(conn, CONSUMER, PRODUCER, partition, lock=True)
                if envelope.notification_id <= stored:
                    continue
                apply(conn, envelope, REGISTRY.decode(envelope))
                record(conn, CONSUMER, envelope, partition)


def test_an_event_the_projector_applies_while_a_replay_swaps_tables_is_not_lost(
    world: World, fresh_database: Callable[[], str]
) -> None:
    """The projector has not applied anything yet (it is starting, or its partitions are
    new) when a replay runs. A booking is stored after the replay read its catch-up, and
    the projector consumes it before the replay swaps: the rebuilt tables must have it,
    or the projector must apply it to them afterwards; never neither."""
    data = catalog(world, specialists=3)
    book(data, 30)
    service_id = sorted(data.services)[0]
    consumer: list[threading.Thread] = []
    placed: list[UUID] = []
    failures: list[BaseException] = []

    def consuming(envelopes: list[Envelope]) -> None:
        try:
            consume(world.database_url, envelopes)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)

    def projector_acts() -> None:
        with booking_log(world.database_url) as log:
            after = log.top()
            start = data.offered_start(service_id)
            assert start is not None
            booking = data.app.request_booking(service_id, start, CLIENT, {}, None, data.now)
            placed.append(booking.booking.id)
            envelopes = [e for page in log.envelopes(after, log.top()) for e in page]
        assert len(envelopes) == 2 and envelopes[0].type == "SlotRequested"
        thread = threading.Thread(target=consuming, args=(envelopes,))
        thread.start()
        consumer.append(thread)
        thread.join(1.0)  # it may have to wait for the swap: that is fine

    assert positions(world.database_url) == {}, "the projector must not have started yet"
    with booking_log(world.database_url) as log:
        rebuild(
            CatchUpHook(log, projector_acts),
            world.database_url,
            consumer=CONSUMER,
            producer=PRODUCER,
        )
        consumer[0].join(10)
        assert not consumer[0].is_alive() and not failures, failures
        clean = fresh_database()
        rebuild(log, clean, consumer=CONSUMER, producer=PRODUCER)
        assert positions(world.database_url) == published_tops(log)
    with psycopg.connect(world.database_url) as conn:
        row = conn.execute(
            "SELECT 1 FROM availability_busy WHERE source_id = %s", (placed[0],)
        ).fetchone()
    assert row is not None, (
        "the booking the projector applied during the swap is missing from the rebuilt"
        " tables, and the position handed over says it was applied"
    )
    assert table_rows(world.database_url) == table_rows(clean)


async def test_a_projector_running_through_a_replay_ends_where_a_clean_rebuild_does(
    world: World, kafka: KafkaHandle, fresh_database: Callable[[], str], redis_url: str
) -> None:
    """The relay and the projector run, and bookings keep coming, while a replay folds,
    catches up and swaps under them: afterwards the projector carries on in the new
    tables from the handed-over positions, and nothing is lost or applied twice."""
    data = catalog(world, specialists=4)
    book(data, 100)
    topic = f"test.live.{uuid4().hex[:10]}"
    settings = projector_settings(world.database_url, redis_url, kafka)
    stop = threading.Event()
    made = Counter[str]()

    def keep_booking() -> None:
        while not stop.is_set():
            book(data, 1)
            made["during"] += 1
            if made["during"] % 4 == 0:
                booking_id = data.active("confirmed", "pending")[0]
                data.app.cancel(booking_id, None, "client", data.now)
                data.release(booking_id, "cancelled")

    async with relaying(world.database_url, kafka, topic) as relayed:
        consumer = projector(settings, topic=topic, group_id=f"g-{uuid4().hex[:8]}")
        running = asyncio.create_task(consumer.run())
        try:
            await eventually(lambda: consumer.caught_up and relayed(), "the projector caught up")
            booker = threading.Thread(target=keep_booking)
            booker.start()
            try:
                await asyncio.sleep(0.5)
                before = made["during"]
                report = await asyncio.to_thread(replay, world, 50)
                after = made["during"]
                await asyncio.sleep(0.5)
            finally:
                stop.set()
                await asyncio.to_thread(booker.join, 30)
            with booking_log(world.database_url) as log:
                await eventually(
                    lambda: relayed() and positions(world.database_url) == published_tops(log),
                    "the projector applied everything",
                )
            assert not running.done()
        finally:
            consumer.stop()
            await asyncio.wait_for(running, 30)
    assert "swapped in" in report
    assert after > before, "no booking was made while the replay ran"
    clean = fresh_database()
    with booking_log(world.database_url) as log:
        rebuild(log, clean, consumer=CONSUMER, producer=PRODUCER)
    assert table_rows(world.database_url) == table_rows(clean)
