"""The booking API of API.md (Catalog and Bookings), in-process on PostgreSQL and Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from booking.application import Bookings
from booking.domain import DayLedger
from booking.main import create_app
from kairos.events.booking import DEFAULT_REMINDERS
from tests.booking.conftest import API_NOW, booking_settings
from tests.booking.helpers import (
    ADMIN,
    ALL_DAY_EVERY_DAY,
    Catalog,
    FrozenClock,
    as_read,
    bearer,
    booking_body,
    client_body,
    error_code,
    expect,
    iso,
    specialist_jwt,
)

pytestmark = pytest.mark.integration

MONDAY_9 = datetime(2026, 3, 9, 9, tzinfo=UTC)


def at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    return MONDAY_9.replace(hour=hour, minute=minute) + timedelta(days=days)


@pytest.fixture(scope="module")
def module_clock() -> FrozenClock:
    return FrozenClock(API_NOW)


@pytest.fixture(autouse=True)
def clock(module_clock: FrozenClock) -> Iterator[FrozenClock]:
    """The module's clock, at API_NOW when each test starts and after it ends."""
    module_clock.now = API_NOW
    yield module_clock
    module_clock.now = API_NOW


@pytest.fixture(scope="module")
def api(
    module_databases: Callable[[], str], redis_url: str, module_clock: FrozenClock
) -> Iterator[TestClient]:
    """One API for the module: tests keep apart by their own specialists and keys."""
    app = create_app(booking_settings(module_databases(), redis_url), clock=module_clock)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def as_deployed(api: TestClient) -> Iterator[TestClient]:
    """The same app, answering a server error with a 500 instead of raising it into the test."""
    with_500s = TestClient(api.app, raise_server_exceptions=False)
    yield with_500s


# --- ops endpoints --------------------------------------------------------------------------


def test_liveness_and_readiness_are_served(api: TestClient) -> None:
    assert expect(api.get("/healthz"), 200) == {"status": "ok"}
    ready = expect(api.get("/readyz"), 200)
    checks = {"postgres": "ok", "key-store": "ok", "redis": "ok"}
    assert ready == {"status": "ready", "checks": checks}


def test_metrics_are_served_in_the_prometheus_format(api: TestClient) -> None:
    api.get("/healthz")

    metrics = api.get("/metrics")

    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'kairos_http_requests_total{method="GET",route="/healthz",service="booking"' in (
        metrics.text
    )


def test_the_openapi_document_describes_every_catalog_and_booking_endpoint(
    api: TestClient,
) -> None:
    document = expect(api.get("/openapi.json"), 200)

    paths = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert paths >= {
        ("/v1/specialists", "post"),
        ("/v1/specialists", "get"),
        ("/v1/specialists/{specialist_id}", "get"),
        ("/v1/specialists/{specialist_id}/schedule", "put"),
        ("/v1/specialists/{specialist_id}/overrides/{day}", "put"),
        ("/v1/specialists/{specialist_id}/overrides/{day}", "delete"),
        ("/v1/services", "post"),
        ("/v1/services", "get"),
        ("/v1/services/{service_id}", "get"),
        ("/v1/services/{service_id}", "patch"),
        ("/v1/bookings", "post"),
        ("/v1/bookings", "get"),
        ("/v1/bookings/{booking_id}", "get"),
        ("/v1/bookings/{booking_id}/cancel", "post"),
        ("/v1/bookings/{booking_id}/reschedule", "post"),
        ("/v1/bookings/{booking_id}/approve", "post"),
        ("/v1/bookings/{booking_id}/decline", "post"),
        ("/v1/bookings/{booking_id}/complete", "post"),
        ("/v1/bookings/{booking_id}/no-show", "post"),
    }


def test_the_openapi_document_shows_the_default_reminders_in_the_service_bodies(
    api: TestClient,
) -> None:
    schemas = expect(api.get("/openapi.json"), 200)["components"]["schemas"]
    defaults = [r.model_dump() for r in DEFAULT_REMINDERS]

    for body in ("ServiceCreate", "ServiceUpdate", "ServicePublic"):
        reminders = schemas[body]["properties"]["reminders"]
        assert reminders["examples"] == [defaults], body
        assert "default reminders" in reminders["description"], body
        assert "no_show_notice" in schemas[body]["properties"], body
    assert schemas["ReminderIn"]["properties"]["before_minutes"]["maximum"] == 30 * 24 * 60


# --- specialists ----------------------------------------------------------------------------


def test_registering_a_specialist_answers_201_with_its_id_and_email(api: TestClient) -> None:
    body = {
        "name": "Dr. Grey",
        "email": "grey@example.org",
        "timezone": "Asia/Kathmandu",
        "specialty": "Cardiology",
        "bio": "Twenty years of hearts.",
    }

    created = expect(api.post("/v1/specialists", json=body, headers=ADMIN), 201)

    assert created["id"]
    assert {k: created[k] for k in body} == body


def test_public_profiles_never_show_the_email(api: TestClient, catalog: Catalog) -> None:
    sp = catalog.specialist("Europe/Berlin", name="Dr. Berlin")

    profile = expect(api.get(f"/v1/specialists/{sp['id']}"), 200)
    listed = expect(api.get("/v1/specialists"), 200)

    assert "email" not in profile
    assert profile["name"] == "Dr. Berlin"
    assert profile["timezone"] == "Europe/Berlin"
    assert sp["id"] in [s["id"] for s in listed["specialists"]]
    assert all("email" not in s for s in listed["specialists"])


@pytest.mark.parametrize(
    "zone",
    [
        "Mars/Olympus_Mons",
        "america/new_york",
        "../../../etc/passwd",
        "/etc/localtime",
        "Europe/../Europe/Berlin",
        "",
    ],
)
def test_an_unknown_iana_zone_is_422(api: TestClient, catalog: Catalog, zone: str) -> None:
    body = {"name": "Dr. Nowhere", "email": "nowhere@example.org", "timezone": zone}
    sp = catalog.specialist()

    assert error_code(api.post("/v1/specialists", json=body, headers=ADMIN), 422)
    assert error_code(
        api.put(
            f"/v1/specialists/{sp['id']}/schedule",
            json={"timezone": zone, "weekly": []},
            headers=ADMIN,
        ),
        422,
    )


def test_a_schedule_can_hold_several_windows_a_day_and_end_at_24_00(
    api: TestClient, catalog: Catalog
) -> None:
    sp = catalog.specialist()
    weekly = [
        {"day": 0, "start": "13:00", "end": "17:00"},
        {"day": 0, "start": "08:00", "end": "12:00"},
        {"day": 6, "start": "20:00", "end": "24:00"},
    ]

    updated = expect(
        api.put(
            f"/v1/specialists/{sp['id']}/schedule",
            json={"timezone": "Asia/Kolkata", "weekly": weekly},
            headers=ADMIN,
        ),
        200,
    )

    assert updated["timezone"] == "Asia/Kolkata"
    assert updated["weekly"] == [
        {"day": 0, "start": "08:00", "end": "12:00"},
        {"day": 0, "start": "13:00", "end": "17:00"},
        {"day": 6, "start": "20:00", "end": "24:00"},
    ]
    assert expect(api.get(f"/v1/specialists/{sp['id']}"), 200)["weekly"] == updated["weekly"]


@pytest.mark.parametrize(
    "windows",
    [
        [("09:00", "12:00"), ("11:00", "13:00")],  # overlapping
        [("09:00", "17:00"), ("10:00", "11:00")],  # nested
        [("12:00", "09:00")],  # inverted
        [("09:00", "09:00")],  # empty
    ],
    ids=["overlapping", "nested", "inverted", "empty"],
)
def test_overlapping_or_inverted_windows_are_422_invalid_schedule(
    api: TestClient, catalog: Catalog, windows: list[tuple[str, str]]
) -> None:
    sp = catalog.specialist()
    weekly = [{"day": 2, "start": s, "end": e} for s, e in windows]
    override = {"windows": [{"start": s, "end": e} for s, e in windows]}

    schedule = api.put(
        f"/v1/specialists/{sp['id']}/schedule", json={"weekly": weekly}, headers=ADMIN
    )
    day = api.put(f"/v1/specialists/{sp['id']}/overrides/2026-03-11", json=override, headers=ADMIN)

    assert error_code(schedule, 422) == "invalid_schedule"
    assert error_code(day, 422) == "invalid_schedule"


@pytest.mark.parametrize(
    "window",
    [
        {"day": 0, "start": "9:00", "end": "12:00"},
        {"day": 0, "start": "09:00", "end": "24:30"},
        {"day": 7, "start": "09:00", "end": "12:00"},
        {"day": -1, "start": "09:00", "end": "12:00"},
        {"day": 0, "start": "09:00"},
        {"day": "monday", "start": "09:00", "end": "12:00"},
        {"day": 0, "start": "09:00", "end": "12:00", "tz": "UTC"},
    ],
)
def test_malformed_weekly_windows_are_422(
    api: TestClient, catalog: Catalog, window: dict[str, Any]
) -> None:
    sp = catalog.specialist()

    response = api.put(
        f"/v1/specialists/{sp['id']}/schedule", json={"weekly": [window]}, headers=ADMIN
    )

    assert error_code(response, 422) == "validation_error"


def test_an_override_blocks_or_replaces_a_date_and_deleting_it_restores_the_week(
    api: TestClient, catalog: Catalog
) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"])
    url = f"/v1/specialists/{sp['id']}/overrides/2026-03-09"

    blocked = expect(api.put(url, json={"blocked": True}, headers=ADMIN), 200)
    assert as_read(blocked) == {"date": "2026-03-09", "blocked": True, "windows": []}
    assert error_code(catalog.book(sv["id"], at(9)), 422) == "outside_availability"

    evening = expect(
        api.put(url, json={"windows": [{"start": "18:00", "end": "20:00"}]}, headers=ADMIN), 200
    )
    assert as_read(evening) == {
        "date": "2026-03-09",
        "blocked": False,
        "windows": [{"start": "18:00", "end": "20:00"}],
    }
    assert error_code(catalog.book(sv["id"], at(9)), 422) == "outside_availability"
    assert expect(catalog.book(sv["id"], at(18)), 201)["status"] == "confirmed"

    assert api.delete(url, headers=ADMIN).status_code == 204
    assert expect(catalog.book(sv["id"], at(9)), 201)["status"] == "confirmed"
    assert expect(api.get(f"/v1/specialists/{sp['id']}"), 200)["overrides"] == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"blocked": False},
        {"blocked": True, "windows": [{"start": "09:00", "end": "10:00"}]},
        {"windows": []},
        {"blocked": "maybe"},
    ],
)
def test_an_override_must_be_either_blocked_or_have_windows(
    api: TestClient, catalog: Catalog, body: dict[str, Any]
) -> None:
    sp = catalog.specialist()

    response = api.put(f"/v1/specialists/{sp['id']}/overrides/2026-03-09", json=body, headers=ADMIN)

    assert error_code(response, 422) == "validation_error"


def test_an_override_date_must_be_a_date(api: TestClient, catalog: Catalog) -> None:
    sp = catalog.specialist()

    for day in ("2026-02-30", "tomorrow", "09-03-2026"):
        response = api.put(
            f"/v1/specialists/{sp['id']}/overrides/{day}", json={"blocked": True}, headers=ADMIN
        )
        assert error_code(response, 422) == "validation_error"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/specialists/{id}", None),
        ("PUT", "/v1/specialists/{id}/schedule", {"weekly": []}),
        ("PUT", "/v1/specialists/{id}/overrides/2026-03-09", {"blocked": True}),
        ("DELETE", "/v1/specialists/{id}/overrides/2026-03-09", None),
        ("POST", "/v1/specialists/{id}/token", None),
        ("GET", "/v1/services/{id}", None),
        ("PATCH", "/v1/services/{id}", {"name": "Renamed"}),
        ("GET", "/v1/bookings/{id}", None),
        ("POST", "/v1/bookings/{id}/cancel", {}),
        ("POST", "/v1/bookings/{id}/reschedule", {"starts_at": "2026-03-09T10:00:00Z"}),
        ("POST", "/v1/bookings/{id}/approve", None),
        ("POST", "/v1/bookings/{id}/decline", None),
        ("POST", "/v1/bookings/{id}/complete", None),
        ("POST", "/v1/bookings/{id}/no-show", {"party": "client"}),
    ],
)
def test_an_unknown_id_is_404_not_found(api: TestClient, method: str, path: str, body: Any) -> None:
    response = api.request(method, path.format(id=uuid4()), json=body, headers=ADMIN)

    assert error_code(response, 404) == "not_found"


def test_a_service_for_an_unknown_specialist_is_404(api: TestClient) -> None:
    response = api.post(
        "/v1/services",
        json={"specialist_id": str(uuid4()), "name": "X", "duration_minutes": 30},
        headers=ADMIN,
    )

    assert error_code(response, 404) == "not_found"


# --- services -------------------------------------------------------------------------------


def test_defining_a_service_answers_201_with_its_documented_defaults(
    api: TestClient, catalog: Catalog
) -> None:
    sp = catalog.specialist()

    service = catalog.service(sp["id"], name="Check-up", duration_minutes=30)

    assert service["id"]
    assert {k: v for k, v in as_read(service).items() if k != "id"} == {
        "specialist_id": sp["id"],
        "name": "Check-up",
        "duration_minutes": 30,
        "slot_interval_minutes": None,
        "buffer_before_minutes": 0,
        "buffer_after_minutes": 0,
        "minimum_notice_minutes": 0,
        "max_advance_days": 60,
        "max_per_day": None,
        "cancellation_hours": 24,
        "requires_approval": False,
        "price": None,
        "currency": None,
        "questions": [],
        "reminders": None,
        "no_show_notice": None,
        "recording": "off",
        "waiting_room_minutes": 10,
    }
    assert expect(api.get(f"/v1/services/{service['id']}"), 200) == as_read(service)


def test_a_service_can_be_patched_field_by_field(api: TestClient, catalog: Catalog) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"], price="80.00", currency="EUR")

    patched = expect(
        api.patch(
            f"/v1/services/{sv['id']}",
            json={"slot_interval_minutes": 15, "price": None, "requires_approval": True},
            headers=ADMIN,
        ),
        200,
    )

    assert (patched["slot_interval_minutes"], patched["price"], patched["requires_approval"]) == (
        15,
        None,
        True,
    )
    assert (patched["name"], patched["currency"]) == (sv["name"], "EUR")
    assert expect(api.get(f"/v1/services/{sv['id']}"), 200) == as_read(patched)
    assert expect(catalog.book(sv["id"], at(9, 15)), 201)["status"] == "pending"


REMINDERS = [
    {"before_minutes": 3 * 24 * 60, "channels": ["email"], "to": ["client"], "join_link": False},
    {"before_minutes": 10, "channels": ["sms", "push"], "to": ["specialist"], "join_link": True},
]


def test_a_service_keeps_its_reminders_and_no_show_notice_until_a_patch_nulls_them(
    api: TestClient, catalog: Catalog
) -> None:
    sp = catalog.specialist()
    notice = "We missed you today.\nBook again at any time."
    sv = catalog.service(sp["id"], reminders=REMINDERS, no_show_notice=notice)

    assert (sv["reminders"], sv["no_show_notice"]) == (REMINDERS, notice)
    assert expect(api.get(f"/v1/services/{sv['id']}"), 200) == as_read(sv)
    [listed] = expect(api.get("/v1/services", params={"specialist_id": sp["id"]}), 200)["services"]
    assert listed == as_read(sv)

    quiet = expect(
        api.patch(f"/v1/services/{sv['id']}", json={"reminders": []}, headers=ADMIN), 200
    )
    assert (quiet["reminders"], quiet["no_show_notice"]) == ([], notice)
    defaults = expect(
        api.patch(
            f"/v1/services/{sv['id']}",
            json={"reminders": None, "no_show_notice": None},
            headers=ADMIN,
        ),
        200,
    )
    assert (defaults["reminders"], defaults["no_show_notice"]) == (None, None)
    [listed] = expect(api.get("/v1/services", params={"specialist_id": sp["id"]}), 200)["services"]
    assert listed == as_read(defaults)


def reminder(**fields: Any) -> dict[str, Any]:
    return {"before_minutes": 60, "channels": ["email"], "to": ["client"], **fields}


INVALID_REMINDERS = [
    [reminder(before_minutes=0)],
    [reminder(before_minutes=30 * 24 * 60 + 1)],
    [reminder(channels=[])],
    [reminder(to=[])],
    [reminder(channels=["fax"])],
    [reminder(to=["everyone"])],
    [reminder(channels=["sms", "sms"])],
    [reminder(), reminder(channels=["push"])],  # two reminders at the same offset
    [reminder(colour="red")],
]


@pytest.mark.parametrize(
    "changes",
    [
        {"name": None},
        {"duration_minutes": None},
        {"duration_minutes": 0},
        {"questions": None},
        {"colour": "red"},
        {"max_per_day": 0},
        {
            "questions": [
                {"key": "k", "label": "K", "type": "text"},
                {"key": "k", "label": "Again", "type": "text"},
            ]
        },
        *({"reminders": reminders} for reminders in INVALID_REMINDERS),
        {"no_show_notice": "nul\x00"},
    ],
)
def test_a_patch_that_nulls_a_required_field_or_breaks_a_rule_is_422(
    api: TestClient, catalog: Catalog, changes: dict[str, Any]
) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"])

    response = api.patch(f"/v1/services/{sv['id']}", json=changes, headers=ADMIN)

    assert error_code(response, 422) == "validation_error"
    assert expect(api.get(f"/v1/services/{sv['id']}"), 200) == as_read(sv)


@pytest.mark.parametrize(
    "fields",
    [
        {"duration_minutes": 0},
        {"duration_minutes": "an hour"},
        {"duration_minutes": 10**30},
        {"buffer_before_minutes": -5},
        {"max_advance_days": 0},
        {"currency": "eur"},
        {"price": "free"},
        {"questions": [{"key": "k", "label": "K", "type": "select", "required": True}]},
        {"questions": [{"key": "k", "label": "K", "type": "radio"}]},
        {
            "questions": [
                {"key": "k", "label": "K", "type": "text"},
                {"key": "k", "label": "Again", "type": "text"},
            ]
        },
        {"questions": [{"key": "has space", "label": "K", "type": "text"}]},
        {"colour": "red"},
        *({"reminders": reminders} for reminders in INVALID_REMINDERS),
        {"no_show_notice": "x" * 5001},
    ],
)
def test_an_invalid_service_definition_is_422(
    api: TestClient, catalog: Catalog, fields: dict[str, Any]
) -> None:
    sp = catalog.specialist()
    body = {"specialist_id": sp["id"], "name": "X", "duration_minutes": 30, **fields}

    assert error_code(api.post("/v1/services", json=body, headers=ADMIN), 422) == (
        "validation_error"
    )


# --- bookings -------------------------------------------------------------------------------


def test_booking_a_free_slot_answers_201_confirmed_with_a_manage_token(
    api: TestClient, catalog: Catalog
) -> None:
    sp = catalog.specialist()
    sv = catalog.service(
        sp["id"],
        duration_minutes=45,
        questions=[{"key": "reason", "label": "Reason", "type": "textarea", "required": True}],
    )
    body = booking_body(
        sv["id"],
        "2026-03-09T10:30:00+01:00",  # = 09:30Z... off the grid
        answers={"reason": "check-up"},
        notes="first visit",
    )
    assert error_code(api.post("/v1/bookings", json=body), 422) == "outside_availability"
    body["starts_at"] = "2026-03-09T10:45:00+01:00"  # = 09:45Z, the second slot

    created = expect(api.post("/v1/bookings", json=body), 201)

    assert created["status"] == "confirmed"
    assert (created["service_id"], created["specialist_id"]) == (sv["id"], sp["id"])
    assert (created["starts_at"], created["ends_at"]) == (
        "2026-03-09T09:45:00Z",
        "2026-03-09T10:30:00Z",
    )
    assert created["client"]["email"] == "ada@example.org"
    assert created["answers"] == {"reason": "check-up"}
    assert len(created["manage_token"]) >= 22  # at least 128 bits in URL-safe base64
    assert created["history"] == [{"status": "confirmed", "at": "2026-03-02T00:00:00Z"}]


def test_a_service_requiring_approval_answers_201_pending(catalog: Catalog) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"], requires_approval=True)

    assert expect(catalog.book(sv["id"], at(9)), 201)["status"] == "pending"


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("taken", 409, "slot_unavailable"),
        ("buffered", 409, "slot_unavailable"),
        ("outside", 422, "outside_availability"),
        ("too_soon", 422, "too_soon"),
        ("too_far", 422, "too_far"),
        ("day_full", 409, "day_full"),
        ("missing_answer", 422, "missing_answer"),
        ("bad_option", 422, "missing_answer"),
        ("unknown_service", 404, "not_found"),
    ],
)
def test_a_refused_booking_answers_its_documented_status_and_code(
    catalog: Catalog, clock: FrozenClock, case: str, status: int, code: str
) -> None:
    sp = catalog.specialist()
    sv = catalog.service(
        sp["id"],
        minimum_notice_minutes=120,
        max_advance_days=10,
        max_per_day=2,
        questions=[
            {
                "key": "kind",
                "label": "Kind",
                "type": "select",
                "required": False,
                "options": ["new", "follow-up"],
            }
        ],
    )
    catalog.booked(sv["id"], at(9))
    service_id, starts_at, extra = sv["id"], at(11), {}
    if case == "taken":
        starts_at = at(9)
    elif case == "buffered":  # free at 10:00, but its own before-buffer reaches 09:45
        buffered = catalog.service(sp["id"], name="Buffered", buffer_before_minutes=15)
        service_id, starts_at = buffered["id"], at(10)
    elif case == "outside":
        starts_at = at(17)
    elif case == "too_soon":
        clock.now = at(10)
    elif case == "too_far":
        starts_at = at(11, days=8)
    elif case == "day_full":
        catalog.booked(sv["id"], at(13))
    elif case == "missing_answer":
        required = catalog.service(
            sp["id"],
            name="Intake",
            questions=[{"key": "reason", "label": "Reason", "type": "text", "required": True}],
        )
        service_id, extra = required["id"], {"answers": {"other": "x"}}
    elif case == "bad_option":
        extra = {"answers": {"kind": "urgent"}}
    elif case == "unknown_service":
        service_id = str(uuid4())

    response = catalog.book(service_id, starts_at, **extra)

    assert error_code(response, status) == code


def test_reading_a_booking_shows_its_status_history(
    api: TestClient, catalog: Catalog, clock: FrozenClock
) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"], requires_approval=True)
    created = catalog.booked(sv["id"], at(9))
    clock.now = API_NOW + timedelta(hours=3)
    expect(api.post(f"/v1/bookings/{created['id']}/approve", headers=ADMIN), 200)

    booking = expect(
        api.get(f"/v1/bookings/{created['id']}", headers=bearer(created["manage_token"])), 200
    )

    assert booking["id"] == created["id"]
    assert booking["status"] == "confirmed"
    assert booking["history"] == [
        {"status": "pending", "at": "2026-03-02T00:00:00Z"},
        {"status": "confirmed", "at": "2026-03-02T03:00:00Z"},
    ]
    assert "manage_token" not in booking


def test_cancelling_answers_refund_eligibility_and_repeating_it_changes_nothing(
    api: TestClient, catalog: Catalog, clock: FrozenClock
) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"], cancellation_hours=48)
    early, late = catalog.booked(sv["id"], at(9)), catalog.booked(sv["id"], at(10))
    clock.now = at(9) - timedelta(hours=48)

    first = api.post(
        f"/v1/bookings/{early['id']}/cancel",
        json={"reason": "ill"},
        headers=bearer(early["manage_token"]),
    )
    clock.now = at(9) - timedelta(hours=1)
    again = api.post(f"/v1/bookings/{early['id']}/cancel", headers=bearer(early["manage_token"]))
    too_late = api.post(f"/v1/bookings/{late['id']}/cancel", headers=ADMIN)

    cancelled_at = expect(first, 200)["notification_id"]
    assert cancelled_at > late["notification_id"]  # the cancellation's own place in the log
    assert expect(first, 200) == {
        "status": "cancelled",
        "refund_eligible": True,
        "notification_id": cancelled_at,
    }
    # Repeating it changes nothing, not even the position.
    assert expect(again, 200) == expect(first, 200)
    assert expect(too_late, 200)["refund_eligible"] is False
    booking = expect(api.get(f"/v1/bookings/{early['id']}", headers=ADMIN), 200)
    assert booking["cancellation_reason"] == "ill"
    assert [h["status"] for h in booking["history"]] == ["confirmed", "cancelled"]
    clock.now = API_NOW
    assert expect(catalog.book(sv["id"], at(9)), 201)["status"] == "confirmed"


def test_rescheduling_answers_the_new_times_under_the_same_id_and_frees_the_old_slot(
    api: TestClient, catalog: Catalog
) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"])
    mine, other = catalog.booked(sv["id"], at(9)), catalog.booked(sv["id"], at(12))
    url = f"/v1/bookings/{mine['id']}/reschedule"
    token = bearer(mine["manage_token"])

    taken = api.post(url, json={"starts_at": "2026-03-09T12:00:00Z"}, headers=token)
    outside = api.post(url, json={"starts_at": "2026-03-09T20:00:00Z"}, headers=token)
    moved = api.post(url, json={"starts_at": "2026-03-10T14:00:00Z"}, headers=token)

    assert error_code(taken, 409) == "slot_unavailable"
    assert error_code(outside, 422) == "outside_availability"
    assert {k: expect(moved, 200)[k] for k in ("id", "starts_at", "ends_at", "status")} == {
        "id": mine["id"],
        "starts_at": "2026-03-10T14:00:00Z",
        "ends_at": "2026-03-10T15:00:00Z",
        "status": "confirmed",
    }
    assert other["id"] != mine["id"]
    assert expect(catalog.book(sv["id"], at(9)), 201)["status"] == "confirmed"
    assert error_code(catalog.book(sv["id"], at(14, days=1)), 409) == "slot_unavailable"


def test_approve_and_decline_act_on_pending_bookings_only(
    api: TestClient, catalog: Catalog
) -> None:
    sp = catalog.specialist()
    gated = catalog.service(sp["id"], requires_approval=True)
    direct = catalog.service(sp["id"], name="Walk-in", duration_minutes=30)
    to_approve, to_decline = catalog.booked(gated["id"], at(9)), catalog.booked(gated["id"], at(10))
    confirmed = catalog.booked(direct["id"], at(14))

    approved = expect(api.post(f"/v1/bookings/{to_approve['id']}/approve", headers=ADMIN), 200)
    declined = expect(
        api.post(
            f"/v1/bookings/{to_decline['id']}/decline", json={"reason": "on leave"}, headers=ADMIN
        ),
        200,
    )

    assert (approved["status"], declined["status"]) == ("confirmed", "declined")
    assert declined["cancellation_reason"] == "on leave"
    for action, booking in [
        ("approve", confirmed),
        ("decline", confirmed),
        ("approve", to_approve),
        ("decline", to_decline),
    ]:
        response = api.post(f"/v1/bookings/{booking['id']}/{action}", headers=ADMIN)
        assert error_code(response, 409) == "invalid_state"
    assert expect(catalog.book(gated["id"], at(10)), 201)["status"] == "pending"


def test_complete_and_no_show_close_a_confirmed_booking(
    api: TestClient, catalog: Catalog, clock: FrozenClock
) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"])
    done, missed = catalog.booked(sv["id"], at(9)), catalog.booked(sv["id"], at(10))
    clock.now = at(10, 15)  # a consultation is over, the other a grace period late

    completed = expect(api.post(f"/v1/bookings/{done['id']}/complete", headers=ADMIN), 200)
    no_show = expect(
        api.post(
            f"/v1/bookings/{missed['id']}/no-show", json={"party": "specialist"}, headers=ADMIN
        ),
        200,
    )

    assert completed["status"] == "completed"
    assert (no_show["status"], no_show["no_show_party"]) == ("no_show", "specialist")
    assert (
        error_code(api.post(f"/v1/bookings/{done['id']}/complete", headers=ADMIN), 409)
        == "invalid_state"
    )
    assert (
        error_code(api.post(f"/v1/bookings/{done['id']}/cancel", headers=ADMIN), 409)
        == "invalid_state"
    )


def test_complete_and_no_show_before_the_consultation_started_are_425_too_early(
    api: TestClient, catalog: Catalog, clock: FrozenClock
) -> None:
    sp = catalog.specialist()
    booking = catalog.booked(catalog.service(sp["id"])["id"], at(9))
    complete = f"/v1/bookings/{booking['id']}/complete"
    no_show = f"/v1/bookings/{booking['id']}/no-show"
    as_booked = expect(api.get(f"/v1/bookings/{booking['id']}", headers=ADMIN), 200)

    refusals = []
    for now in (API_NOW, at(9) - timedelta(seconds=1)):
        clock.now = now
        refusals += [
            api.post(complete, headers=ADMIN),
            api.post(no_show, json={"party": "client"}, headers=ADMIN),
        ]
    clock.now = at(9, 14)  # started, but inside the no-show grace period (15 minutes)
    refusals.append(api.post(no_show, json={"party": "client"}, headers=ADMIN))

    assert [error_code(r, 425) for r in refusals] == ["too_early"] * 5
    allowed_from = [r.json()["error"]["details"]["allowed_from"] for r in refusals]
    assert allowed_from == [iso(at(9)), iso(at(9, 15))] * 2 + [iso(at(9, 15))]
    assert expect(api.get(f"/v1/bookings/{booking['id']}", headers=ADMIN), 200) == as_booked
    assert expect(api.post(complete, headers=ADMIN), 200)["status"] == "completed"


def test_the_no_show_grace_period_is_a_setting(
    module_databases: Callable[[], str], redis_url: str, clock: FrozenClock
) -> None:
    settings = booking_settings(module_databases(), redis_url).model_copy(
        update={"no_show_grace_minutes": 40}
    )
    with TestClient(create_app(settings, clock=clock)) as api:
        catalog = Catalog(api)
        booking = catalog.booked(catalog.service(catalog.specialist()["id"])["id"], at(9))
        no_show = f"/v1/bookings/{booking['id']}/no-show"
        clock.now = at(9, 39)
        early = api.post(no_show, json={"party": "client"}, headers=ADMIN)
        clock.now = at(9, 40)
        marked = api.post(no_show, json={"party": "client"}, headers=ADMIN)

    assert error_code(early, 425) == "too_early"
    assert early.json()["error"]["details"] == {"allowed_from": iso(at(9, 40))}
    assert expect(marked, 200)["status"] == "no_show"


def test_a_started_consultation_is_in_progress_listed_so_and_can_only_be_finished(
    api: TestClient, catalog: Catalog, clock: FrozenClock
) -> None:
    sp = catalog.specialist()
    booking = catalog.booked(catalog.service(sp["id"])["id"], at(9))
    clock.now = at(8, 55)  # in the waiting room
    bookings: Bookings = api.app.state.booking.app  # type: ignore[attr-defined]
    bookings.start(UUID(booking["id"]), now=clock.now)  # what the video service will trigger
    path = f"/v1/bookings/{booking['id']}"

    shown = expect(api.get(path, headers=ADMIN), 200)
    listed = expect(
        api.get(
            "/v1/bookings",
            params={"specialist_id": sp["id"], "status": "in_progress"},
            headers=ADMIN,
        ),
        200,
    )
    cancel = api.post(f"{path}/cancel", headers=ADMIN)
    reschedule = api.post(f"{path}/reschedule", json={"starts_at": iso(at(11))}, headers=ADMIN)
    completed = api.post(f"{path}/complete", headers=ADMIN)

    assert shown["status"] == "in_progress"
    assert shown["history"][-1] == {"status": "in_progress", "at": iso(at(8, 55))}
    assert [b["id"] for b in listed["bookings"]] == [booking["id"]]
    assert error_code(cancel, 409) == "invalid_state"
    assert error_code(reschedule, 409) == "invalid_state"
    assert expect(completed, 200)["status"] == "completed"  # before 09:00: it is under way


def test_a_booking_not_decided_within_the_contention_timeout_is_503_busy_with_retry_after(
    module_databases: Callable[[], str], redis_url: str, clock: FrozenClock
) -> None:
    settings = booking_settings(module_databases(), redis_url).model_copy(
        update={"contention_timeout_seconds": 0}
    )
    app = create_app(settings, clock=clock)
    with TestClient(app) as api:
        catalog = Catalog(api)
        sp = catalog.specialist()
        sv = catalog.service(sp["id"])
        bookings: Bookings = app.state.booking.app
        ledger = DayLedger.create_id(UUID(sp["id"]), at(9).date().isoformat())
        # Another command of this process holds the day's ledger all along.
        holding, done = threading.Event(), threading.Event()
        key = f"busy-{uuid4()}"  # Redis outlives test runs

        def hold() -> None:
            with bookings.contention.locks.holding([ledger], time.monotonic() + 60):
                holding.set()
                done.wait()

        holder = threading.Thread(target=hold)
        holder.start()
        holding.wait()
        try:
            busy = catalog.book(sv["id"], at(9), key=key)
        finally:
            done.set()
            holder.join()
        retried = catalog.book(sv["id"], at(9), key=key)

    assert error_code(busy, 503) == "busy"
    assert busy.headers["Retry-After"] == "1"
    assert busy.json()["error"]["details"] == {"retry_after_seconds": 1}
    assert expect(retried, 201)["status"] == "confirmed"


def test_a_request_refused_for_a_taken_slot_makes_no_key_for_its_client(
    api: TestClient, catalog: Catalog
) -> None:
    """Only an accepted request reads (or makes) its client's key, so a refused one leaves
    the key store without a record of that person; except with an Idempotency-Key, whose
    fingerprint is digested under the key before the slot is tried."""
    service_id = catalog.service(catalog.specialist()["id"])["id"]
    booked, refused, keyed = (f"{who}-{uuid4().hex[:8]}@example.org" for who in "abc")
    keys = api.app.state.booking.personal.keys

    catalog.booked(service_id, at(9), client=client_body(email=booked))
    plain = catalog.book(service_id, at(9), client=client_body(email=refused))
    with_key = catalog.book(service_id, at(9), key=uuid4().hex, client=client_body(email=keyed))

    assert error_code(plain, 409) == "slot_unavailable"
    assert error_code(with_key, 409) == "slot_unavailable"
    assert keys.subject_of(booked) is not None
    assert keys.subject_of(refused) is None
    assert keys.subject_of(keyed) is not None


@pytest.mark.parametrize("body", [{}, {"party": "dog"}, {"party": None}, None])
def test_a_no_show_needs_client_or_specialist_as_the_party(
    api: TestClient, catalog: Catalog, body: Any
) -> None:
    sp = catalog.specialist()
    booking = catalog.booked(catalog.service(sp["id"])["id"], at(9))

    response = api.post(f"/v1/bookings/{booking['id']}/no-show", json=body, headers=ADMIN)

    assert error_code(response, 422) == "validation_error"


# --- idempotency ----------------------------------------------------------------------------


def _booking_count(api: TestClient, specialist_id: str) -> int:
    listed = expect(
        api.get("/v1/bookings", params={"specialist_id": specialist_id}, headers=ADMIN), 200
    )
    return len(listed["bookings"])


def test_the_same_key_and_body_answer_the_same_booking_again_and_book_once(
    api: TestClient, catalog: Catalog
) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"])
    key = f"retry-{uuid4()}"

    first = expect(catalog.book(sv["id"], at(9), key=key), 201)
    again = expect(catalog.book(sv["id"], at(9), key=key), 201)

    assert again["id"] == first["id"]
    assert {k: v for k, v in again.items() if k != "notification_id"} == {
        k: v for k, v in first.items() if k != "notification_id"
    }
    assert _booking_count(api, sp["id"]) == 1
    assert error_code(catalog.book(sv["id"], at(9)), 409) == "slot_unavailable"


def test_the_same_key_and_body_answer_exactly_the_same_201_body(catalog: Catalog) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"])
    key = f"retry-{uuid4()}"

    first = expect(catalog.book(sv["id"], at(9), key=key), 201)
    again = expect(catalog.book(sv["id"], at(9), key=key), 201)

    assert again == first


def test_the_same_key_with_another_body_is_422_idempotency_key_reused(
    api: TestClient, catalog: Catalog
) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"])
    key = f"reuse-{uuid4()}"
    catalog.booked(sv["id"], at(9), key=key)

    other_time = catalog.book(sv["id"], at(10), key=key)
    other_notes = catalog.book(sv["id"], at(9), key=key, notes="changed my mind")

    assert error_code(other_time, 422) == "idempotency_key_reused"
    assert error_code(other_notes, 422) == "idempotency_key_reused"
    assert _booking_count(api, sp["id"]) == 1


def test_the_same_instant_written_in_another_offset_is_the_same_body(catalog: Catalog) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"])
    key = f"offset-{uuid4()}"

    first = expect(catalog.book(sv["id"], "2026-03-09T09:00:00Z", key=key), 201)
    again = expect(catalog.book(sv["id"], "2026-03-09T10:00:00+01:00", key=key), 201)

    assert again["id"] == first["id"]


def test_a_refused_request_frees_its_key_for_a_corrected_retry(
    api: TestClient, catalog: Catalog
) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"])
    key = f"fix-{uuid4()}"

    assert error_code(catalog.book(sv["id"], at(8), key=key), 422) == "outside_availability"
    corrected = expect(catalog.book(sv["id"], at(9), key=key), 201)

    assert corrected["starts_at"] == "2026-03-09T09:00:00Z"
    assert _booking_count(api, sp["id"]) == 1


@pytest.mark.parametrize("key", ["k" * 256, "tab\tkey"])
def test_a_malformed_idempotency_key_is_refused(catalog: Catalog, key: str) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"])

    response = catalog.book(sv["id"], at(9), key=key)

    assert 400 <= response.status_code < 500
    assert error_code(response, response.status_code)


# --- bad input is a 4xx in the error shape, never a 5xx --------------------------------------

GOOD = {
    "service_id": "{service}",
    "starts_at": "2026-03-09T09:00:00Z",
    "client": {"name": "Ada", "email": "ada@example.org", "timezone": "UTC"},
}


def _with(**changes: Any) -> dict[str, Any]:
    body = {**GOOD, **changes}
    return {k: v for k, v in body.items() if v is not ...}


BAD_BOOKINGS = {
    "naive starts_at": _with(starts_at="2026-03-09T09:00:00"),
    "date only": _with(starts_at="2026-03-09"),
    "not a time": _with(starts_at="next tuesday"),
    "boolean time": _with(starts_at=True),
    "missing starts_at": _with(starts_at=...),
    "missing client": _with(client=...),
    "service id not a uuid": _with(service_id="42"),
    "service id a number": _with(service_id=42),
    "extra field": _with(coupon="FREE"),
    "extra client field": _with(client={**GOOD["client"], "age": 40}),
    "bad email": _with(client={**GOOD["client"], "email": "not-an-email"}),
    "unknown client zone": _with(client={**GOOD["client"], "timezone": "Mars/Base"}),
    "path client zone": _with(client={**GOOD["client"], "timezone": "../../etc/passwd"}),
    "empty name": _with(client={**GOOD["client"], "name": ""}),
    "answers not strings": _with(answers={"reason": 5}),
    "answers a list": _with(answers=["a"]),
    "notes too long": _with(notes="x" * 5001),
    "client a string": _with(client="ada"),
}


@pytest.mark.parametrize("body", list(BAD_BOOKINGS.values()), ids=list(BAD_BOOKINGS))
def test_a_malformed_booking_request_is_422_in_the_error_shape(
    as_deployed: TestClient, catalog: Catalog, body: dict[str, Any]
) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"])
    body = {k: (v.format(service=sv["id"]) if v == "{service}" else v) for k, v in body.items()}

    response = as_deployed.post("/v1/bookings", json=body)

    assert error_code(response, 422) == "validation_error"


@pytest.mark.parametrize(
    ("method", "path", "content"),
    [
        ("POST", "/v1/bookings", b"{not json"),
        ("POST", "/v1/bookings", b"[]"),
        ("POST", "/v1/bookings", b""),
        ("POST", "/v1/bookings", b"null"),
        ("POST", "/v1/specialists", b'{"name": 1}'),
        ("PUT", "/v1/specialists/{id}/schedule", b'{"weekly": "all week"}'),
        ("POST", "/v1/services", b'{"duration_minutes": 30.5}'),
        ("GET", "/v1/specialists/not-a-uuid", b""),
        ("GET", "/v1/bookings?status=lost", b""),
        ("GET", "/v1/bookings?from=yesterday", b""),
        ("GET", "/v1/bookings?limit=0", b""),
        ("GET", "/v1/bookings?specialist_id=42", b""),
        ("POST", "/v1/bookings/{id}/reschedule", b'{"starts_at": "2026-03-09T10:00:00"}'),
        ("POST", "/v1/bookings/{id}/cancel", b'{"reason": 42}'),
    ],
)
def test_bad_bodies_and_parameters_are_4xx_in_the_error_shape_never_5xx(
    as_deployed: TestClient, catalog: Catalog, method: str, path: str, content: bytes
) -> None:
    sp = catalog.specialist()
    booking = catalog.booked(catalog.service(sp["id"])["id"], at(9))
    target = path.format(id=booking["id"] if "bookings" in path else sp["id"])

    response = as_deployed.request(
        method, target, content=content, headers={**ADMIN, "Content-Type": "application/json"}
    )

    assert 400 <= response.status_code < 500, response.text
    assert error_code(response, response.status_code)


@pytest.mark.parametrize(
    "starts_at",
    [
        "9999-12-31T23:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:30:00+01:00",
    ],
)
def test_a_start_at_the_edge_of_the_calendar_is_a_4xx_not_a_500(
    as_deployed: TestClient, catalog: Catalog, starts_at: str
) -> None:
    sp = catalog.specialist()
    sv = catalog.service(sp["id"])

    response = as_deployed.post("/v1/bookings", json=booking_body(sv["id"], starts_at))

    assert 400 <= response.status_code < 500, response.text


# --- consultation history ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def history_api(
    module_databases: Callable[[], str], redis_url: str, module_clock: FrozenClock
) -> Iterator[TestClient]:
    """A second API on a database of its own, holding only the bookings of `history`."""
    app = create_app(booking_settings(module_databases(), redis_url), clock=module_clock)
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def history(history_api: TestClient, module_clock: FrozenClock) -> dict[str, Any]:
    """Two specialists' bookings: A has three (one cancelled, one pending), B has one."""
    module_clock.now = API_NOW
    catalog = Catalog(history_api)
    a, b = catalog.specialist(name="Dr. A"), catalog.specialist(name="Dr. B")
    a_direct = catalog.service(a["id"])
    a_gated = catalog.service(a["id"], name="Second opinion", requires_approval=True)
    b_direct = catalog.service(b["id"])
    ada, bob = (
        {"name": "Ada", "email": "ada@example.org", "timezone": "UTC"},
        {"name": "Bob", "email": "bob@example.org", "timezone": "UTC"},
    )
    bookings = {
        "a_ada": catalog.booked(a_direct["id"], at(9), client=ada),
        "a_bob": catalog.booked(a_direct["id"], at(10, days=1), client=bob),
        "a_pending": catalog.booked(a_gated["id"], at(11, days=2), client=bob),
        "b_ada": catalog.booked(b_direct["id"], at(9), client=ada),
    }
    expect(history_api.post(f"/v1/bookings/{bookings['a_bob']['id']}/cancel", headers=ADMIN), 200)
    return {"a": a, "b": b, **{name: booking["id"] for name, booking in bookings.items()}}


def _listed(api: TestClient, headers: dict[str, str], **params: str) -> list[str]:
    answer = expect(api.get("/v1/bookings", params=params, headers=headers), 200)
    return [b["id"] for b in answer["bookings"]]


def test_an_admin_lists_every_booking_by_start_time(
    history_api: TestClient, history: dict[str, Any]
) -> None:
    listed = expect(history_api.get("/v1/bookings", headers=ADMIN), 200)["bookings"]

    assert {b["id"] for b in listed} == {
        history["a_ada"],
        history["b_ada"],
        history["a_bob"],
        history["a_pending"],
    }
    assert [b["starts_at"] for b in listed] == sorted(b["starts_at"] for b in listed)
    summary = next(b for b in listed if b["id"] == history["a_bob"])
    assert summary == {
        "id": history["a_bob"],
        "status": "cancelled",
        "service_id": summary["service_id"],
        "specialist_id": history["a"]["id"],
        "starts_at": "2026-03-10T10:00:00Z",
        "ends_at": "2026-03-10T11:00:00Z",
        "client_name": "Bob",
        "client_email": "bob@example.org",
        "client_timezone": "UTC",
        "answers": {},
        "notes": None,
        "position": summary["position"],
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"specialist_id": "{a}"}, ["a_ada", "a_bob", "a_pending"]),
        ({"specialist_id": "{b}"}, ["b_ada"]),
        ({"client_email": "ADA@example.org"}, ["a_ada", "b_ada"]),
        ({"client_email": "bob@example.org", "specialist_id": "{a}"}, ["a_bob", "a_pending"]),
        ({"status": "cancelled"}, ["a_bob"]),
        ({"status": "pending"}, ["a_pending"]),
        ({"status": "confirmed", "specialist_id": "{a}"}, ["a_ada"]),
        ({"status": "completed"}, []),
        ({"from": "2026-03-10"}, ["a_bob", "a_pending"]),
        ({"from": "2026-03-10T10:00:01Z"}, ["a_pending"]),
        ({"to": "2026-03-10T10:00:00Z"}, ["a_ada", "b_ada"]),
        (
            {"from": "2026-03-09T09:00:00Z", "to": "2026-03-10T23:59:59Z"},
            ["a_ada", "b_ada", "a_bob"],
        ),
    ],
)
def test_the_history_filters_by_specialist_client_time_and_status(
    history_api: TestClient, history: dict[str, Any], params: dict[str, str], expected: list[str]
) -> None:
    query = {k: v.format(a=history["a"]["id"], b=history["b"]["id"]) for k, v in params.items()}

    assert sorted(_listed(history_api, ADMIN, **query)) == sorted(
        history[name] for name in expected
    )


def test_a_to_date_includes_its_whole_day(history_api: TestClient, history: dict[str, Any]) -> None:
    assert sorted(
        _listed(history_api, ADMIN, **{"from": "2026-03-09", "to": "2026-03-09"})
    ) == sorted([history["a_ada"], history["b_ada"]])


def test_a_specialist_lists_only_their_own_bookings(
    history_api: TestClient, history: dict[str, Any]
) -> None:
    as_b = bearer(specialist_jwt(history["b"]["id"]))

    assert _listed(history_api, as_b) == [history["b_ada"]]
    assert _listed(history_api, as_b, client_email="ada@example.org") == [history["b_ada"]]
    assert _listed(history_api, as_b, specialist_id=history["b"]["id"]) == [history["b_ada"]]
    response = history_api.get(
        "/v1/bookings", params={"specialist_id": history["a"]["id"]}, headers=as_b
    )
    assert error_code(response, 403) == "forbidden"


def test_the_list_carries_the_intake_answers_and_lists_what_changed_since(
    api: TestClient, catalog: Catalog
) -> None:
    sp = catalog.specialist()
    question = {"key": "reason", "label": "Why?", "type": "text", "required": True}
    sv = catalog.service(sp["id"], questions=[question], requires_approval=True)
    first = catalog.booked(sv["id"], at(9), answers={"reason": "a sore knee"}, notes="after 9")
    listed = expect(api.get("/v1/bookings", params={"specialist_id": sp["id"]}, headers=ADMIN), 200)
    [row] = listed["bookings"]
    assert (row["answers"], row["notes"], row["status"]) == (
        {"reason": "a sore knee"},
        "after 9",
        "pending",
    )
    seen = row["position"]
    assert _listed(api, ADMIN, specialist_id=sp["id"], changed_after=str(seen)) == []

    approved = expect(api.post(f"/v1/bookings/{first['id']}/approve", headers=ADMIN), 200)
    changed = expect(
        api.get(
            "/v1/bookings",
            params={"specialist_id": sp["id"], "changed_after": str(seen)},
            headers=ADMIN,
        ),
        200,
    )["bookings"]
    assert [(b["id"], b["status"]) for b in changed] == [(first["id"], "confirmed")]
    assert changed[0]["position"] == approved["notification_id"] > seen


def test_the_history_follows_reschedules(api: TestClient, catalog: Catalog) -> None:
    sp = catalog.specialist()
    booking = catalog.booked(catalog.service(sp["id"])["id"], at(9))

    expect(
        api.post(
            f"/v1/bookings/{booking['id']}/reschedule",
            json={"starts_at": "2026-03-11T15:00:00Z"},
            headers=ADMIN,
        ),
        200,
    )

    assert _listed(api, ADMIN, specialist_id=sp["id"], **{"from": "2026-03-11"}) == [booking["id"]]
    assert _listed(api, ADMIN, specialist_id=sp["id"], to="2026-03-10T23:59:59Z") == []


def test_a_schedule_for_every_day_makes_every_hour_bookable(catalog: Catalog) -> None:
    sp = catalog.specialist("Asia/Kathmandu", weekly=ALL_DAY_EVERY_DAY)
    sv = catalog.service(sp["id"], duration_minutes=60)

    # Local midnight in Kathmandu is 18:15Z the day before; slots start on the local hour.
    assert expect(catalog.book(sv["id"], "2026-03-07T23:15:00Z"), 201)["status"] == "confirmed"
    assert error_code(catalog.book(sv["id"], "2026-03-07T21:00:00Z"), 422) == (
        "outside_availability"
    )
