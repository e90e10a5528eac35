"""Control characters are refused at the API edge, so nothing stored can poison a list.

A NUL in a client name used to be accepted; from then on every GET /v1/specialists and
GET /v1/bookings answered 500, for everyone, because the query tables can't hold it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from booking.main import create_app
from tests.booking.conftest import API_NOW, booking_settings
from tests.booking.helpers import (
    ADMIN,
    Catalog,
    FrozenClock,
    bearer,
    booking_body,
    client_body,
    error_code,
    expect,
    specialist_jwt,
)

pytestmark = pytest.mark.integration

MONDAY_9 = datetime(2026, 3, 9, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def api(module_databases: Callable[[], str], redis_url: str) -> Iterator[TestClient]:
    app = create_app(booking_settings(module_databases(), redis_url), clock=FrozenClock(API_NOW))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def offer(api: TestClient) -> dict[str, Any]:
    """A bookable service with a textarea question, and one booking already made."""
    catalog = Catalog(api)
    specialist = catalog.specialist()
    service = catalog.service(
        specialist["id"], questions=[{"key": "topic", "label": "Topic", "type": "textarea"}]
    )
    catalog.booked(service["id"], MONDAY_9)
    return {"specialist": specialist, "service": service}


def still_listed(api: TestClient) -> None:
    """The lists every user depends on still answer."""
    assert expect(api.get("/v1/specialists"), 200)["specialists"]
    assert expect(api.get("/v1/bookings", headers=ADMIN), 200)["bookings"]


POISONED_BODIES = {
    "client name": lambda o: ("POST", "/v1/bookings", _booking(o, client=client_body("Le\x00e"))),
    "client name, a line break": lambda o: (
        "POST",
        "/v1/bookings",
        _booking(o, client=client_body("Le\ne")),
    ),
    "client e-mail": lambda o: (
        "POST",
        "/v1/bookings",
        _booking(o, client=client_body(email="le\x00e@example.org")),
    ),
    "notes": lambda o: ("POST", "/v1/bookings", _booking(o, notes="a\x00b")),
    "answer": lambda o: ("POST", "/v1/bookings", _booking(o, answers={"topic": "\x00"})),
    "answer key": lambda o: ("POST", "/v1/bookings", _booking(o, answers={"to\x00pic": "x"})),
    "specialist name": lambda o: (
        "POST",
        "/v1/specialists",
        {"name": "Dr.\x00Grey", "email": "nul@example.org", "timezone": "UTC"},
    ),
    "specialist bio": lambda o: (
        "POST",
        "/v1/specialists",
        {"name": "Dr. Grey", "email": "nul@example.org", "timezone": "UTC", "bio": "\x00"},
    ),
    "specialty, a C1 control": lambda o: (
        "POST",
        "/v1/specialists",
        {"name": "Dr. Grey", "email": "c1@example.org", "timezone": "UTC", "specialty": "\x85"},
    ),
    "time zone": lambda o: (
        "PUT",
        f"/v1/specialists/{o['specialist']['id']}/schedule",
        {"timezone": "UTC\x00", "weekly": []},
    ),
    "service name": lambda o: (
        "POST",
        "/v1/services",
        {"specialist_id": o["specialist"]["id"], "name": "Talk\x00", "duration_minutes": 30},
    ),
    "question label": lambda o: (
        "POST",
        "/v1/services",
        {
            "specialist_id": o["specialist"]["id"],
            "name": "Talk",
            "duration_minutes": 30,
            "questions": [{"key": "k", "label": "\x1b[31m", "type": "text"}],
        },
    ),
    "renamed service": lambda o: ("PATCH", f"/v1/services/{o['service']['id']}", {"name": "\x00"}),
    "cancellation reason": lambda o: ("POST", "/v1/bookings/{booking}/cancel", {"reason": "\x00"}),
}


def _booking(offer: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return booking_body(offer["service"]["id"], MONDAY_9 + timedelta(hours=1), **fields)


@pytest.mark.parametrize("field", sorted(POISONED_BODIES))
def test_a_control_character_in_a_text_field_is_422_and_every_list_still_answers(
    api: TestClient, offer: dict[str, Any], field: str
) -> None:
    method, path, body = POISONED_BODIES[field](offer)
    if "{booking}" in path:
        path = path.format(booking=Catalog(api).booked(offer["service"]["id"], _free_start())["id"])

    response = api.request(method, path, json=body, headers=ADMIN)

    assert error_code(response, 422) == "validation_error"
    still_listed(api)


def test_a_specialist_renaming_their_own_service_with_a_nul_is_422(
    api: TestClient, offer: dict[str, Any]
) -> None:
    own = bearer(specialist_jwt(offer["specialist"]["id"]))

    response = api.patch(
        f"/v1/services/{offer['service']['id']}", json={"name": "a\x00"}, headers=own
    )

    assert error_code(response, 422) == "validation_error"
    assert expect(api.get(f"/v1/services/{offer['service']['id']}"), 200)["name"] == "Consultation"


@pytest.mark.parametrize(
    "query",
    [
        "/v1/bookings?client_email=a%00b",
        "/v1/bookings?client_email=a%0Ab",
        "/v1/bookings?from=2026-03-09%00",
        "/v1/bookings?to=%00",
        "/v1/specialists?cursor=%00",
        "/v1/services?specialist_id=a%00b",
        "/v1/specialists/a%00b",
    ],
)
def test_a_control_character_in_a_query_or_path_parameter_is_422(
    api: TestClient, offer: dict[str, Any], query: str
) -> None:
    assert error_code(api.get(query, headers=ADMIN), 422) == "validation_error"
    still_listed(api)


def test_free_text_keeps_its_tabs_and_line_breaks(api: TestClient, offer: dict[str, Any]) -> None:
    text = "first line\r\n\tsecond line\n"
    booked = Catalog(api).booked(
        offer["service"]["id"], _free_start(), notes=text, answers={"topic": text}
    )
    registered = expect(
        api.post(
            "/v1/specialists",
            json={"name": "Dr. Tab", "email": "tab@example.org", "timezone": "UTC", "bio": text},
            headers=ADMIN,
        ),
        201,
    )

    assert (booked["notes"], booked["answers"]["topic"], registered["bio"]) == (text, text, text)
    still_listed(api)


_starts = iter(range(1, 200))


def _free_start() -> datetime:
    """A weekday hour no other test of the module books."""
    n = next(_starts)
    return MONDAY_9 + timedelta(days=7 * (n // 8) + 1, hours=n % 8)
