"""POST /v1/specialists/{id}/schedule/preview: the slots a schedule would offer, before
it is saved. It is checked as PUT …/schedule checks it, it counts the bookings and
overrides already there, and it saves nothing.

The clock is frozen at API_NOW, Monday 2026-03-02 00:00 UTC.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.booking.helpers import ADMIN, Catalog, bearer, error_code, expect, specialist_jwt

pytestmark = pytest.mark.integration

WEEK = {"from": "2026-03-02", "to": "2026-03-08"}
MONDAY_TEN_TO_NOON = [{"day": 0, "start": "10:00", "end": "12:00"}]


def preview(
    api: TestClient, specialist: dict[str, Any], service: dict[str, Any], **body: Any
) -> Any:
    return api.post(
        f"/v1/specialists/{specialist['id']}/schedule/preview",
        json={"service_id": service["id"], **WEEK, **body},
        headers=bearer(specialist_jwt(specialist["id"])),
    )


def starts(answer: dict[str, Any]) -> list[str]:
    return [slot["start"] for slot in answer["slots"]]


def test_the_preview_offers_the_proposed_hours_and_saves_nothing(
    api: TestClient, catalog: Catalog
) -> None:
    specialist = catalog.specialist()  # weekdays 09:00-17:00 UTC
    service = catalog.service(specialist["id"])

    answer = expect(preview(api, specialist, service, weekly=MONDAY_TEN_TO_NOON), 200)

    assert answer["service_id"] == service["id"]
    assert answer["timezone"] == "UTC"
    assert starts(answer) == ["2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z"]
    saved = expect(api.get(f"/v1/specialists/{specialist['id']}"), 200)
    assert len(saved["weekly"]) == 5 and saved["weekly"][0]["start"] == "09:00"


def test_the_preview_counts_bookings_and_overrides_already_made(
    api: TestClient, catalog: Catalog
) -> None:
    specialist = catalog.specialist()
    service = catalog.service(specialist["id"])
    catalog.booked(service["id"], "2026-03-02T10:00:00Z")
    day_off = {"blocked": True}
    expect(
        api.put(
            f"/v1/specialists/{specialist['id']}/overrides/2026-03-03", json=day_off, headers=ADMIN
        ),
        200,
    )
    weekly = [*MONDAY_TEN_TO_NOON, {"day": 1, "start": "10:00", "end": "12:00"}]

    answer = expect(preview(api, specialist, service, weekly=weekly), 200)

    # Monday 10:00 is booked, Tuesday is a day off.
    assert starts(answer) == ["2026-03-02T11:00:00Z"]


def test_the_preview_answers_in_the_proposed_zone(api: TestClient, catalog: Catalog) -> None:
    specialist = catalog.specialist()
    service = catalog.service(specialist["id"])

    answer = expect(
        preview(api, specialist, service, timezone="Europe/Berlin", weekly=MONDAY_TEN_TO_NOON), 200
    )

    assert answer["timezone"] == "Europe/Berlin"
    assert starts(answer) == ["2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"]
    assert answer["slots"][0]["local_start"] == "2026-03-02T10:00:00+01:00"


def test_a_schedule_put_would_refuse_is_refused_with_the_same_error(
    api: TestClient, catalog: Catalog
) -> None:
    specialist = catalog.specialist()
    service = catalog.service(specialist["id"])
    overlapping = [*MONDAY_TEN_TO_NOON, {"day": 0, "start": "11:00", "end": "13:00"}]

    previewed = preview(api, specialist, service, weekly=overlapping)
    put = api.put(
        f"/v1/specialists/{specialist['id']}/schedule", json={"weekly": overlapping}, headers=ADMIN
    )

    assert error_code(previewed, 422) == error_code(put, 422) == "invalid_schedule"
    assert previewed.json()["error"]["message"] == put.json()["error"]["message"]


def test_a_range_over_62_days_is_422_invalid_range(api: TestClient, catalog: Catalog) -> None:
    specialist = catalog.specialist()
    service = catalog.service(specialist["id"])

    answer = preview(api, specialist, service, weekly=[], to="2026-06-30")

    assert error_code(answer, 422) == "invalid_range"


def test_only_the_specialist_previews_and_only_their_own_services(
    api: TestClient, catalog: Catalog
) -> None:
    specialist, other = catalog.specialist(), catalog.specialist()
    service, theirs = catalog.service(specialist["id"]), catalog.service(other["id"])
    path = f"/v1/specialists/{specialist['id']}/schedule/preview"
    body = {"service_id": service["id"], **WEEK, "weekly": MONDAY_TEN_TO_NOON}

    as_other = api.post(path, json=body, headers=bearer(specialist_jwt(other["id"])))
    anonymous = api.post(path, json=body)
    their_service = preview(api, specialist, theirs, weekly=MONDAY_TEN_TO_NOON)

    assert error_code(as_other, 403) == "forbidden"
    assert error_code(anonymous, 401) == "unauthorized"
    assert error_code(their_service, 404) == "not_found"
