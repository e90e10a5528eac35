"""Availability: GET /v1/slots latency (cached, cold, and against a naive implementation),
booking → slot gone through the real processes, and replay speed over 1,000,000 events.

1. Slot query: one specialist (Europe/Berlin, weekdays 08:00-20:00, two date overrides,
   two services with buffers) with 200 active bookings (and 10 cancelled ones) in a 14-day
   range, written by the booking `Bookings` application and projected by
   `kairos replay availability`; a real availability API process (uvicorn, 1 worker)
   answers; latency as the server reports it (Server-Timing) and as the client sees it.
   Cold: the first query after a change notice (the cache entry dropped).
2. A naive implementation of the same query on the same read model tables (fresh SQL per
   request, every candidate checked against every booking, no cache), asserted to give
   the same slots, timed in this process on a warm connection.
3. Booking → slot gone: booking API, relay, Kafka (our own tansu broker), projector and
   availability API as real processes; book over HTTP, poll GET /v1/slots until the slot
   is gone; then the same with min_position.
4. Replay: a booking event store of 1,000,000 published events (cached between runs in
   the database kairos_bench_replay), rebuilt into a fresh database with
   `availability.replay.replay_availability`, timed by phase.

The load generator shares the machine's cores with the services, PostgreSQL and
whatever else runs: each measure is repeated and the median of the rounds reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import http.client
import io
import json
import os
import random
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import psycopg
from aiokafka import TopicPartition

import availability.rebuild as rebuild_module
from availability.replay import replay_availability
from availability.tables import CHANGED_CHANNEL
from booking.application import Bookings
from booking.domain import Booking, Service, ServiceTerms, Specialist
from booking.integration import IntegrationMapper
from booking.schemas import ServiceFields
from kairos.events import BOOKING_TOPIC
from kairos.eventstore import open_application, postgres_env
from kairos.messaging import TOPIC_PARTITIONS, make_consumer, make_producer
from kairos.messaging.notification_log import LoggedEvent, NotificationLog
from kairos.ordered_recorder import OrderedInsertRecorder
from kairos.settings import TopicSettings
from kairos.slots import Interval, LocalWindow, ServiceRules, WorkingHours
from kairos.slots import offered_slots as kairos_offered_slots
from kairos.timezones import iso_utc
from kairos.web.slots import slots_body
from kairos_dev.infra import PostgresHandle, ensure_kafka, ensure_postgres, ensure_redis
from kairos_dev.testing import ServiceProcess, service_env

# --- 1 and 2: the slot query ------------------------------------------------------
ZONE = "Europe/Berlin"
RANGE_DAYS = 14
ACTIVE_BOOKINGS = 200
CANCELLED_BOOKINGS = 10
WORKDAY = (8 * 60, 20 * 60)
CONSULTATION = {  # the service the benchmark queries
    "name": "Consultation",
    "duration_minutes": 30,
    "slot_interval_minutes": None,
    "buffer_before_minutes": 5,
    "buffer_after_minutes": 5,
    "minimum_notice_minutes": 60,
    "max_advance_days": 60,
    "max_per_day": 16,
}
FOLLOW_UP = {
    "name": "Follow-up",
    "duration_minutes": 15,
    "slot_interval_minutes": None,
    "buffer_before_minutes": 0,
    "buffer_after_minutes": 5,
    "minimum_notice_minutes": 60,
    "max_advance_days": 60,
    "max_per_day": None,
}
WARM_UP_REQUESTS = 300
QUERY_ROUNDS = 3
QUERY_REQUESTS = 2_000  # per round
COLD_SAMPLES = 100
NAIVE_ROUNDS = 3
NAIVE_REQUESTS = 700  # per round

# --- 3: booking → slot gone ---------------------------------------------------------
FRESHNESS_BOOKINGS = 100
FRESHNESS_WARM_UP = 5
FRESHNESS_TIMEOUT = 5.0
POLL_PAUSE = 0.001

# --- 4: replay ----------------------------------------------------------------------
REPLAY_DATABASE = "kairos_bench_replay"
REPLAY_SPEC: dict[str, Any] = {
    "version": 1,
    "specialists": 200,
    "services_per_specialist": 2,
    "bookings": 333_000,
    # every booking: SlotRequested + Confirmed, then one of these, a few batches later
    "follow_ups": ["cancelled", "rescheduled", "completed"],
    "batch_bookings": 5_000,
    "follow_up_lag_batches": 3,
}
# Per specialist: Registered, ScheduleSet, OverrideSet; per service: Defined.
REPLAY_EVENTS = (
    REPLAY_SPEC["specialists"] * (3 + REPLAY_SPEC["services_per_specialist"])
    + REPLAY_SPEC["bookings"] * 3
)
REPLAY_RUNS = 3
REPLAY_BREAKDOWN_EVENTS = 200_000
REPLAY_PAGE_SIZE = 5_000

CLIENT = {"name": "Bench Client", "email": "client@example.com", "timezone": "Europe/Paris"}


# --- statistics -----------------------------------------------------------------------


def _summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    if len(ordered) < 2:
        return {"n": len(ordered), **({"p50": round(ordered[0], 3)} if ordered else {})}
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "n": len(ordered),
        "p50": round(q[49], 3),
        "p90": round(q[89], 3),
        "p99": round(q[98], 3),
        "max": round(ordered[-1], 3),
    }


def _rounds_summary(rounds: list[list[float]]) -> dict[str, Any]:
    """Each round's percentiles, the median of them, and their spread (noise)."""
    per_round = [_summary(r) for r in rounds]
    result: dict[str, Any] = {"rounds": per_round}
    for key in ("p50", "p90", "p99"):
        values = [r[key] for r in per_round if key in r]
        if values:
            result[key] = round(statistics.median(values), 3)
            result[f"{key}_range"] = [min(values), max(values)]
    result["pooled"] = _summary([s for r in rounds for s in r])
    return result


# --- HTTP -------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: bytes
    client_ms: float
    server_ms: float | None
    received: float  # perf_counter when the body was read

    def json(self) -> Any:
        return json.loads(self.body)


class Http:
    """One keep-alive HTTP/1.1 connection: the least client overhead the stdlib has."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self._conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)

    def request(self, method: str, path: str, body: Any = None) -> Reply:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        started = time.perf_counter()
        self._conn.request(method, path, body=payload, headers=headers)
        response = self._conn.getresponse()
        data = response.read()
        received = time.perf_counter()
        return Reply(
            response.status,
            data,
            (received - started) * 1000,
            _server_ms(response.getheader("Server-Timing")),
            received,
        )

    def close(self) -> None:
        self._conn.close()


def _server_ms(header: str | None) -> float | None:
    if not header:
        return None
    for part in header.split(";"):
        if part.strip().startswith("dur="):
            return float(part.strip()[4:])
    return None


def _slots_path(service_id: UUID, first: date, last: date, **extra: Any) -> str:
    query = {"service_id": str(service_id), "from": first.isoformat(), "to": last.isoformat()}
    query.update({k: str(v) for k, v in extra.items()})
    return "/v1/slots?" + urlencode(query)


# --- the world: seeded through the booking application ------------------------------


@dataclass
class World:
    busy_specialist: UUID
    consultation: UUID  # the queried service
    first_day: date
    last_day: date
    fresh_specialist: UUID  # for booking → slot gone: UTC, round the clock, 30-min slots
    fresh_service: UUID
    fresh_first_day: date
    seed_seconds: float


def _next_monday(today: date, at_least: int = 2) -> date:
    day = today + timedelta(days=at_least)
    return day + timedelta(days=(7 - day.weekday()) % 7)


def _terms(definition: dict[str, Any]) -> ServiceTerms:
    """The definition, the rest as the API defaults it."""
    return ServiceFields.model_validate(definition).terms()


def _define(app: Bookings, specialist_id: UUID, definition: dict[str, Any]) -> UUID:
    return app.define_service(specialist_id, _terms(definition)).id


def _seed_world(database_url: str) -> World:
    """The busy specialist's 200 bookings, placed one at a time on slots the rules offer
    (a random service, a random offered start), each through `Bookings.request_booking`."""
    started = time.perf_counter()
    rng = random.Random(20261122)
    now = datetime.now(UTC)
    tz = ZoneInfo(ZONE)
    first = _next_monday(now.date())
    last = first + timedelta(days=RANGE_DAYS - 1)
    app = Bookings(env=postgres_env(database_url))
    try:
        busy_id = app.register_specialist("Bench Busy", "busy@example.com", ZONE)
        weekly = {day: [list(WORKDAY)] for day in range(5)}
        app.set_schedule(busy_id, None, weekly)
        # A short Wednesday in week two, and a Saturday morning in week one.
        overrides = {
            first + timedelta(days=9): [[10 * 60, 16 * 60]],
            first + timedelta(days=5): [[9 * 60, 13 * 60]],
        }
        for day, windows in overrides.items():
            app.set_override(busy_id, day, windows)
        services = {
            _define(app, busy_id, CONSULTATION): ServiceRules.of(_terms(CONSULTATION)),
            _define(app, busy_id, FOLLOW_UP): ServiceRules.of(_terms(FOLLOW_UP)),
        }
        consultation = next(iter(services))
        hours = WorkingHours(
            tz,
            {d: [LocalWindow(*w) for w in ws] for d, ws in weekly.items()},
            {d: [LocalWindow(*w) for w in ws] for d, ws in overrides.items()},
        )
        days = [first + timedelta(days=i) for i in range(RANGE_DAYS)]
        busy: list[Interval] = []
        placed: list[UUID] = []
        open_days = [d for d in days if hours.windows_on(d)]
        while len(placed) < ACTIVE_BOOKINGS + CANCELLED_BOOKINGS:
            if not open_days:
                raise RuntimeError(f"only {len(placed)} bookings fit in the range")
            day = rng.choice(open_days)
            choices = list(services)
            rng.shuffle(choices)
            for service_id in choices:
                rules = services[service_id]
                offered = kairos_offered_slots(hours, rules, busy, {}, day, day, now)
                if offered:
                    slot = rng.choice(offered)
                    placed.append(
                        app.request_booking(
                            service_id, slot.start, {**CLIENT, "phone": None}, {}, None, now
                        ).booking.id
                    )
                    busy.append(rules.padded(slot.start))
                    break
            else:
                open_days.remove(day)
        # Some bookings are cancelled: their time is free again.
        for booking_id in rng.sample(placed, CANCELLED_BOOKINGS):
            app.cancel(booking_id, "bench", "client", now)

        fresh_id = app.register_specialist("Bench Fresh", "fresh@example.com", "UTC")
        app.set_schedule(fresh_id, None, {day: [[0, 24 * 60]] for day in range(7)})
        fresh_service = _define(
            app,
            fresh_id,
            {
                "name": "Quick",
                "duration_minutes": 30,
                "slot_interval_minutes": None,
                "buffer_before_minutes": 0,
                "buffer_after_minutes": 0,
                "minimum_notice_minutes": 0,
                "max_advance_days": 60,
                "max_per_day": None,
            },
        )
    finally:
        app.close()
    return World(
        busy_specialist=busy_id,
        consultation=consultation,
        first_day=first,
        last_day=last,
        fresh_specialist=fresh_id,
        fresh_service=fresh_service,
        fresh_first_day=now.date() + timedelta(days=2),
        seed_seconds=time.perf_counter() - started,
    )


# --- 2: the naive implementation ------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIVE_MINUTES = timedelta(minutes=5)
_REACH = timedelta(days=1)  # bookings this far outside the range can still touch a slot


def naive_slots(conn: psycopg.Connection[Any], service_id: UUID, first: date, last: date) -> str:
    """GET /v1/slots the straightforward way: query what the request needs, step every
    window, test each candidate against every booking. Returns the same JSON body."""
    now = datetime.now(UTC)
    row = conn.execute(
        "SELECT specialist_id, rules FROM availability_services WHERE service_id = %s",
        (service_id,),
    ).fetchone()
    assert row is not None, "unknown service"
    specialist_id, rules = row
    row = conn.execute(
        "SELECT timezone, weekly FROM availability_specialists WHERE specialist_id = %s",
        (specialist_id,),
    ).fetchone()
    assert row is not None, "unknown specialist"
    tz = ZoneInfo(row[0])
    weekly: dict[str, list[list[int]]] = row[1]
    range_start = _local_instant(first, 0, tz)
    range_end = _local_instant(last + timedelta(days=1), 0, tz)
    overrides = dict(
        conn.execute(
            "SELECT day, windows FROM availability_overrides"
            " WHERE specialist_id = %s AND NOT cleared AND day BETWEEN %s AND %s",
            (specialist_id, first, last),
        ).fetchall()
    )
    bookings = conn.execute(
        "SELECT service_id, starts_at, busy_from, busy_until FROM availability_busy"
        " WHERE specialist_id = %s AND active AND busy_from < %s AND busy_until > %s",
        (specialist_id, range_end + _REACH, range_start - _REACH),
    ).fetchall()

    duration = timedelta(minutes=rules["duration_minutes"])
    step = timedelta(minutes=rules["slot_interval_minutes"] or rules["duration_minutes"])
    before = timedelta(minutes=rules["buffer_before_minutes"])
    after = timedelta(minutes=rules["buffer_after_minutes"])
    earliest = now + timedelta(minutes=rules["minimum_notice_minutes"])
    latest = now + timedelta(days=rules["max_advance_days"])
    max_per_day = rules["max_per_day"]
    per_day = Counter(
        starts_at.astimezone(tz).date() for sid, starts_at, _, _ in bookings if sid == service_id
    )

    starts: list[datetime] = []
    day = first
    while day <= last:
        if max_per_day is None or per_day[day] < max_per_day:
            windows = overrides.get(day)
            if windows is None:
                windows = weekly.get(str(day.weekday()), [])
            for window_start, window_end in sorted(windows):
                t = _local_instant(day, window_start, tz)
                end = _local_instant(day, window_end, tz)
                while t + duration <= end:
                    padded_start, padded_end = t - before, t + duration + after
                    clash_end = None
                    for _, _, busy_from, busy_until in bookings:
                        if (
                            busy_from < padded_end
                            and padded_start < busy_until
                            and (clash_end is None or busy_until > clash_end)
                        ):
                            clash_end = busy_until
                    if clash_end is not None:
                        t = _round_up(clash_end + before)
                        continue
                    if earliest <= t <= latest:
                        starts.append(t)
                    t += step
        day += timedelta(days=1)
    body = {
        "service_id": str(service_id),
        "timezone": tz.key,
        "slots": [
            {
                "start": iso_utc(t),
                "end": iso_utc(t + duration),
                "local_start": t.astimezone(tz).isoformat(),
            }
            for t in starts
        ],
    }
    return json.dumps(body, separators=(",", ":"))


def _local_instant(day: date, minute: int, tz: ZoneInfo) -> datetime:
    wall = datetime.combine(day, clock_time()) + timedelta(minutes=minute)
    return wall.replace(tzinfo=tz).astimezone(UTC)


def _round_up(instant: datetime) -> datetime:
    remainder = (instant - _EPOCH) % _FIVE_MINUTES
    return instant if not remainder else instant + (_FIVE_MINUTES - remainder)


# --- 1: the slot query against the availability API ------------------------------------


def _query_latency(api: Http, path: str) -> dict[str, Any]:
    for _ in range(WARM_UP_REQUESTS):
        reply = api.request("GET", path)
        assert reply.status == 200, reply.body
    server: list[list[float]] = []
    client: list[list[float]] = []
    for _ in range(QUERY_ROUNDS):
        s, c = [], []
        for _ in range(QUERY_REQUESTS):
            reply = api.request("GET", path)
            assert reply.status == 200 and reply.server_ms is not None, reply.body
            s.append(reply.server_ms)
            c.append(reply.client_ms)
        server.append(s)
        client.append(c)
    return {"server_ms": _rounds_summary(server), "client_ms": _rounds_summary(client)}


def _cold_latency(api: Http, path: str, database_url: str, specialist_id: UUID) -> dict[str, Any]:
    """The first query after a change notice: the entry is dropped, the next query loads
    the specialist from the read model again."""
    cold_server, cold_client, warm_server = [], [], []
    with psycopg.connect(database_url, autocommit=True) as conn:
        top = conn.execute(
            "SELECT coalesce(max(notification_id), 0) FROM bookings_events"
        ).fetchone()
        position = int(top[0]) if top else 0
        for _ in range(COLD_SAMPLES):
            conn.execute(
                "SELECT pg_notify(%s, %s)", (CHANGED_CHANNEL, f"{specialist_id} {position}")
            )
            time.sleep(0.03)  # the listener drops the entry well within this
            reply = api.request("GET", path)
            assert reply.status == 200 and reply.server_ms is not None
            cold_server.append(reply.server_ms)
            cold_client.append(reply.client_ms)
            again = api.request("GET", path)
            assert again.server_ms is not None
            warm_server.append(again.server_ms)
    return {
        "server_ms": _summary(cold_server),
        "client_ms": _summary(cold_client),
        "next_query_server_ms": _summary(warm_server),
        "how": "NOTIFY availability_changed for the specialist, wait 30 ms, GET (cold), GET",
    }


# --- 2: naive, side by side -------------------------------------------------------------


def _naive_comparison(
    database_url: str, world: World, api_body: Any, ours_server: dict[str, Any]
) -> dict[str, Any]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        body = naive_slots(conn, world.consultation, world.first_day, world.last_day)
        naive = json.loads(body)
        if naive != api_body:
            ours = [s["start"] for s in api_body["slots"]]
            theirs = [s["start"] for s in naive["slots"]]
            raise AssertionError(
                "naive slots differ from the service's:"
                f" only ours {sorted(set(ours) - set(theirs))},"
                f" only naive {sorted(set(theirs) - set(ours))}"
            )
        for _ in range(20):
            naive_slots(conn, world.consultation, world.first_day, world.last_day)
        rounds = []
        for _ in range(NAIVE_ROUNDS):
            samples = []
            for _ in range(NAIVE_REQUESTS):
                started = time.perf_counter()
                naive_slots(conn, world.consultation, world.first_day, world.last_day)
                samples.append((time.perf_counter() - started) * 1000)
            rounds.append(samples)
    timing = _rounds_summary(rounds)
    return {
        "same_slots_as_service": True,
        "slots": len(naive["slots"]),
        "server_ms": timing,
        "ratio_naive_over_ours": {
            "p50": round(timing["p50"] / ours_server["p50"], 1),
            "p99": round(timing["p99"] / ours_server["p99"], 1),
        },
    }


def _in_process(database_url: str, world: World) -> dict[str, Any]:
    """Our query's pieces in this process, without HTTP: the cached path (compute + JSON)
    and the cold path (load from the read model, then the same)."""
    from availability.readmodel import day_bounds, load

    tz = ZoneInfo(ZONE)
    start, end = day_bounds(world.first_day, world.last_day, tz)

    def respond(entry: Any) -> str:
        slots = entry.slots(world.consultation, start, end, datetime.now(UTC))
        return json.dumps(slots_body(world.consultation, tz, slots), separators=(",", ":"))

    cold, warm = [], []
    with psycopg.connect(database_url, autocommit=True) as conn:
        entry = load(conn, world.busy_specialist, datetime.now(UTC))
        for _ in range(300):
            started = time.perf_counter()
            entry = load(conn, world.busy_specialist, datetime.now(UTC))
            respond(entry)
            cold.append((time.perf_counter() - started) * 1000)
        for _ in range(3000):
            started = time.perf_counter()
            respond(entry)
            warm.append((time.perf_counter() - started) * 1000)
    return {"cached_ms": _summary(warm), "cold_load_and_query_ms": _summary(cold)}


# --- 3: booking → slot gone -------------------------------------------------------------


class Notices:
    """Listens on the read model's change channel and stamps each notice's arrival."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.arrivals: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._listen, daemon=True)

    def __enter__(self) -> Notices:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _listen(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANGED_CHANNEL}")
            self._ready.set()
            while not self._stop.is_set():
                for notice in conn.notifies(timeout=0.2):
                    self.arrivals.append((time.perf_counter(), notice.payload))

    def first_of(self, specialist_id: UUID, after: int, upto: int) -> float | None:
        """When the first notice for one of the specialist's events in (after, upto] came."""
        prefix = str(specialist_id)
        return min(
            (
                t
                for t, payload in list(self.arrivals)
                if payload.startswith(prefix) and after < int(payload.rpartition(" ")[2]) <= upto
            ),
            default=None,
        )


def _fresh_slots(start_day: date) -> Iterator[datetime]:
    t = datetime.combine(start_day, clock_time(), tzinfo=UTC)
    while True:
        yield t
        t += timedelta(minutes=30)


def _book_and_watch(
    booking_api: Http,
    slots_api: Http,
    world: World,
    start: datetime,
    min_position: bool,
    previous: int,
) -> dict[str, Any]:
    """Book `start`, then poll until it is gone. `previous` is the notification id of the
    booking before: this one's events lie after it."""
    day = start.date()
    wanted = iso_utc(start)
    path = _slots_path(world.fresh_service, day, day, timezone="UTC")
    before = slots_api.request("GET", path)
    assert wanted in {s["start"] for s in before.json()["slots"]}, "the slot is not offered"
    posted = time.perf_counter()
    reply = booking_api.request(
        "POST",
        "/v1/bookings",
        {"service_id": str(world.fresh_service), "starts_at": wanted, "client": CLIENT},
    )
    answered_wall = time.time()
    assert reply.status == 201, reply.body
    answered = reply.received
    position = reply.json()["notification_id"]
    if min_position:
        path = _slots_path(world.fresh_service, day, day, timezone="UTC", min_position=position)
    polls = 0
    gone: Reply | None = None
    first_poll_gone = None
    while time.perf_counter() - answered < FRESHNESS_TIMEOUT:
        poll = slots_api.request("GET", path)
        polls += 1
        present = wanted in {s["start"] for s in poll.json()["slots"]}
        if first_poll_gone is None:
            first_poll_gone = not present
        if not present:
            gone = poll
            break
        time.sleep(POLL_PAUSE)
    return {
        "previous": previous,
        "position": position,
        "answered": answered,
        "answered_wall": answered_wall,
        "gone_at": gone.received if gone else None,
        "post_ms": reply.client_ms,
        "gone_after_201_ms": (gone.received - answered) * 1000 if gone else None,
        "gone_after_post_ms": (gone.received - posted) * 1000 if gone else None,
        "polls": polls,
        "first_poll_gone": bool(first_poll_gone),
        "gone_query_server_ms": gone.server_ms if gone else None,
    }


def _freshness(
    booking_url: str, slots_url: str, database_url: str, bootstrap: str, world: World
) -> dict[str, Any]:
    booking_api, slots_api = Http(booking_url), Http(slots_url)
    starts = _fresh_slots(world.fresh_first_day)
    runs: dict[str, list[dict[str, Any]]] = {}
    previous = 0

    def book(min_position: bool) -> dict[str, Any]:
        nonlocal previous
        sample = _book_and_watch(
            booking_api, slots_api, world, next(starts), min_position, previous
        )
        previous = sample["position"]
        return sample

    try:
        with Notices(database_url) as notices:
            for _ in range(FRESHNESS_WARM_UP):
                book(False)
            for mode, min_position in (
                ("without_min_position", False),
                ("with_min_position", True),
            ):
                runs[mode] = [book(min_position) for _ in range(FRESHNESS_BOOKINGS)]
            time.sleep(0.5)  # notices of the last booking's later events
    finally:
        booking_api.close()
        slots_api.close()
    published = asyncio.run(_publish_times(bootstrap))
    for samples in runs.values():
        for sample in samples:
            _attribute(sample, published, notices, world.fresh_specialist)
    return {mode: _freshness_summary(samples) for mode, samples in runs.items()}


def _attribute(
    sample: dict[str, Any], published: dict[int, float], notices: Notices, specialist: UUID
) -> None:
    """Split a booking's way to the read model: 201 → the relay's send → the projector's
    first notice of one of the booking's events → the slot gone from GET /v1/slots."""

    def ms(later: float | None, earlier: float | None) -> float | None:
        return (later - earlier) * 1000 if later is not None and earlier is not None else None

    sent = published.get(sample["position"])
    notice = notices.first_of(specialist, sample["previous"], sample["position"])
    answered = sample["answered"]
    sample["relay_send_after_201_ms"] = ms(sent, sample["answered_wall"])
    sample["notice_after_201_ms"] = ms(notice, answered)
    sample["gone_after_notice_ms"] = ms(sample["gone_at"], notice)
    if sample["relay_send_after_201_ms"] is not None and notice is not None:
        sample["relay_send_to_notice_ms"] = (
            sample["notice_after_201_ms"] - sample["relay_send_after_201_ms"]
        )


async def _publish_times(bootstrap: str) -> dict[int, float]:
    """Notification id → when the relay handed the message to its producer (the Kafka
    record's CreateTime, wall clock, ms resolution)."""
    consumer = make_consumer(bootstrap, group_id=None, client_id="bench-reader")
    await consumer.start()
    try:
        partitions = [
            TopicPartition(BOOKING_TOPIC, p)
            for p in sorted(consumer.partitions_for_topic(BOOKING_TOPIC) or ())
        ] or [TopicPartition(BOOKING_TOPIC, p) for p in range(TOPIC_PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        times: dict[int, float] = {}
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    envelope = json.loads(record.value or b"{}")
                    times[int(envelope["notification_id"])] = record.timestamp / 1000
        return times
    finally:
        await consumer.stop()


def _freshness_summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    def column(name: str) -> dict[str, float]:
        return _summary([s[name] for s in samples if s.get(name) is not None])

    return {
        "bookings": len(samples),
        "timed_out": sum(1 for s in samples if s["gone_after_201_ms"] is None),
        "gone_after_201_ms": column("gone_after_201_ms"),
        "gone_after_post_ms": column("gone_after_post_ms"),
        "first_poll_already_gone": sum(1 for s in samples if s["first_poll_gone"]),
        "polls": column("polls"),
        "post_ms": column("post_ms"),
        "breakdown_ms": {
            "201_to_relay_send": column("relay_send_after_201_ms"),
            "relay_send_to_projector_notice": column("relay_send_to_notice_ms"),
            "projector_notice_to_gone": column("gone_after_notice_ms"),
            "201_to_projector_notice": column("notice_after_201_ms"),
        },
        "gone_query_server_ms": column("gone_query_server_ms"),
    }


async def _kafka_delivery(bootstrap: str, samples: int = 15) -> dict[str, Any]:
    """Produce → consume latency on the same broker, with aiokafka's default fetch wait
    (what the projector uses) and with a short one: does the broker answer a waiting
    fetch as soon as data arrives, or only when the wait runs out?"""
    topic = f"bench-delivery-{uuid4().hex[:8]}"
    producer = make_producer(bootstrap, client_id="bench-delivery")
    await producer.start()
    results: dict[str, Any] = {}
    try:
        await producer.send_and_wait(topic, b"hello", partition=0)
        for label, wait_ms in (("default_fetch_max_wait_500ms", None), ("fetch_max_wait_10ms", 10)):
            options = {} if wait_ms is None else {"fetch_max_wait_ms": wait_ms}
            consumer = make_consumer(bootstrap, topic, group_id=None, **options)
            await consumer.start()
            try:
                await consumer.getmany(timeout_ms=2000)
                latencies = []
                for i in range(samples):
                    await asyncio.sleep(0.02 + 0.01 * (i % 5))
                    started = time.perf_counter()
                    await producer.send_and_wait(topic, str(i).encode(), partition=0)
                    while not any((await consumer.getmany(timeout_ms=1000)).values()):
                        pass
                    latencies.append((time.perf_counter() - started) * 1000)
                results[label] = _summary(latencies)
            finally:
                await consumer.stop()
    finally:
        await producer.stop()
    return results


# --- 4: replay ----------------------------------------------------------------------------


def _replay_store(postgres: PostgresHandle) -> tuple[str, dict[str, Any]]:
    """The cached 1M-event store, generated first if missing or made to another spec."""
    url = postgres.database_url(REPLAY_DATABASE)
    with contextlib.suppress(psycopg.Error), psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT spec, events, seconds FROM bench_replay_meta").fetchone()
        if row is not None and row[0] == REPLAY_SPEC and row[1] == REPLAY_EVENTS:
            top = conn.execute("SELECT max(notification_id) FROM bookings_events").fetchone()
            if top is not None and top[0] == REPLAY_EVENTS:
                _analyze(conn)
                return url, {"generated_now": False, "generation_seconds": row[2]}
    postgres.drop_database(REPLAY_DATABASE)
    postgres.create_database(REPLAY_DATABASE)
    started = time.perf_counter()
    events = _generate_store(url)
    seconds = time.perf_counter() - started
    if events != REPLAY_EVENTS:
        raise AssertionError(f"generated {events} events, expected {REPLAY_EVENTS}")
    with psycopg.connect(url, autocommit=True) as conn:
        _analyze(conn)
        conn.execute("CREATE TABLE bench_replay_meta (spec jsonb, events bigint, seconds float)")
        conn.execute(
            "INSERT INTO bench_replay_meta VALUES (%s, %s, %s)",
            (psycopg.types.json.Jsonb(REPLAY_SPEC), events, seconds),
        )
    return url, {"generated_now": True, "generation_seconds": round(seconds, 1)}


def _analyze(conn: psycopg.Connection[Any]) -> None:
    """Give the planner statistics of the store, as autovacuum would have by now. (The dev
    machine's server may run with autovacuum off; then the log's `notification_id <= top`
    bound gets a bitmap scan and a sort of the whole rest of the log for every page.)"""
    row = conn.execute(
        "SELECT reltuples FROM pg_class WHERE relname = 'bookings_events'"
    ).fetchone()
    if row is None or row[0] < REPLAY_EVENTS / 2:
        conn.execute("ANALYZE bookings_events")
        conn.commit()


def _generate_store(url: str) -> int:
    """Aggregates built with booking.domain and saved in large batches; no DayLedgers."""
    spec = REPLAY_SPEC
    rng = random.Random(1_000_000)
    now = datetime.now(UTC)
    zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC", "Australia/Sydney"]
    app = open_application(lambda env: Bookings(env=env), url)
    try:
        catalog: list[Any] = []
        offers: list[tuple[Specialist, list[Service]]] = []
        base = _next_monday(now.date(), at_least=7)
        for i in range(spec["specialists"]):
            specialist = Specialist(
                name=f"Replay {i}",
                email=f"replay{i}@example.com",
                timezone=zones[i % len(zones)],
                specialty=None,
                bio=None,
            )
            specialist.set_schedule(specialist.timezone, {d: [list(WORKDAY)] for d in range(5)})
            specialist.set_override(base + timedelta(days=2 + i % 5), [[9 * 60, 12 * 60]])
            services = [
                Service.define(specialist.id, _terms(definition))
                for definition in (CONSULTATION, FOLLOW_UP)[: spec["services_per_specialist"]]
            ]
            catalog += [specialist, *services]
            offers.append((specialist, services))
        app.save(*catalog)

        per_specialist = -(-spec["bookings"] // spec["specialists"])
        recent: list[list[Booking]] = []
        made = 0
        batch: list[Booking] = []
        for k in range(per_specialist):
            workday, slot = divmod(k, 24)
            day = base + timedelta(days=7 * (workday // 5) + workday % 5)
            minute = WORKDAY[0] + 30 * slot
            for specialist, services in offers:
                if made == spec["bookings"]:
                    break
                service = services[k % len(services)]
                tz = ZoneInfo(specialist.timezone)
                starts = _local_instant(day, minute, tz)
                rules = service.rules()
                busy = rules.padded(starts)
                booking = Booking(
                    id=uuid4(),
                    service_id=service.id,
                    specialist_id=specialist.id,
                    starts_at=starts,
                    ends_at=starts + rules.duration,
                    busy_from=busy.start,
                    busy_until=busy.end,
                    client={**CLIENT, "email": f"client{made % 5000}@example.com", "phone": None},
                    answers={},
                    notes=None,
                    fingerprint="",
                    ledger_days=[starts.date().isoformat()],
                    at=now,
                )
                booking.confirm(at=now)
                batch.append(booking)
                made += 1
                if len(batch) == spec["batch_bookings"]:
                    _save_batch(app, batch, recent, rng, now)
                    batch = []
        if batch:
            _save_batch(app, batch, recent, rng, now)
        for older in recent:
            _follow_up(app, older, rng, now)
        top = app.recorder.max_notification_id() or 0
    finally:
        app.close()
    return top


def _save_batch(
    app: Bookings,
    batch: list[Booking],
    recent: list[list[Booking]],
    rng: random.Random,
    now: datetime,
) -> None:
    app.save(*batch)
    recent.append(batch)
    if len(recent) > REPLAY_SPEC["follow_up_lag_batches"]:
        _follow_up(app, recent.pop(0), rng, now)


def _follow_up(app: Bookings, bookings: list[Booking], rng: random.Random, now: datetime) -> None:
    """Each booking's third event, a few batches after its first two."""
    for i, booking in enumerate(bookings):
        kind = REPLAY_SPEC["follow_ups"][i % 3]
        if kind == "cancelled":
            booking.cancel("bench", rng.random() < 0.5, "client", at=now)
        elif kind == "rescheduled":
            starts = booking.starts_at + timedelta(days=182)
            length = booking.ends_at - booking.starts_at
            padded = Interval(
                starts - (booking.starts_at - booking.busy_from),
                starts + length + (booking.busy_until - booking.ends_at),
            )
            booking.reschedule(starts, starts + length, padded, [starts.date().isoformat()], now)
        else:
            # A consultation is completed once it has happened (Booking.complete refuses
            # sooner): at its end, which lies ahead of the generator's `now`.
            booking.complete(at=booking.ends_at)
    app.save(*bookings)


class PhaseTimers:
    """Wraps the rebuild's phases (the real code, not a copy) to time each of them."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._undo: list[Callable[[], None]] = []

    def _wrap(self, owner: Any, attribute: str, phase: str) -> None:
        original = getattr(owner, attribute)
        seconds = self.seconds

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[phase] += time.perf_counter() - started

        setattr(owner, attribute, timed)
        self._undo.append(lambda: setattr(owner, attribute, original))

    def __enter__(self) -> PhaseTimers:
        original_pages = NotificationLog.pages
        seconds = self.seconds

        def pages(log: NotificationLog, *args: Any, **kwargs: Any) -> Iterator[Any]:
            iterator = original_pages(log, *args, **kwargs)
            while True:
                started = time.perf_counter()
                try:
                    page = next(iterator)
                except StopIteration:
                    seconds["read_and_decode"] += time.perf_counter() - started
                    return
                seconds["read_and_decode"] += time.perf_counter() - started
                yield page

        NotificationLog.pages = pages  # type: ignore[method-assign]
        self._undo.append(lambda: setattr(NotificationLog, "pages", original_pages))
        self._wrap(OrderedInsertRecorder, "select_notifications", "select_notifications")
        self._wrap(rebuild_module.Fold, "apply", "fold")
        self._wrap(rebuild_module.Fold, "copy_into", "copy")
        self._wrap(rebuild_module, "_swap", "swap")
        self._wrap(rebuild_module, "_drop", "drop_tables")
        return self

    def __exit__(self, *_: object) -> None:
        for undo in reversed(self._undo):
            undo()


class GcPauses:
    """Time spent in the cyclic garbage collector while the block runs (any thread)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections: Counter[int] = Counter()
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._callback)


def _replay_once(
    postgres: PostgresHandle, store: str, *, collect_garbage: bool = True
) -> dict[str, Any]:
    target = postgres.create_database(prefix="kairos_bench_rm")
    try:
        out = io.StringIO()
        gc.collect()
        if not collect_garbage:
            gc.disable()
        try:
            with PhaseTimers() as timers, GcPauses() as pauses:
                started = time.perf_counter()
                code = replay_availability(
                    target, store, page_size=REPLAY_PAGE_SIZE, topics=TopicSettings(), out=out
                )
                wall = time.perf_counter() - started
        finally:
            gc.enable()
        assert code == 0, out.getvalue()
        summary = out.getvalue().strip().splitlines()[-1]
        events = int(summary.split(" from ")[1].split(" events")[0].replace(",", ""))
        with psycopg.connect(target) as conn:
            rows = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE active) FROM availability_busy"
            ).fetchone()
        assert rows is not None and rows[0] == REPLAY_SPEC["bookings"], rows
    finally:
        postgres.drop_database(target.rsplit("/", 1)[-1])
    phases = dict(timers.seconds)
    accounted = sum(phases.get(k, 0.0) for k in ("read_and_decode", "fold", "copy", "swap"))
    return {
        "events": events,
        "seconds": round(wall, 2),
        "events_per_second": round(events / wall),
        "phases_s": {k: round(v, 2) for k, v in sorted(phases.items())},
        "other_s": round(wall - accounted - phases.get("drop_tables", 0.0), 2),
        "gc_pause_s": round(pauses.seconds, 2),
        "gc_collections": {f"gen{g}": n for g, n in sorted(pauses.collections.items())},
        "busy_rows": rows[0],
        "active_busy_rows": rows[1],
        "kairos_replay_says": summary,
    }


def _serial_breakdown(store: str, events: int) -> dict[str, Any]:
    """The rebuild's read path, one step at a time over the first `events` events (the
    calls NotificationLog.pages and Fold make, without the prefetch thread), so that each
    step's cost shows alone; and the bare SQL of the same pages."""
    app = open_application(lambda env: Bookings(env=env), store)
    try:
        mapper = IntegrationMapper(app, cache_size=sys.maxsize)
        topics = mapper.published_topics()
        seconds: dict[str, float] = defaultdict(float)
        fold = rebuild_module.Fold()
        position = 0
        gc.collect()
        with GcPauses() as pauses:
            while position < events:
                t0 = time.perf_counter()
                notifications = app.recorder.select_notifications(
                    start=position,
                    limit=REPLAY_PAGE_SIZE,
                    topics=topics,
                    inclusive_of_start=False,
                )
                t1 = time.perf_counter()
                domain_events = [app.mapper.to_domain_event(n) for n in notifications]
                t2 = time.perf_counter()
                page = []
                for notification, event in zip(notifications, domain_events, strict=True):
                    payload = mapper.payload(event)
                    if payload is not None:
                        specialist = mapper.specialist_of(event)
                        page.append(LoggedEvent(notification.id, specialist, payload))
                t3 = time.perf_counter()
                fold.apply(page)
                t4 = time.perf_counter()
                seconds["select_notifications"] += t1 - t0
                seconds["to_domain_event"] += t2 - t1
                seconds["to_payload"] += t3 - t2
                seconds["fold"] += t4 - t3
                position = notifications[-1].id
        with psycopg.connect(store) as conn:
            started = time.perf_counter()
            done = 0
            while done < position:
                rows = conn.execute(
                    "SELECT notification_id, originator_id, originator_version, topic, state"
                    " FROM bookings_events WHERE notification_id > %s AND topic = ANY(%s)"
                    " ORDER BY notification_id LIMIT %s",
                    (done, topics, REPLAY_PAGE_SIZE),
                    prepare=True,
                ).fetchall()
                done = rows[-1][0]
            sql_only = time.perf_counter() - started
    finally:
        app.close()
    total = sum(seconds.values())
    return {
        "events": position,
        "seconds": round(total, 2),
        "events_per_second": round(position / total),
        "steps_s": {k: round(v, 2) for k, v in seconds.items()},
        "steps_share": {k: f"{100 * v / total:.0f}%" for k, v in seconds.items()},
        "gc_pause_s": round(pauses.seconds, 2),
        "gc_share": f"{100 * pauses.seconds / total:.0f}%",
        "sql_alone_s": round(sql_only, 2),
        "note": "select_notifications = SQL + eventsourcing Notification objects;"
        " to_domain_event = the store's JSON transcoder → domain events; to_payload ="
        " IntegrationMapper (pydantic payloads) + specialist lookup; GC pauses fall inside"
        " whichever step allocates",
    }


def _replay(postgres: PostgresHandle) -> dict[str, Any]:
    store, generation = _replay_store(postgres)
    runs = [_replay_once(postgres, store) for _ in range(REPLAY_RUNS)]
    without_gc = _replay_once(postgres, store, collect_garbage=False)
    breakdown = _serial_breakdown(store, REPLAY_BREAKDOWN_EVENTS)
    rates = [r["events_per_second"] for r in runs]
    return {
        "store": {
            "database": REPLAY_DATABASE,
            "spec": REPLAY_SPEC,
            "events": REPLAY_EVENTS,
            **generation,
            "note": "no DayLedger aggregates: the read side never sees their events (the log"
            " filters them out by topic in SQL); a real store holds about as many again."
            " ANALYZEd after generation (see _analyze)",
        },
        "events_per_second": round(statistics.median(rates)),
        "events_per_second_range": [min(rates), max(rates)],
        "runs": runs,
        "phases_note": "read_and_decode = time the rebuild spent getting its next page"
        " (SQL, Notification objects, JSON → domain events → payloads), of which"
        " select_notifications is the SQL and the Notification objects; fold ="
        " Fold.apply; copy = COPY into the fresh tables; swap = catch-up + renames +"
        " positions + NOTIFY",
        "what_if_gc_disabled": {
            "note": "the same replay with the cyclic GC disabled by the caller: not the"
            " product's configuration, an estimate of what avoiding the GC pauses gains",
            **without_gc,
        },
        "serial_breakdown": breakdown,
    }


# --- the benchmark ------------------------------------------------------------------------


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@dataclass
class Stack:
    booking: ServiceProcess
    slots: ServiceProcess
    pipeline: list[ServiceProcess]  # relay, projector, booking API: stopped for quiet rounds

    def stop_pipeline(self) -> None:
        for process in reversed(self.pipeline):
            process.stop()


@contextlib.contextmanager
def _stack(env: dict[str, str]) -> Iterator[Stack]:
    """Relay, projector, booking API and availability API, as `kairos dev` runs them (the
    availability API is ready only once the projector has caught up)."""
    with contextlib.ExitStack() as stack:
        relay = stack.enter_context(
            ServiceProcess.worker("booking.relay", env, port_env="RELAY_OPS_PORT")
        )
        projector = stack.enter_context(
            ServiceProcess.worker("availability.projector", env, port_env="PROJECTOR_OPS_PORT")
        )
        booking = stack.enter_context(ServiceProcess.api("booking.main:app", env))
        slots = stack.enter_context(ServiceProcess.api("availability.main:app", env))
        yield Stack(booking, slots, [relay, projector, booking])


def _slot_query(database_url: str, world: World, slots_url: str) -> dict[str, Any]:
    """Parts 1 and 2, with only the availability API running."""
    path = _slots_path(world.consultation, world.first_day, world.last_day)
    api = Http(slots_url)
    try:
        first = api.request("GET", path)
        assert first.status == 200, first.body
        api_body = first.json()
        query = _query_latency(api, path)
        cold = _cold_latency(api, path, database_url, world.busy_specialist)
    finally:
        api.close()
    naive = _naive_comparison(database_url, world, api_body, query["server_ms"])
    return {
        "query": {
            "range": f"{world.first_day} .. {world.last_day} ({RANGE_DAYS} days, {ZONE})",
            "active_bookings": ACTIVE_BOOKINGS,
            "cancelled_bookings": CANCELLED_BOOKINGS,
            "slots_returned": len(api_body["slots"]),
            "response_bytes": len(first.body),
            "requests": QUERY_ROUNDS * QUERY_REQUESTS,
            "conditions": "only the availability API running (relay, projector and booking"
            " API stopped after part 3); see with_pipeline_idle for the same with them up",
            **query,
            "cold": cold,
            "in_process": _in_process(database_url, world),
        },
        "naive": naive,
    }


def run() -> dict[str, Any]:
    load = {"at_start": _load_average()}
    with (
        ensure_postgres() as postgres,
        ensure_redis(db=2) as redis,
        ensure_kafka(prefer_own_process=True) as kafka,
    ):
        database_url = postgres.create_database(prefix="kairos_bench")
        try:
            world = _seed_world(database_url)
            started = time.perf_counter()
            replay_availability(
                database_url,
                database_url,
                page_size=5000,
                topics=TopicSettings(),
                out=io.StringIO(),
            )
            projected = time.perf_counter() - started
            env = service_env(database_url, redis.url, kafka.bootstrap)
            with _stack(env) as stack:
                freshness = _freshness(
                    stack.booking.url, stack.slots.url, database_url, kafka.bootstrap, world
                )
                api = Http(stack.slots.url)
                busy = _query_latency(
                    api, _slots_path(world.consultation, world.first_day, world.last_day)
                )
                api.close()
                stack.stop_pipeline()
                slot_query = _slot_query(database_url, world, stack.slots.url)
            delivery = asyncio.run(_kafka_delivery(kafka.bootstrap))
        finally:
            postgres.drop_database(database_url.rsplit("/", 1)[-1])
        load["before_replay"] = _load_average()
        replay = _replay(postgres)
        load["at_end"] = _load_average()
    query, naive = slot_query["query"], slot_query["naive"]
    query["with_pipeline_idle"] = busy
    targets = {
        "query_server_p50_ms": 2,
        "query_server_p99_ms": 10,
        "naive_over_ours": 10,
        "slot_gone_p99_ms": 100,
        "replay_events_per_second": 20_000,
    }
    gone = freshness["without_min_position"]["gone_after_201_ms"]
    return {
        "description": __doc__.strip().splitlines()[0],
        "infrastructure": {
            "postgres": postgres.where,
            "redis": redis.where,
            "kafka": kafka.where,
        },
        "load_average_1_5_15min": load,
        "seed_seconds": round(world.seed_seconds, 1),
        "read_model_replay_seconds": round(projected, 2),
        "query": query,
        "naive": naive,
        "booking_to_slot_gone": {
            "how": f"POST /v1/bookings, then GET /v1/slots for that UTC day every"
            f" ~{POLL_PAUSE * 1000:.0f} ms until the slot is gone; breakdown: the relay's"
            " send = the Kafka record's CreateTime, the projector's notice = its NOTIFY as"
            " a listener in this process saw it",
            **freshness,
            "kafka_delivery": delivery,
        },
        "replay": replay,
        "targets": targets,
        "met": {
            "query_server_p50": query["server_ms"]["p50"] <= targets["query_server_p50_ms"],
            "query_server_p99": query["server_ms"]["p99"] <= targets["query_server_p99_ms"],
            "naive_over_ours_p50": naive["ratio_naive_over_ours"]["p50"]
            >= targets["naive_over_ours"],
            "naive_over_ours_p99": naive["ratio_naive_over_ours"]["p99"]
            >= targets["naive_over_ours"],
            "slot_gone_p99": gone.get("p99", float("inf")) <= targets["slot_gone_p99_ms"],
            "replay": replay["events_per_second"] >= targets["replay_events_per_second"],
        },
    }
