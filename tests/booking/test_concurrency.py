"""No double booking under concurrency: storms of requests through HTTP at a real process,
checked afterwards in the event store itself."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kairos_dev.testing import ServiceProcess
from tests.booking.helpers import ADMIN, ALL_DAY_EVERY_DAY, Catalog, booking_body, expect, iso
from tests.booking.service_process import booking_process
from tests.booking.stored import double_bookings, stored_bookings

pytestmark = pytest.mark.integration

STORM = 100


@pytest.fixture
def database_url(fresh_database: Callable[[], str]) -> str:
    return fresh_database()


@pytest.fixture
def service(database_url: str, redis_url: str) -> Iterator[ServiceProcess]:
    with booking_process(database_url, redis_url) as process:
        yield process


@pytest.fixture
def catalog(service: ServiceProcess) -> Iterator[Catalog]:
    with httpx.Client(base_url=service.url, timeout=30) as http:
        yield Catalog(http)


def days_ahead(days: int, hour: int) -> datetime:
    """A start `days` from the real today (the process runs on the real clock)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days, hours=hour)


async def _storm(
    url: str, path: str, bodies: list[dict[str, Any]], headers: dict[str, str]
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        return list(
            await asyncio.gather(*(http.post(path, json=body, headers=headers) for body in bodies))
        )


def storm(
    service: ServiceProcess,
    bodies: list[dict[str, Any]],
    path: str = "/v1/bookings",
    headers: dict[str, str] | None = None,
) -> list[httpx.Response]:
    """POST every body at once."""
    return asyncio.run(_storm(service.url, path, bodies, headers or {}))


def outcomes(responses: list[httpx.Response]) -> Counter[tuple[int, str | None]]:
    """(status, error code) → how many answers."""
    return Counter(
        (r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else None)
        for r in responses
    )


def test_a_hundred_requests_for_one_slot_make_exactly_one_booking(
    service: ServiceProcess, catalog: Catalog, database_url: str
) -> None:
    specialist = catalog.specialist(weekly=ALL_DAY_EVERY_DAY)
    consultation = catalog.service(specialist["id"], duration_minutes=30)
    start = days_ahead(3, 9)
    bodies = [
        booking_body(
            consultation["id"],
            start,
            client={"name": f"Client {n}", "email": f"c{n}@example.org", "timezone": "UTC"},
        )
        for n in range(STORM)
    ]

    responses = storm(service, bodies)

    assert outcomes(responses) == {(201, None): 1, (409, "slot_unavailable"): STORM - 1}, (
        service.output()
    )
    [winner] = [r.json() for r in responses if r.status_code == 201]
    stored = stored_bookings(database_url)
    assert [str(b.id) for b in stored.values() if b.holds_time] == [winner["id"]]
    assert double_bookings(stored) == []


def test_a_hundred_requests_for_overlapping_starts_make_exactly_one_booking(
    service: ServiceProcess, catalog: Catalog, database_url: str
) -> None:
    # An hour-long service offered every quarter hour: 09:00, 09:15, 09:30 and 09:45 all
    # overlap each other, so only one of them can be had.
    specialist = catalog.specialist(weekly=ALL_DAY_EVERY_DAY)
    hour = catalog.service(specialist["id"], duration_minutes=60, slot_interval_minutes=15)
    starts = [days_ahead(4, 9) + timedelta(minutes=15 * (n % 4)) for n in range(STORM)]
    bodies = [booking_body(hour["id"], iso(start)) for start in starts]

    responses = storm(service, bodies)

    assert outcomes(responses) == {(201, None): 1, (409, "slot_unavailable"): STORM - 1}, (
        service.output()
    )
    stored = stored_bookings(database_url)
    assert len([b for b in stored.values() if b.holds_time]) == 1
    assert double_bookings(stored) == []


def test_storms_on_neighbouring_services_with_buffers_never_overlap(
    service: ServiceProcess, catalog: Catalog, database_url: str
) -> None:
    # Two services of one specialist, with buffers, booked at once at every start of a
    # morning: whatever wins, no two bookings (buffers included) may overlap.
    specialist = catalog.specialist(weekly=ALL_DAY_EVERY_DAY)
    short = catalog.service(
        specialist["id"],
        name="Short",
        duration_minutes=20,
        slot_interval_minutes=5,
        buffer_after_minutes=10,
    )
    long = catalog.service(
        specialist["id"],
        name="Long",
        duration_minutes=45,
        slot_interval_minutes=5,
        buffer_before_minutes=15,
    )
    morning = days_ahead(5, 8)
    bodies = [
        booking_body((short if n % 2 else long)["id"], morning + timedelta(minutes=5 * (n % 36)))
        for n in range(STORM)
    ]

    responses = storm(service, bodies)

    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409, 422}, service.output()
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    stored = stored_bookings(database_url)
    assert {str(b.id) for b in stored.values() if b.holds_time} == created
    assert created
    assert double_bookings(stored) == []


def test_twenty_bookings_rescheduled_at_once_onto_one_slot_leave_exactly_one_there(
    service: ServiceProcess, catalog: Catalog, database_url: str
) -> None:
    specialist = catalog.specialist(weekly=ALL_DAY_EVERY_DAY)
    consultation = catalog.service(specialist["id"], duration_minutes=30)
    bookings = [
        catalog.booked(consultation["id"], days_ahead(6, 0) + timedelta(minutes=30 * n))
        for n in range(20)
    ]
    target = {"starts_at": iso(days_ahead(7, 12))}

    async def reschedule_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=service.url, timeout=60) as http:
            return list(
                await asyncio.gather(
                    *(
                        http.post(
                            f"/v1/bookings/{b['id']}/reschedule",
                            json=target,
                            headers={"Authorization": f"Bearer {b['manage_token']}"},
                        )
                        for b in bookings
                    )
                )
            )

    responses = asyncio.run(reschedule_all())

    assert outcomes(responses) == {(200, None): 1, (409, "slot_unavailable"): 19}, service.output()
    stored = stored_bookings(database_url)
    moved = [b for b in stored.values() if b.starts_at == days_ahead(7, 12)]
    assert [str(b.id) for b in moved] == [r.json()["id"] for r in responses if r.status_code == 200]
    assert sum(1 for b in stored.values() if b.holds_time) == 20
    assert double_bookings(stored) == []


def test_twenty_registrations_with_one_email_at_once_make_exactly_one_specialist(
    service: ServiceProcess, catalog: Catalog
) -> None:
    spellings = ["dup@example.org", "Dup@example.org", "DUP@EXAMPLE.ORG", "dup@Example.Org"]
    bodies = [{"name": f"Dr. {n}", "email": spellings[n % 4], "timezone": "UTC"} for n in range(20)]

    responses = storm(service, bodies, path="/v1/specialists", headers=ADMIN)

    assert outcomes(responses) == {(201, None): 1, (409, "email_taken"): 19}
    [winner] = [r.json() for r in responses if r.status_code == 201]
    listed = expect(catalog.http.request("GET", "/v1/specialists"), 200)["specialists"]
    assert [p["id"] for p in listed] == [winner["id"]]


def test_a_storm_on_one_specialists_day_books_every_free_slot_exactly_once(
    two_workers: ServiceProcess, database_url: str
) -> None:
    # Every quarter hour of one UTC day, each asked for twice at once: 192 requests racing
    # for one day ledger. Each slot is free, so each gets exactly one booking; the second
    # request for it is the only one that may hear 409.
    with httpx.Client(base_url=two_workers.url, timeout=30) as http:
        catalog = Catalog(http)
        specialist = catalog.specialist(weekly=ALL_DAY_EVERY_DAY)
        quarter = catalog.service(specialist["id"], duration_minutes=15)
    day = days_ahead(3, 0)
    starts = [day + timedelta(minutes=15 * n) for n in range(96)]
    bodies = [
        booking_body(
            quarter["id"],
            start,
            client={"name": f"Client {n}", "email": f"c{n}@example.org", "timezone": "UTC"},
        )
        for n, start in enumerate(starts * 2)
    ]

    responses = storm(two_workers, bodies)

    assert outcomes(responses) == {(201, None): 96, (409, "slot_unavailable"): 96}, (
        two_workers.output()
    )
    won = Counter(r.json()["starts_at"] for r in responses if r.status_code == 201)
    assert sorted(won) == sorted(iso(start) for start in starts)
    assert set(won.values()) == {1}
    stored = stored_bookings(database_url)
    assert sum(1 for b in stored.values() if b.holds_time) == 96
    assert double_bookings(stored) == []
