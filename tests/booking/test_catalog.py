"""The public catalog a booking page starts from, and what catalog commands answer.

Specialists are listed a page at a time and a specialist's services in one call,
both from the directory read model; every catalog command answers its place in the
event log; an e-mail address registers one specialist only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient

from booking.main import create_app
from tests.booking.conftest import API_NOW, booking_settings
from tests.booking.helpers import (
    ADMIN,
    Catalog,
    FrozenClock,
    bearer,
    error_code,
    expect,
    specialist_jwt,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def database_url(fresh_database: Callable[[], str]) -> str:
    return fresh_database()


@pytest.fixture
def api(database_url: str, redis_url: str) -> Iterator[TestClient]:
    """The API on a database of its own: these tests see every specialist in it."""
    app = create_app(booking_settings(database_url, redis_url), clock=FrozenClock(API_NOW))
    with TestClient(app) as client:
        yield client


def register(api: TestClient, name: str, email: str) -> dict[str, Any]:
    body = {"name": name, "email": email, "timezone": "Europe/Berlin"}
    return dict(expect(api.post("/v1/specialists", json=body, headers=ADMIN), 201))


def walk(api: TestClient, limit: int) -> list[list[dict[str, Any]]]:
    """Every page of GET /v1/specialists, following next_cursor to the end."""
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        page = expect(api.get("/v1/specialists", params=params), 200)
        assert set(page) == {"specialists", "next_cursor"}
        pages.append(page["specialists"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the cursor does not advance"


# --- GET /v1/specialists --------------------------------------------------------------------


def test_paging_through_the_specialists_shows_each_once_in_name_order(api: TestClient) -> None:
    # Names repeat, so the order (and the cursor) must break ties by id.
    names = ["Dr. Okafor", "Dr. Berg", "Dr. Berg", "Dr. Álvarez", "Dr. Berg", "Dr. Chen", "Dr. Y"]
    created = [register(api, name, f"sp{n}@example.org") for n, name in enumerate(names)]

    [everyone] = walk(api, 50)
    bergs = [UUID(p["id"]) for p in everyone if p["name"] == "Dr. Berg"]

    assert sorted(p["id"] for p in everyone) == sorted(sp["id"] for sp in created)
    assert [p["name"] for p in everyone].index("Dr. Okafor") > 3  # by name, not by age
    assert bergs == sorted(bergs)  # ties broken by id
    for limit in (1, 2, 3, 6):
        pages = walk(api, limit)

        assert [len(page) for page in pages][:-1] == [limit] * (len(pages) - 1)
        assert [p for page in pages for p in page] == everyone, f"limit {limit}"


def test_a_page_shows_the_public_profile_with_its_schedule_and_overrides(
    api: TestClient,
) -> None:
    catalog = Catalog(api)
    specialist = catalog.specialist(specialty="Dermatology", bio="Twenty years of practice.")
    base = f"/v1/specialists/{specialist['id']}/overrides"
    expect(api.put(f"{base}/2026-03-10", json={"blocked": True}, headers=ADMIN), 200)
    evening = {"windows": [{"start": "18:00", "end": "20:00"}]}
    expect(api.put(f"{base}/2026-03-11", json=evening, headers=ADMIN), 200)
    expect(api.put(f"{base}/2026-03-12", json={"blocked": True}, headers=ADMIN), 200)
    assert api.delete(f"{base}/2026-03-12", headers=ADMIN).status_code == 204
    expect(
        api.put(
            f"/v1/specialists/{specialist['id']}/schedule",
            json={
                "timezone": "Asia/Tokyo",
                "weekly": [{"day": 6, "start": "10:00", "end": "12:00"}],
            },
            headers=ADMIN,
        ),
        200,
    )

    [listed] = expect(api.get("/v1/specialists"), 200)["specialists"]

    assert listed == expect(api.get(f"/v1/specialists/{specialist['id']}"), 200)
    assert "email" not in listed
    assert listed["timezone"] == "Asia/Tokyo"
    assert [o["date"] for o in listed["overrides"]] == ["2026-03-10", "2026-03-11"]


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=201", "limit=ten", "cursor=not-a-cursor", "cursor=WyJhIiwgMV0"],
)
def test_a_bad_limit_or_cursor_is_422(api: TestClient, query: str) -> None:
    assert error_code(api.get(f"/v1/specialists?{query}"), 422) == "validation_error"


def test_the_default_page_holds_fifty(api: TestClient) -> None:
    for n in range(51):
        register(api, f"Dr. {n:02}", f"many{n}@example.org")

    first = expect(api.get("/v1/specialists"), 200)
    rest = expect(api.get("/v1/specialists", params={"cursor": first["next_cursor"]}), 200)

    assert len(first["specialists"]) == 50 and first["next_cursor"]
    assert [p["name"] for p in rest["specialists"]] == ["Dr. 50"] and rest["next_cursor"] is None


# --- GET /v1/services -----------------------------------------------------------------------


def test_a_specialists_services_are_listed_by_name_as_they_are_now(api: TestClient) -> None:
    catalog = Catalog(api)
    specialist, other = catalog.specialist(), catalog.specialist()
    talk = catalog.service(specialist["id"], name="Talk", price="80.00", currency="EUR")
    check = catalog.service(
        specialist["id"],
        name="Check-up",
        questions=[{"key": "topic", "label": "Topic", "type": "textarea", "required": True}],
    )
    catalog.service(other["id"], name="Elsewhere")
    own = bearer(specialist_jwt(specialist["id"]))
    expect(api.patch(f"/v1/services/{talk['id']}", json={"name": "Advice"}, headers=own), 200)

    listed = expect(api.get("/v1/services", params={"specialist_id": specialist["id"]}), 200)

    assert set(listed) == {"services"}
    assert [s["name"] for s in listed["services"]] == ["Advice", "Check-up"]
    assert listed["services"] == [
        expect(api.get(f"/v1/services/{sv['id']}"), 200) for sv in (talk, check)
    ]


def test_the_services_of_an_unknown_specialist_are_404(api: TestClient) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"

    response = api.get("/v1/services", params={"specialist_id": unknown})

    assert error_code(response, 404) == "not_found"
    assert error_code(api.get("/v1/services"), 422) == "validation_error"


# --- notification ids of catalog commands ---------------------------------------------------


def stored_event(database_url: str, notification_id: int) -> tuple[UUID, str]:
    """The originator and topic of the stored event at `notification_id`."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT originator_id, topic FROM bookings_events WHERE notification_id = %s",
            (notification_id,),
        ).fetchone()
    assert row is not None, notification_id
    return row[0], row[1]


def test_every_catalog_command_answers_the_position_of_its_own_event(
    api: TestClient, database_url: str
) -> None:
    catalog = Catalog(api)
    specialist = catalog.specialist()
    sp = specialist["id"]
    override = f"/v1/specialists/{sp}/overrides/2026-03-10"

    schedule = expect(
        api.put(f"/v1/specialists/{sp}/schedule", json={"weekly": []}, headers=ADMIN), 200
    )
    blocked = expect(api.put(override, json={"blocked": True}, headers=ADMIN), 200)
    cleared = api.delete(override, headers=ADMIN)
    service = catalog.service(sp)
    patched = expect(
        api.patch(f"/v1/services/{service['id']}", json={"name": "B"}, headers=ADMIN), 200
    )

    assert cleared.status_code == 204 and not cleared.content
    answers = [
        (specialist["notification_id"], sp, "Specialist.Registered"),
        (schedule["notification_id"], sp, "Specialist.ScheduleSet"),
        (blocked["notification_id"], sp, "Specialist.OverrideSet"),
        (int(cleared.headers["Kairos-Notification-Id"]), sp, "Specialist.OverrideCleared"),
        (service["notification_id"], service["id"], "Service.Defined"),
        (patched["notification_id"], service["id"], "Service.Updated"),
    ]
    for position, aggregate_id, event in answers:
        assert stored_event(database_url, position) == (
            UUID(aggregate_id),
            f"booking.domain:{event}",
        )
    positions = [position for position, _, _ in answers]
    assert positions == sorted(set(positions))


# --- one specialist per e-mail address ------------------------------------------------------


@pytest.mark.parametrize("again", ["grey@example.org", "Grey@Example.ORG", " grey@example.org"])
def test_a_second_specialist_with_the_same_email_is_409_email_taken(
    api: TestClient, again: str
) -> None:
    first = register(api, "Dr. Grey", "grey@example.org")

    response = api.post(
        "/v1/specialists",
        json={"name": "Dr. Other", "email": again, "timezone": "UTC"},
        headers=ADMIN,
    )

    assert error_code(response, 409) == "email_taken"
    assert [p["id"] for p in walk(api, 50)[0]] == [first["id"]]
