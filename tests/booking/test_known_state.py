"""What a booking process knows of its ledgers between requests (booking.known_state), on
real PostgreSQL: a request that queued behind a save is decided without reading again,
and never on a copy that another process has changed since the request arrived."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

import booking.application as application
from booking.application import Bookings, SlotRejected
from booking.domain import DayLedger
from booking.external_busy import TABLE, ExternalBusy
from booking.known_state import KnownState
from kairos.eventstore import postgres_env
from kairos.pools import autocommit_pool
from tests.booking.helpers import service_terms

pytestmark = pytest.mark.integration

ALL_DAY = {day: [[0, 24 * 60]] for day in range(7)}
CLIENT = {"name": "Ada Lovelace", "email": "ada@example.org", "timezone": "UTC"}
NOW = datetime(2026, 3, 1, tzinfo=UTC)
TEN = datetime(2026, 3, 2, 10, tzinfo=UTC)
ELEVEN = TEN + timedelta(hours=1)


@pytest.fixture
def database_url(fresh_database: Callable[[], str]) -> str:
    return fresh_database()


@pytest.fixture
def busy(database_url: str) -> Iterator[ExternalBusy]:
    pool = autocommit_pool(database_url, 4)
    pool.open()
    reader = ExternalBusy(pool)
    reader.create_table()
    yield reader
    pool.close()


def bookings(database_url: str, busy: ExternalBusy) -> Bookings:
    return Bookings(env=postgres_env(database_url), external_busy=busy.overlapping)


@pytest.fixture
def app(database_url: str, busy: ExternalBusy) -> Iterator[Bookings]:
    app = bookings(database_url, busy)
    yield app
    app.close()


@pytest.fixture
def service_id(app: Bookings) -> UUID:
    specialist = app.register_specialist("Dr. Grey", "grey@example.org", "UTC")
    app.set_schedule(specialist, None, ALL_DAY)
    return app.define_service(specialist, service_terms(duration_minutes=30)).id


def book(app: Bookings, service_id: UUID, start: datetime) -> UUID:
    return app.request_booking(service_id, start, CLIENT, {}, None, now=NOW).booking.id


class Reads:
    """Counts, per thread, the statements that read ledgers and the reads of external busy
    time: wraps the real functions, which still run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, app: Bookings) -> None:
        self.ledgers: dict[int, int] = {}
        self.busy: dict[int, int] = {}
        real_read, real_busy = application.read_since, app.external_busy
        assert real_busy is not None

        def read_since(*args: Any, **kwargs: Any) -> Any:
            self._count(self.ledgers)
            return real_read(*args, **kwargs)

        def external_busy(*args: Any) -> Any:
            self._count(self.busy)
            return real_busy(*args)

        monkeypatch.setattr(application, "read_since", read_since)
        monkeypatch.setattr(app, "external_busy", external_busy)

    @staticmethod
    def _count(counts: dict[int, int]) -> None:
        thread = threading.get_ident()
        counts[thread] = counts.get(thread, 0) + 1


def queued_behind(
    app: Bookings, service_id: UUID, start: datetime, first: Callable[[], None]
) -> tuple[Any, int]:
    """Request `start` in another thread while this one holds the ledgers' locks and runs
    `first` once the request waits for them: the request's outcome (the booking id or the
    exception) and its thread's id."""
    specialist_id = app.service(service_id).specialist_id
    assert specialist_id is not None
    ids = [DayLedger.create_id(specialist_id, TEN.date().isoformat())]
    outcome: dict[str, Any] = {}

    def request() -> None:
        outcome["thread"] = threading.get_ident()
        try:
            outcome["result"] = book(app, service_id, start)
        except SlotRejected as rejection:
            outcome["result"] = rejection

    with app.contention.locks.holding(ids, time.monotonic() + 10):
        waiter = threading.Thread(target=request)
        waiter.start()
        while app.contention.locks._entries[ids[0]].users < 2:  # the request waits
            time.sleep(0.001)
        first()
    waiter.join(10)
    return outcome["result"], outcome["thread"]


def test_a_request_that_queued_behind_a_save_is_refused_without_a_read(
    app: Bookings, service_id: UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = Reads(monkeypatch, app)
    refused, thread = queued_behind(app, service_id, TEN, lambda: book(app, service_id, TEN))
    assert isinstance(refused, SlotRejected) and refused.code == "slot_unavailable"
    assert reads.ledgers.get(thread, 0) == 0
    assert reads.busy.get(thread, 0) == 0
    assert reads.ledgers[threading.get_ident()] >= 1  # the first request read its ledger


def test_a_request_that_queued_behind_a_save_still_weighs_external_busy_time(
    app: Bookings, service_id: UUID, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = Reads(monkeypatch, app)
    specialist_id = app.service(service_id).specialist_id

    def book_ten_and_block_eleven() -> None:
        book(app, service_id, TEN)
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                f"INSERT INTO {TABLE} VALUES (gen_random_uuid(), %s, %s, %s)",
                (specialist_id, ELEVEN, ELEVEN + timedelta(minutes=30)),
            )

    refused, thread = queued_behind(app, service_id, ELEVEN, book_ten_and_block_eleven)
    assert isinstance(refused, SlotRejected) and refused.code == "slot_unavailable"
    assert reads.ledgers.get(thread, 0) == 0
    assert reads.busy[thread] == 1
    # The slot next to it is free: the copy that decided the refusal holds TEN's claim.
    assert book(app, service_id, ELEVEN + timedelta(minutes=30))


def test_a_copy_another_process_changed_is_read_again(
    app: Bookings, service_id: UUID, database_url: str, busy: ExternalBusy
) -> None:
    other = bookings(database_url, busy)
    try:
        first = book(app, service_id, TEN)
        other.cancel(first, None, "client", now=NOW)
        book(app, service_id, TEN)  # the cancelled claim is gone: bookable again
        book(other, service_id, ELEVEN)
        with pytest.raises(SlotRejected) as taken:
            book(app, service_id, ELEVEN)  # the other process's claim is seen
        assert taken.value.code == "slot_unavailable"
    finally:
        other.close()


def test_a_copy_changed_in_memory_and_not_saved_is_forgotten() -> None:
    known = KnownState()
    ledger = DayLedger(specialist_id=UUID(int=1), day="2026-03-02")
    known.remember([ledger], at=1.0)
    assert known.get(ledger.id) is not None
    ledger.claim(UUID(int=2), UUID(int=3), TEN, TEN, TEN + timedelta(minutes=30))
    assert known.get(ledger.id) is None  # e.g. its save lost a race
    assert known.get(ledger.id) is None


def test_the_least_recently_used_ledgers_are_dropped_first() -> None:
    known = KnownState(maxsize=2)
    a, b, c = (DayLedger(specialist_id=UUID(int=1), day=f"2026-03-0{n}") for n in (1, 2, 3))
    known.remember([a, b], at=1.0)
    assert known.get(a.id) is not None  # a is now the most recently used
    known.remember([c], at=2.0)
    assert [known.get(x.id) is not None for x in (a, b, c)] == [True, False, True]


def test_catalog_versions_count_as_known_only_at_that_version_and_since_then() -> None:
    known = KnownState()
    service = UUID(int=7)
    known.confirm({service: 3}, at=5.0)
    assert known.confirmed({service: 3}, since=4.0)
    assert not known.confirmed({service: 3}, since=6.0)
    assert not known.confirmed({service: 2}, since=4.0)
    assert known.confirmed({}, since=100.0)
