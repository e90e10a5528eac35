"""A booking's manage token can be revoked (booking.manage_tokens): replacing it ends
every earlier token, the one the booking's 201 gave and those in e-mails already sent;
the notifications service reads the current one with the admin key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.booking.conftest import API_NOW
from tests.booking.helpers import ADMIN, Catalog, bearer, error_code, expect, specialist_jwt

pytestmark = pytest.mark.integration


def _booking(catalog: Catalog) -> dict[str, object]:
    specialist = catalog.specialist()
    service = catalog.service(specialist["id"])
    return catalog.booked(service["id"], API_NOW + timedelta(days=2, hours=10))


def test_a_replaced_token_opens_nothing_and_the_new_one_does(
    api: TestClient, catalog: Catalog
) -> None:
    booking = _booking(catalog)
    path = f"/v1/bookings/{booking['id']}"
    first = str(booking["manage_token"])
    expect(api.get(path, headers=bearer(first)), 200)

    second = expect(api.post(f"{path}/manage-token", headers=bearer(first)), 201)["manage_token"]
    third = expect(api.post(f"{path}/manage-token", headers=ADMIN), 201)["manage_token"]

    assert len({first, second, third}) == 3
    for revoked in (first, second):
        assert error_code(api.get(path, headers=bearer(revoked)), 401) == "unauthorized"
        assert error_code(api.post(f"{path}/cancel", json={}, headers=bearer(revoked)), 401)
    expect(api.get(path, headers=bearer(third)), 200)
    assert expect(api.get(f"{path}/manage-token", headers=ADMIN), 200) == {"manage_token": third}
    # A revoked token proves no one anywhere, not even the holder of another booking.
    elsewhere = f"/v1/bookings/{_booking(catalog)['id']}"
    assert error_code(api.get(elsewhere, headers=bearer(first)), 401) == "unauthorized"
    assert error_code(api.get(elsewhere, headers=bearer(third)), 403) == "forbidden"


def test_only_an_admin_reads_the_token_and_a_specialist_cannot_replace_it(
    api: TestClient, catalog: Catalog
) -> None:
    booking = _booking(catalog)
    path = f"/v1/bookings/{booking['id']}/manage-token"
    specialist = bearer(specialist_jwt(str(booking["specialist_id"])))

    # A manage token proves its holder, who may not read the token (only an admin may).
    holder = bearer(str(booking["manage_token"]))
    assert error_code(api.get(path, headers=holder), 403) == "forbidden"
    assert error_code(api.get(path, headers=specialist), 403) == "forbidden"
    assert error_code(api.post(path, headers=specialist), 403) == "forbidden"
    assert error_code(api.get(path), 401) == "unauthorized"
    unknown = "/v1/bookings/00000000-0000-4000-8000-000000000000/manage-token"
    assert error_code(api.get(unknown, headers=ADMIN), 404) == "not_found"


def test_an_admin_reads_the_tokens_of_many_bookings_at_once(
    api: TestClient, catalog: Catalog
) -> None:
    first, second = _booking(catalog), _booking(catalog)
    unknown = "00000000-0000-4000-8000-000000000000"
    # A service's id names no booking either.
    service = str(first["service_id"])
    wanted = [first["id"], second["id"], first["id"], unknown, service]

    found = expect(
        api.post("/v1/bookings/manage-tokens", json={"booking_ids": wanted}, headers=ADMIN), 200
    )

    assert found == {
        "manage_tokens": {
            first["id"]: first["manage_token"],
            second["id"]: second["manage_token"],
        },
        "not_found": [unknown, service],
    }


def test_only_an_admin_reads_many_tokens_and_the_list_is_bounded(
    api: TestClient, catalog: Catalog
) -> None:
    booking = _booking(catalog)
    path, wanted = "/v1/bookings/manage-tokens", {"booking_ids": [booking["id"]]}
    holder = bearer(str(booking["manage_token"]))
    specialist = bearer(specialist_jwt(str(booking["specialist_id"])))

    assert error_code(api.post(path, json=wanted), 401) == "unauthorized"
    assert error_code(api.post(path, json=wanted, headers=holder), 403) == "forbidden"
    assert error_code(api.post(path, json=wanted, headers=specialist), 403) == "forbidden"
    too_many = {"booking_ids": [booking["id"]] * 501}
    for body in ({"booking_ids": []}, too_many, {"booking_ids": ["not-an-id"]}):
        assert error_code(api.post(path, json=body, headers=ADMIN), 422)
