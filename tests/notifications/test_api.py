"""The notifications API in-process, beside the booking API it asks for manage tokens:
a booking's invite for each caller, the push key and subscriptions and who may remove
them, Twilio's signed status callback, and the OpenAPI document of all of it."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from icalendar import Calendar
from psycopg_pool import ConnectionPool
from py_vapid import Vapid
from twilio.request_validator import RequestValidator

from booking.main import create_app as create_booking_app
from kairos_dev.testing.services import TEST_SECRETS
from notifications.config import NotificationsSettings
from notifications.invite import invite_uid
from notifications.main import create_app
from notifications.tables import create_tables, save_booking
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
from tests.notifications.bookings import sealed
from tests.notifications.samples import personal_data, snapshot

pytestmark = [pytest.mark.integration]

TWILIO_TOKEN = "test-twilio-token-0123456789abcdef"
CALLBACK = "https://kairos.example/v1/notifications/twilio/status"


def _vapid_key() -> str:
    vapid = Vapid()
    vapid.generate_keys()
    raw = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass
class Apis:
    booking: TestClient
    notifications: TestClient
    database: str

    def booked(self) -> dict[str, Any]:
        """A booking made through the booking API, as the notifications consumer keeps it."""
        catalog = Catalog(self.booking)
        service = catalog.service(catalog.specialist()["id"])
        made = catalog.booked(service["id"], API_NOW + timedelta(days=2, hours=10))
        with ConnectionPool(self.database, min_size=1, max_size=1) as pool:
            booked = snapshot(made["starts_at"] and API_NOW + timedelta(days=2, hours=10))
            specialist = booked.specialist.model_copy(
                update={"specialist_id": UUID(made["specialist_id"])}
            )
            booked = sealed(
                booked.model_copy(update={"specialist": specialist}), personal_data(pool)
            )
            with pool.connection() as conn:
                create_tables(conn)
                save_booking(conn, UUID(made["id"]), booked, sequence=2, at=API_NOW)
        return dict(made)


@pytest.fixture
def apis(fresh_database: Callable[[], str], redis_url: str) -> Iterator[Apis]:
    database = fresh_database()
    booking_app = create_booking_app(
        booking_settings(database, redis_url), clock=FrozenClock(API_NOW)
    )
    with TestClient(booking_app) as booking:
        settings = NotificationsSettings(
            database_url=database,
            redis_url=redis_url,
            kafka_bootstrap_servers="unused:9092",
            privacy_database_url=database,
            booking_api_url="http://testserver",
            public_url="https://kairos.example",
            vapid_private_key=_vapid_key(),
            vapid_subject="mailto:ops@kairos.example",
            twilio_account_sid="AC" + "1" * 32,
            twilio_auth_token=TWILIO_TOKEN,
            twilio_from="+15005550006",
            twilio_status_callback_url=CALLBACK,
            **{k.lower(): v for k, v in TEST_SECRETS.items()},
        )
        with TestClient(create_app(settings, booking_http=booking)) as notifications:
            yield Apis(booking, notifications, database)


def test_the_invite_is_served_to_the_token_holder_its_specialist_and_an_admin(apis: Apis) -> None:
    made = apis.booked()
    path = f"/v1/bookings/{made['id']}/invite.ics"
    api = apis.notifications

    response = api.get(path, headers=bearer(made["manage_token"]))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    (event,) = calendar.events
    assert calendar["METHOD"] == "PUBLISH"
    assert str(event["UID"]) == invite_uid(UUID(made["id"])) and event["SEQUENCE"] == 2
    assert str(event["URL"]).endswith(f"#token={made['manage_token']}")
    assert "Dr. Priya Rao" in response.text  # the sealed organiser, opened
    expect_ok = [ADMIN, bearer(specialist_jwt(made["specialist_id"]))]
    for headers in expect_ok:
        assert api.get(path, headers=headers).status_code == 200
    assert error_code(api.get(path, headers=bearer(specialist_jwt(str(uuid4())))), 403)
    another_bookings = bearer(apis.booked()["manage_token"])
    assert error_code(api.get(path, headers=another_bookings), 403) == "forbidden"
    assert error_code(api.get(path), 401) == "unauthorized"
    assert error_code(api.get(f"/v1/bookings/{uuid4()}/invite.ics", headers=ADMIN), 404)


def test_a_replaced_manage_token_no_longer_opens_the_invite(apis: Apis) -> None:
    made = apis.booked()
    path = f"/v1/bookings/{made['id']}/invite.ics"
    new = expect(apis.booking.post(f"/v1/bookings/{made['id']}/manage-token", headers=ADMIN), 201)[
        "manage_token"
    ]

    assert error_code(apis.notifications.get(path, headers=bearer(made["manage_token"])), 401)
    assert apis.notifications.get(path, headers=bearer(new)).status_code == 200


def test_push_subscriptions_belong_to_the_booking_or_the_specialist(apis: Apis) -> None:
    made = apis.booked()
    api = apis.notifications
    key = expect(api.get("/v1/push/vapid-public-key"), 200)["key"]
    assert len(base64.urlsafe_b64decode(key + "==")) == 65  # an uncompressed P-256 point
    body = {"endpoint": "https://push.example/s/1", "keys": {"p256dh": "BP", "auth": "au"}}
    client, specialist = bearer(made["manage_token"]), bearer(specialist_jwt(made["specialist_id"]))

    mine = expect(
        api.post("/v1/push/subscriptions", json={**body, "booking_id": made["id"]}, headers=client),
        201,
    )["id"]
    theirs = expect(api.post("/v1/push/subscriptions", json=body, headers=specialist), 201)["id"]

    # The token proves its holder, who subscribes only for the booking it names.
    assert error_code(api.post("/v1/push/subscriptions", json=body, headers=client), 403)
    assert error_code(api.post("/v1/push/subscriptions", json=body, headers=ADMIN), 403)
    assert error_code(api.delete(f"/v1/push/subscriptions/{mine}", headers=specialist), 403)
    # A manage token's holder owns nothing of a specialist's.
    assert error_code(api.delete(f"/v1/push/subscriptions/{theirs}", headers=client), 403)
    assert api.delete(f"/v1/push/subscriptions/{mine}", headers=client).status_code == 204
    assert api.delete(f"/v1/push/subscriptions/{theirs}", headers=specialist).status_code == 204
    assert error_code(api.delete(f"/v1/push/subscriptions/{mine}", headers=client), 404)


def test_twilio_status_callbacks_are_believed_only_when_signed(apis: Apis) -> None:
    effect = str(uuid4())
    form = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    url = f"{CALLBACK}?effect={effect}"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    path = f"/v1/notifications/twilio/status?effect={effect}"

    genuine = apis.notifications.post(path, data=form, headers={"X-Twilio-Signature": signature})
    forged = apis.notifications.post(
        path, data={**form, "MessageStatus": "failed"}, headers={"X-Twilio-Signature": signature}
    )

    assert genuine.status_code == 204
    assert error_code(forged, 403) == "forbidden"


def test_the_openapi_document_describes_every_route_its_credentials_and_errors(
    apis: Apis,
) -> None:
    document = expect(apis.notifications.get("/openapi.json"), 200)
    invite_get = document["paths"]["/v1/bookings/{booking_id}/invite.ics"]["get"]
    subscribe = document["paths"]["/v1/push/subscriptions"]["post"]

    assert {"200", "401", "403", "404"} <= set(invite_get["responses"])
    assert "text/calendar" in invite_get["responses"]["200"]["content"]
    assert invite_get["security"] == [{"adminKey": []}, {"specialistJwt": []}, {"manageToken": []}]
    assert subscribe["security"] == [{"specialistJwt": []}, {"manageToken": []}]
    assert {"201", "401", "403", "422"} <= set(subscribe["responses"])
    assert "/v1/push/vapid-public-key" in document["paths"]
    assert "/v1/push/subscriptions/{subscription_id}" in document["paths"]
