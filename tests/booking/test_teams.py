"""Teams (issue 15): round-robin and collective services, on real PostgreSQL.

The fairness scenarios drive the Bookings application directly (a thousand bookings
through HTTP would only add time); the API scenarios run the API in-process; the races
run a real booking process with two workers. Every scenario ends by checking the event
store itself (tests.booking.stored) for a member booked twice.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi.testclient import TestClient

from booking.application import TALLY_SNAPSHOT_INTERVAL, Bookings, SlotRejected
from booking.domain import TeamTally
from booking.integration import booking_log
from booking.main import create_app
from booking.seed import seed
from kairos.assignment import DEFAULT_WINDOW, Member, ranked
from kairos.events import REGISTRY
from kairos.events import booking as contract
from kairos.eventstore import postgres_env
from kairos.privacy import ERASED
from kairos_dev.testing import ServiceProcess
from tests.booking.conftest import API_NOW, booking_settings
from tests.booking.helpers import (
    ADMIN,
    ADMIN_API_KEY,
    ALL_DAY_EVERY_DAY,
    CONSULTATION,
    Catalog,
    FrozenClock,
    bearer,
    booking_body,
    error_code,
    expect,
    service_terms,
    specialist_jwt,
)
from tests.booking.stored import double_bookings, stored_bookings, stored_team_services
from tests.booking.test_concurrency import days_ahead, outcomes, storm

pytestmark = pytest.mark.integration

ALL_DAY = {day: [[0, 24 * 60]] for day in range(7)}
MORNINGS = {day: [[9 * 60, 12 * 60]] for day in range(7)}
NINE_TO_FIVE = {day: [[9 * 60, 17 * 60]] for day in range(7)}
CLIENT = {"name": "Ada Lovelace", "email": "ada@example.org", "timezone": "UTC"}
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


# --- the rule, through the application ------------------------------------------------------


@pytest.fixture
def database_url(fresh_database: Callable[[], str]) -> str:
    return fresh_database()


@pytest.fixture
def app(database_url: str) -> Iterator[Bookings]:
    app = Bookings(env=postgres_env(database_url))
    yield app
    app.close()


def team_of(
    app: Bookings, schedules: list[dict[int, list[list[int]]]], weights: list[int] | None = None
) -> tuple[UUID, list[UUID]]:
    members = []
    for schedule in schedules:
        member = app.register_specialist("Dr. Grey", f"{uuid4().hex[:8]}@example.org", "UTC")
        app.set_schedule(member, None, schedule)
        members.append(member)
    team = app.form_team(
        "Partners",
        [
            {"specialist_id": str(m), "weight": w, "priority": 0}
            for m, w in zip(members, weights or [1] * len(members), strict=True)
        ],
    )
    return team.id, members


def round_robin(app: Bookings, team_id: UUID, **terms: Any) -> UUID:
    terms = {"duration_minutes": 30, "max_advance_days": 365, **terms}
    return app.define_team_service(team_id, "round_robin", service_terms(**terms)).id


def book_many(
    app: Bookings, service_id: UUID, starts: list[datetime], clock: datetime = START
) -> tuple[Counter[UUID], int]:
    """Book each start in turn, the clock moving a minute each time: bookings by member,
    and how many starts were refused (every member taken)."""
    assigned: Counter[UUID] = Counter()
    refused = 0
    for n, start in enumerate(starts):
        try:
            placed = app.request_booking(
                service_id, start, CLIENT, {}, None, now=clock + timedelta(minutes=n)
            )
        except SlotRejected:
            refused += 1
            continue
        assigned[placed.booking.specialist_id] += 1
    return assigned, refused


def spread(counts: Counter[UUID]) -> float:
    """How many more bookings the busiest member has than the least busy, as a fraction."""
    return max(counts.values()) / min(counts.values()) - 1


def test_a_thousand_bookings_spread_evenly_over_a_team_of_five(
    app: Bookings, database_url: str
) -> None:
    team_id, members = team_of(app, [ALL_DAY] * 5)
    service_id = round_robin(app, team_id)
    # Random half-hours of three weeks, often the same one several times: then only the
    # members still free there can take it, which is what the rule must even out.
    rng = random.Random(15)
    grid = [START + timedelta(days=1, minutes=30 * n) for n in range(3 * 7 * 48)]
    starts = [rng.choice(grid[: len(grid) // 3]) for _ in range(1200)]

    assigned, refused = book_many(app, service_id, starts)

    assert sum(assigned.values()) == 1200 - refused >= 1000
    assert set(assigned) == set(members)
    print(
        f"\nfairness, team of 5, equal availability: {sorted(assigned.values())} over"
        f" {sum(assigned.values())} bookings ({refused} starts full), spread {spread(assigned):.1%}"
    )
    assert spread(assigned) <= 0.10
    assert double_bookings(stored_bookings(database_url)) == []


def test_a_tally_keeps_its_window_and_loads_from_a_snapshot(
    app: Bookings, database_url: str
) -> None:
    """Two months of bookings, one every 8 hours: the tally holds the last 30 days (and
    each member's latest), not all of them; a process that has it in no cache loads it
    from its last snapshot plus fewer events than the interval, and assigns as the
    process that kept it does."""
    team_id, members = team_of(app, [ALL_DAY] * 3)
    service_id = round_robin(app, team_id)
    every = timedelta(hours=8)
    bookings = 3 * TALLY_SNAPSHOT_INTERVAL // 2
    for n in range(bookings):
        clock = START + n * every
        app.request_booking(service_id, clock + timedelta(days=1), CLIENT, {}, None, now=clock)
    tally_id = TeamTally.create_id(team_id)
    kept = app.repository.get(tally_id)
    assert isinstance(kept, TeamTally)
    assert kept.version == bookings + 1  # opened, then one event per booking

    in_window = DEFAULT_WINDOW // every
    assert in_window <= len(kept.bookings) <= in_window + len(members)
    assert app.snapshots is not None
    (snapshot,) = app.snapshots.get(tally_id, desc=True, limit=1)
    assert kept.version - TALLY_SNAPSHOT_INTERVAL < snapshot.originator_version <= kept.version

    cold = Bookings(env=postgres_env(database_url))
    try:
        loaded = cold.repository.get(tally_id)
        assert isinstance(loaded, TeamTally)
        assert loaded.bookings == kept.bookings
        now = START + bookings * every
        assert ranked([Member(m) for m in members], members, loaded.assigned(), now) == ranked(
            [Member(m) for m in members], members, kept.assigned(), now
        )
    finally:
        cold.close()


def test_weights_give_members_their_share(app: Bookings) -> None:
    team_id, members = team_of(app, [ALL_DAY] * 3, weights=[1, 2, 3])
    service_id = round_robin(app, team_id)
    starts = [START + timedelta(days=1, minutes=30 * n) for n in range(600)]

    assigned, refused = book_many(app, service_id, starts)

    assert refused == 0
    print(f"\nweights 1:2:3 over 600 bookings: {[assigned[m] for m in members]}")
    for member, weight in zip(members, [1, 2, 3], strict=True):
        assert assigned[member] == pytest.approx(100 * weight, rel=0.10)


def test_a_member_is_only_given_times_they_work(app: Bookings, database_url: str) -> None:
    team_id, members = team_of(app, [MORNINGS, NINE_TO_FIVE])
    mornings = members[0]
    service_id = round_robin(app, team_id)
    starts = [
        START + timedelta(days=d, hours=9, minutes=30 * n) for d in range(1, 30) for n in range(16)
    ]

    assigned, refused = book_many(app, service_id, starts)

    assert refused == 0
    stored = stored_bookings(database_url)
    given = {m: [b.starts_at for b in stored.values() if b.specialist_id == m] for m in members}
    assert all(9 <= start.hour < 12 for start in given[mornings])
    # Behind after the first afternoon, the member who works mornings only is given nearly
    # every morning, as the rule evens out what availability lets it.
    morning_starts = sum(1 for start in starts if start.hour < 12)
    print(f"\nunequal availability: mornings-only {assigned[mornings]} of {morning_starts}")
    assert assigned[mornings] >= 0.9 * morning_starts
    assert double_bookings(stored) == []


def test_a_collective_booking_holds_every_member_or_none(app: Bookings, database_url: str) -> None:
    team_id, members = team_of(app, [ALL_DAY, ALL_DAY, MORNINGS])
    service_id = app.define_team_service(
        team_id, "collective", service_terms(duration_minutes=30)
    ).id
    morning, afternoon = START + timedelta(days=1, hours=10), START + timedelta(days=1, hours=14)

    placed = app.request_booking(service_id, morning, CLIENT, {}, None, now=START)
    with pytest.raises(SlotRejected) as refusal:
        app.request_booking(service_id, afternoon, CLIENT, {}, None, now=START)

    assert placed.booking.specialist_ids == members
    assert refusal.value.code == "outside_availability"
    [stored] = stored_bookings(database_url).values()
    assert stored.specialist_ids == set(members)
    # Cancelling gives every member's time back.
    app.cancel(placed.booking.id, None, "admin", now=START)
    again = app.request_booking(service_id, morning, CLIENT, {}, None, now=START)
    assert again.booking.specialist_ids == members


# --- the API --------------------------------------------------------------------------------


@pytest.fixture
def database_url_of_api(fresh_database: Callable[[], str]) -> str:
    return fresh_database()


@pytest.fixture
def api(database_url_of_api: str, redis_url: str) -> Iterator[TestClient]:
    settings = booking_settings(database_url_of_api, redis_url)
    with TestClient(create_app(settings, clock=FrozenClock(API_NOW))) as http:
        yield http


def test_an_admin_forms_reads_and_changes_a_team(api: TestClient) -> None:
    catalog = Catalog(api)
    team, members = catalog.team(2)

    assert team["members"] == [{"specialist_id": m, "weight": 1, "priority": 0} for m in members]
    assert isinstance(team["notification_id"], int)
    assert expect(api.get(f"/v1/teams/{team['id']}", headers=ADMIN), 200)["name"] == "Partners"
    changed = expect(
        api.patch(
            f"/v1/teams/{team['id']}",
            json={"members": [{"specialist_id": members[0], "weight": 3, "priority": 1}]},
            headers=ADMIN,
        ),
        200,
    )
    assert changed["members"] == [{"specialist_id": members[0], "weight": 3, "priority": 1}]
    assert changed["name"] == "Partners"


def test_a_team_is_refused_without_members_twice_a_member_or_an_unknown_one(
    api: TestClient,
) -> None:
    catalog = Catalog(api)
    member = catalog.specialist()["id"]

    def refused(members: list[dict[str, Any]]) -> str:
        body = {"name": "Partners", "members": members}
        response = api.post("/v1/teams", json=body, headers=ADMIN)
        return error_code(response, 422)

    assert refused([]) == "validation_error"
    assert refused([{"specialist_id": member}, {"specialist_id": member}]) == "validation_error"
    assert refused([{"specialist_id": member, "weight": 0}]) == "validation_error"
    assert refused([{"specialist_id": str(uuid4())}]) == "invalid_team"
    assert error_code(api.post("/v1/teams", json={"name": "x", "members": []}), 401)
    assert error_code(api.get(f"/v1/teams/{uuid4()}"), 401)
    assert error_code(api.get(f"/v1/teams/{uuid4()}", headers=ADMIN), 404) == "not_found"


def test_a_service_names_a_specialist_or_a_team_with_its_assignment(api: TestClient) -> None:
    catalog = Catalog(api)
    team, members = catalog.team(2)

    def refused(**fields: Any) -> str:
        body = {**CONSULTATION, **fields}
        return error_code(api.post("/v1/services", json=body, headers=ADMIN), 422)

    assert refused(team_id=team["id"]) == "validation_error"  # no assignment
    both = refused(specialist_id=members[0], team_id=team["id"], assignment="collective")
    assert both == "validation_error"
    assert refused(specialist_id=members[0], assignment="collective") == "validation_error"
    assert refused(team_id=team["id"], assignment="everyone") == "validation_error"
    service = catalog.team_service(team["id"], "round_robin")
    assert (service["team_id"], service["assignment"]) == (team["id"], "round_robin")
    assert "specialist_id" not in service
    assert expect(api.get(f"/v1/services/{service['id']}"), 200)["team_id"] == team["id"]


def test_clients_find_teams_with_their_members_and_services_without_a_key(
    api: TestClient,
) -> None:
    catalog = Catalog(api)
    partners, members = catalog.team(2)
    associates, _ = catalog.team(1, name="Associates")
    rr = catalog.team_service(partners["id"], "round_robin", name="Second opinion")
    together = catalog.team_service(partners["id"], "collective", name="Case review")
    catalog.service(members[0], name="Own consultation")  # a member's own: not the team's
    expect(api.patch(f"/v1/services/{rr['id']}", json={"duration_minutes": 45}, headers=ADMIN), 200)
    brown = catalog.specialist(name="Dr. Brown", specialty="Cardiology")
    newcomer = brown["id"]
    roster = [{"specialist_id": m} for m in [*members, newcomer]]
    expect(api.patch(f"/v1/teams/{partners['id']}", json={"members": roster}, headers=ADMIN), 200)

    first = expect(api.get("/v1/teams", params={"limit": 1}), 200)
    assert [t["name"] for t in first["teams"]] == ["Associates"]
    second = expect(api.get("/v1/teams", params={"cursor": first["next_cursor"]}), 200)
    assert second["next_cursor"] is None
    [listed] = second["teams"]
    assert listed == expect(api.get(f"/v1/teams/{partners['id']}/profile"), 200)
    assert [m["specialist_id"] for m in listed["members"]] == [*members, newcomer]
    assert listed["members"][2] == {
        "specialist_id": newcomer, "name": "Dr. Brown", "specialty": "Cardiology"
    }  # fmt: skip
    assert "weight" not in listed["members"][0]  # the admin's business
    services = {s["name"]: s for s in listed["services"]}
    assert list(services) == ["Case review", "Second opinion"]
    assert services["Second opinion"]["duration_minutes"] == 45
    assert services["Second opinion"]["assignment"] == "round_robin"
    # Each as its own page reads it.
    assert services["Case review"] == expect(api.get(f"/v1/services/{together['id']}"), 200)
    assert error_code(api.get(f"/v1/teams/{associates['id']}x/profile"), 422)
    assert error_code(api.get(f"/v1/teams/{uuid4()}/profile"), 404) == "not_found"
    assert error_code(api.get("/v1/teams", params={"cursor": "nonsense"}), 422)

    # An erased member's name is erased in the listing too (ARCHITECTURE.md rule 7).
    expect(api.post("/v1/privacy/erasures", json={"email": brown["email"]}, headers=ADMIN), 202)
    profile = expect(api.get(f"/v1/teams/{partners['id']}/profile"), 200)
    assert [m["name"] for m in profile["members"]] == ["Dr. Grey", "Dr. Grey", ERASED]


def test_a_round_robin_booking_names_its_member_and_an_admin_can_reassign_it(
    api: TestClient,
) -> None:
    catalog = Catalog(api)
    team, members = catalog.team(3)
    service = catalog.team_service(team["id"], "round_robin")
    start = API_NOW + timedelta(days=7, hours=10)

    booking = catalog.booked(service["id"], start)
    other = catalog.booked(service["id"], start)

    assert booking["specialist_id"] in members and booking["team_id"] == team["id"]
    assert booking["specialist_ids"] == [booking["specialist_id"]]
    assert other["specialist_id"] != booking["specialist_id"]
    free = next(m for m in members if m not in (booking["specialist_id"], other["specialist_id"]))

    busy = api.post(
        f"/v1/bookings/{booking['id']}/reassign",
        json={"specialist_id": other["specialist_id"]},
        headers=ADMIN,
    )
    assert error_code(busy, 409) == "slot_unavailable"
    outsider = catalog.specialist(weekly=ALL_DAY_EVERY_DAY)["id"]
    not_member = api.post(
        f"/v1/bookings/{booking['id']}/reassign", json={"specialist_id": outsider}, headers=ADMIN
    )
    assert error_code(not_member, 422) == "invalid_team"
    moved = expect(
        api.post(
            f"/v1/bookings/{booking['id']}/reassign", json={"specialist_id": free}, headers=ADMIN
        ),
        200,
    )
    assert moved["specialist_id"] == free
    assert listed(api, free) == [booking["id"]]
    assert booking["id"] not in listed(api, booking["specialist_id"])
    # A dashboard polling for changes sees the reassignment.
    changed = f"/v1/bookings?changed_after={booking['notification_id']}"
    assert booking["id"] in [
        b["id"] for b in expect(api.get(changed, headers=ADMIN), 200)["bookings"]
    ]
    # The first member's time is free again: a third booking at that time goes to them.
    third = catalog.booked(service["id"], start)
    assert third["specialist_id"] == booking["specialist_id"]
    assert error_code(catalog.book(service["id"], start), 409) == "slot_unavailable"


def listed(api: TestClient, specialist_id: str) -> list[str]:
    """The ids in the specialist's own list of bookings (their dashboard's)."""
    mine = bearer(specialist_jwt(specialist_id))
    answer = expect(api.get(f"/v1/bookings?specialist_id={specialist_id}", headers=mine), 200)
    return [b["id"] for b in answer["bookings"]]


def test_a_collective_booking_carries_every_member(api: TestClient) -> None:
    catalog = Catalog(api)
    team, members = catalog.team(3)
    service = catalog.team_service(team["id"], "collective")
    start = API_NOW + timedelta(days=7, hours=10)

    booking = catalog.booked(service["id"], start)

    assert booking["specialist_ids"] == members
    assert booking["specialist_id"] == members[0]
    for member in members:  # each sees it, and in their list, not only the first
        as_member = bearer(specialist_jwt(member))
        expect(api.get(f"/v1/bookings/{booking['id']}", headers=as_member), 200)
        assert listed(api, member) == [booking["id"]]
    outsider_id = catalog.specialist()["id"]
    outsider = bearer(specialist_jwt(outsider_id))
    assert error_code(api.get(f"/v1/bookings/{booking['id']}", headers=outsider), 403)
    assert listed(api, outsider_id) == []
    assert error_code(catalog.book(service["id"], start), 409) == "slot_unavailable"
    refused = api.post(
        f"/v1/bookings/{booking['id']}/reschedule",
        json={"starts_at": (start + timedelta(hours=2)).isoformat()},
        headers=ADMIN,
    )
    assert error_code(refused, 409) == "invalid_state"


# --- races at a real process ----------------------------------------------------------------


@pytest.fixture
def service(two_workers: ServiceProcess) -> ServiceProcess:
    return two_workers


@pytest.fixture
def catalog(service: ServiceProcess) -> Iterator[Catalog]:
    with httpx.Client(base_url=service.url, timeout=30) as http:
        yield Catalog(http)


def clients(service_id: str, start: datetime, n: int) -> list[dict[str, Any]]:
    return [
        booking_body(
            service_id,
            start,
            client={"name": f"Client {i}", "email": f"c{i}@example.org", "timezone": "UTC"},
        )
        for i in range(n)
    ]


def test_fifty_clients_racing_for_one_time_get_the_five_members_then_409(
    service: ServiceProcess, catalog: Catalog, database_url: str
) -> None:
    team, members = catalog.team(5)
    rr = catalog.team_service(team["id"], "round_robin", duration_minutes=30)

    responses = storm(service, clients(rr["id"], days_ahead(3, 9), 50))

    result = outcomes(responses)
    print(f"\n50-way race, 5 free members: {dict(result)}")
    assert result == {(201, None): 5, (409, "slot_unavailable"): 45}, service.output()
    winners = sorted(r.json()["specialist_id"] for r in responses if r.status_code == 201)
    assert winners == sorted(members)
    assert double_bookings(stored_bookings(database_url)) == []


def test_collective_bookings_racing_members_own_bookings_are_all_or_nothing(
    service: ServiceProcess, catalog: Catalog, database_url: str
) -> None:
    team, members = catalog.team(3)
    together = catalog.team_service(team["id"], "collective", duration_minutes=30)
    alone = catalog.service(members[1], duration_minutes=30)
    starts = [days_ahead(4, 9) + timedelta(minutes=30 * n) for n in range(6)]
    # At each time, ten collective requests race ten for one member alone: either the
    # collective booking wins and holds all three, or the member's own booking wins and no
    # collective booking exists there.
    bodies = [b for start in starts for b in clients(together["id"], start, 10)]
    bodies += [b for start in starts for b in clients(alone["id"], start, 10)]
    random.Random(15).shuffle(bodies)

    responses = storm(service, bodies)

    assert set(outcomes(responses)) <= {(201, None), (409, "slot_unavailable")}, service.output()
    stored = stored_bookings(database_url)
    holding = [b for b in stored.values() if b.holds_time]
    assert sorted(b.starts_at for b in holding) == sorted(starts)  # one winner per time
    everyone, one = set(map(UUID, members)), {UUID(members[1])}
    for booking in holding:
        together_booked = str(booking.service_id) == together["id"]
        assert booking.specialist_ids == (everyone if together_booked else one)
    assert double_bookings(stored) == []
    won = sum(1 for b in holding if str(b.service_id) == together["id"])
    print(
        f"\ncollective race, {len(starts)} times x (10 collective + 10 for one member):"
        f" {dict(outcomes(responses))}; collective won {won} times (holding all"
        f" {len(everyone)} members), the member alone {len(starts) - won}; none half-booked"
    )


def test_the_demo_seed_forms_a_round_robin_team_once(
    service: ServiceProcess, catalog: Catalog, database_url: str
) -> None:
    seed(service.url, ADMIN_API_KEY)
    seed(service.url, ADMIN_API_KEY)

    stored = stored_team_services(database_url)
    assert len(stored) == 1  # the second run added nothing
    start = days_ahead(8, 16)  # a weekday 16:00 UTC: Sam, in New York, works then
    while start.weekday() >= 5:
        start += timedelta(days=1)
    booked = catalog.booked(str(stored[0]), start)
    seeded = {
        s["name"]: s["id"]
        for s in catalog.http.request("GET", "/v1/specialists").json()["specialists"]
    }
    assert booked["specialist_id"] in seeded.values()
    assert booked["team_id"]


def test_the_events_carry_the_team_and_the_specialists_whose_time_a_booking_holds(
    api: TestClient, database_url_of_api: str
) -> None:
    catalog = Catalog(api)
    team, members = catalog.team(2)
    together = catalog.team_service(team["id"], "collective")
    either = catalog.team_service(team["id"], "round_robin")
    start = API_NOW + timedelta(days=7, hours=10)
    collective = catalog.booked(together["id"], start)
    one = catalog.booked(either["id"], start + timedelta(hours=2))
    other = next(m for m in members if m != one["specialist_id"])
    expect(
        api.post(
            f"/v1/bookings/{one['id']}/reassign", json={"specialist_id": other}, headers=ADMIN
        ),
        200,
    )

    with booking_log(database_url_of_api) as log:
        envelopes = [e for page in log.envelopes(0, log.top()) for e in page]
    payloads = [(e, REGISTRY.decode(e)) for e in envelopes]

    [(formed, defined)] = [(e, p) for e, p in payloads if isinstance(p, contract.TeamDefined)]
    assert formed.specialist_id == contract.NO_SPECIALIST
    assert [str(m.specialist_id) for m in defined.members] == members
    services = {str(p.service_id): p for _, p in payloads if isinstance(p, contract.TeamOwned)}
    assert services[together["id"]].assignment == "collective"
    assert isinstance(services[either["id"]], contract.ServiceDefined)  # as consumers read it
    requested = {
        str(p.booking_id): (e, p) for e, p in payloads if isinstance(p, contract.SlotRequested)
    }
    envelope, slot = requested[collective["id"]]
    assert [str(s) for s in slot.specialist_ids] == members
    assert str(envelope.specialist_id) == members[0]
    assert str(slot.team_id) == team["id"]
    # Its snapshots carry the other member as they carry the first: consumers reach both.
    confirmed = next(
        p
        for _, p in payloads
        if isinstance(p, contract.BookingConfirmed) and str(p.booking_id) == collective["id"]
    )
    assert confirmed.booking is not None
    assert [str(s.specialist_id) for s in confirmed.booking.co_specialists] == members[1:]
    [(moved_envelope, moved)] = [
        (e, p) for e, p in payloads if isinstance(p, contract.BookingReassigned)
    ]
    assert (str(moved.previous_specialist_id), str(moved.specialist_id)) == (
        one["specialist_id"],
        other,
    )
    # Still on the partition of the booking's first member, after its earlier events.
    assert str(moved_envelope.specialist_id) == one["specialist_id"]
    assert moved.booking is not None
    assert str(moved.booking.specialist.specialist_id) == other
