"""kairos.booking_client (how the other services call booking) against the real booking
API (the `api` fixture): a booking's token generation as revoking moves it, and what a
request handler answers when booking does not."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi.testclient import TestClient

from kairos.auth import ManageTokenClaim
from kairos.booking_client import BookingClient, request_generations
from kairos.effects import TransientEffectError
from kairos.web import ApiError
from tests.booking.conftest import API_NOW
from tests.booking.helpers import ADMIN, ADMIN_API_KEY, Catalog, bearer

pytestmark = [pytest.mark.integration]


def test_the_generation_moves_with_each_revocation_and_names_the_current_token(
    api: TestClient,
) -> None:
    catalog = Catalog(api)
    service = catalog.service(catalog.specialist()["id"])
    booked = catalog.booked(service["id"], API_NOW + timedelta(days=2, hours=10))
    booking_id, client = UUID(booked["id"]), BookingClient(api, ADMIN_API_KEY)

    assert client.token_generation(booking_id) == 0
    for expected in (1, 2):
        replaced = api.post(f"/v1/bookings/{booking_id}/manage-token", headers=ADMIN)
        assert replaced.status_code == 201
        assert client.token_generation(booking_id) == expected
        claim = ManageTokenClaim.of(replaced.json()["manage_token"])
        assert claim is not None and claim.generation == expected
        assert client.manage_tokens([booking_id]) == {booking_id: replaced.json()["manage_token"]}


def test_the_tokens_of_many_bookings_come_in_one_call_and_unknown_ids_are_left_out(
    api: TestClient,
) -> None:
    catalog = Catalog(api)
    service = catalog.service(catalog.specialist()["id"])
    booked = [
        catalog.booked(service["id"], API_NOW + timedelta(days=2, hours=9 + n)) for n in range(3)
    ]
    ids = [UUID(b["id"]) for b in booked]
    revoked = api.post(f"/v1/bookings/{ids[1]}/manage-token", headers=ADMIN).json()
    client = BookingClient(api, ADMIN_API_KEY)

    tokens = client.manage_tokens([*ids, uuid4()])

    assert tokens == {
        ids[0]: booked[0]["manage_token"],
        ids[1]: revoked["manage_token"],
        ids[2]: booked[2]["manage_token"],
    }
    assert client.manage_tokens([]) == {}


def test_only_an_admin_reads_the_generation(api: TestClient) -> None:
    path = f"/v1/bookings/{uuid4()}/manage-token/generation"
    assert api.get(path).status_code == 401
    assert api.get(path, headers=bearer("not-the-admin-key")).status_code == 401
    with pytest.raises(httpx.HTTPStatusError):
        BookingClient(api, "not-the-admin-key").token_generation(uuid4())


def test_a_booking_that_does_not_answer_is_a_retry_or_a_503_never_a_refusal() -> None:
    with httpx.Client(base_url="http://127.0.0.1:9", timeout=2) as nowhere:
        client = BookingClient(nowhere, ADMIN_API_KEY)
        with pytest.raises(TransientEffectError):
            client.token_generation(uuid4())
        with pytest.raises(ApiError) as refused:
            request_generations(client)(uuid4())
    assert refused.value.status == 503 and refused.value.code == "unavailable"
