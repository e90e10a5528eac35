"""The links in a client's messages come from the booking service when the message is
built (notifications.links): the manage token in them opens the booking, and once the
token is replaced the old link gets a 401 while the next message carries a working one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import unquote, urlsplit
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi.testclient import TestClient

from booking.main import create_app
from kairos.booking_client import BookingClient
from kairos.effects import TransientEffectError
from notifications.appointment import Links
from notifications.links import BookingLinks
from tests.booking.conftest import API_NOW, booking_settings
from tests.booking.helpers import ADMIN, ADMIN_API_KEY, Catalog, FrozenClock, bearer, expect

pytestmark = [pytest.mark.integration]

PUBLIC = "https://kairos.example"


@pytest.fixture
def api(fresh_database: Callable[[], str], redis_url: str) -> Iterator[TestClient]:
    with TestClient(
        create_app(booking_settings(fresh_database(), redis_url), clock=FrozenClock(API_NOW))
    ) as client:
        yield client


def _booked(api: TestClient) -> dict[str, str]:
    catalog = Catalog(api)
    service = catalog.service(catalog.specialist()["id"])
    return {
        str(k): str(v)
        for k, v in catalog.booked(service["id"], API_NOW + timedelta(days=2, hours=10)).items()
    }


def _token(link: str) -> str:
    fragment = urlsplit(link).fragment
    assert fragment.startswith("token=")
    return unquote(fragment.removeprefix("token="))


def test_a_clients_links_open_the_booking_until_its_token_is_replaced(api: TestClient) -> None:
    booking = _booked(api)
    booking_id, path = UUID(booking["id"]), f"/v1/bookings/{booking['id']}"
    links = BookingLinks(BookingClient(api, ADMIN_API_KEY), PUBLIC + "/")

    sent = links.links_for(booking_id, "client")

    assert sent.manage.startswith(f"{PUBLIC}/bookings/{booking_id}#token=")
    assert sent.join.startswith(f"{PUBLIC}/bookings/{booking_id}/join#token=")
    assert _token(sent.manage) == _token(sent.join) == booking["manage_token"]
    expect(api.get(path, headers=bearer(_token(sent.manage))), 200)

    expect(api.post(f"{path}/manage-token", headers=ADMIN), 201)

    assert api.get(path, headers=bearer(_token(sent.manage))).status_code == 401
    later = links.links_for(booking_id, "client")
    assert _token(later.manage) != _token(sent.manage)
    expect(api.get(path, headers=bearer(_token(later.manage))), 200)


def test_a_batch_asks_booking_once_and_a_booking_it_does_not_know_fails_alone(
    api: TestClient,
) -> None:
    booking, unknown = _booked(api), uuid4()
    booking_id = UUID(booking["id"])
    calls: list[str] = []
    api.event_hooks["request"].append(lambda request: calls.append(request.url.path))
    links = BookingLinks(BookingClient(api, ADMIN_API_KEY), PUBLIC)

    issued = links.links_of([(booking_id, "client"), (unknown, "client"), (unknown, "specialist")])

    assert calls == ["/v1/bookings/manage-tokens"]
    assert _token(issued.links_for(booking_id, "client").manage) == booking["manage_token"]
    assert issued.links_for(unknown, "specialist").manage == f"{PUBLIC}/bookings/{unknown}"
    with pytest.raises(LookupError):
        issued.links_for(unknown, "client")
    links.links_of([(booking_id, "specialist")])
    assert len(calls) == 1  # no client, no call


def test_a_specialists_links_carry_no_credential(api: TestClient) -> None:
    booking_id = uuid4()
    links = BookingLinks(BookingClient(api, ADMIN_API_KEY), PUBLIC)

    assert links.links_for(booking_id, "specialist") == Links(
        manage=f"{PUBLIC}/bookings/{booking_id}", join=f"{PUBLIC}/bookings/{booking_id}/join"
    )


def test_an_unknown_booking_is_an_error_and_an_unreachable_api_a_retry(api: TestClient) -> None:
    with pytest.raises(LookupError):
        BookingLinks(BookingClient(api, ADMIN_API_KEY), PUBLIC).links_for(uuid4(), "client")
    with (
        httpx.Client(base_url="http://127.0.0.1:9", timeout=2) as nowhere,
        pytest.raises(TransientEffectError),
    ):
        BookingLinks(BookingClient(nowhere, ADMIN_API_KEY), PUBLIC).links_for(uuid4(), "client")
