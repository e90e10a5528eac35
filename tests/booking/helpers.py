"""Driving the booking HTTP API in tests: credentials, a frozen clock and catalog set-up.

`Catalog` works with anything that speaks like an httpx client: fastapi's TestClient
in-process, or an `httpx.Client` against a running booking process.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

import httpx
from psycopg_pool import ConnectionPool

from booking.domain import ServiceTerms
from booking.schemas import ServiceFields
from kairos.auth import Authenticator
from kairos.privacy import KeyStore, PersonalData
from kairos_dev.testing.services import TEST_SECRETS

# The secrets every test-started service process gets (kairos_dev.testing.service_env).
ADMIN_API_KEY = TEST_SECRETS["ADMIN_API_KEY"]
JWT_SECRET = TEST_SECRETS["JWT_SECRET"]
MANAGE_TOKEN_SECRET = TEST_SECRETS["MANAGE_TOKEN_SECRET"]

WEEKDAYS_NINE_TO_FIVE = [{"day": d, "start": "09:00", "end": "17:00"} for d in range(5)]
ALL_DAY_EVERY_DAY = [{"day": d, "start": "00:00", "end": "24:00"} for d in range(7)]


CONSULTATION = {"name": "Consultation", "duration_minutes": 60}
"""What every test's service starts from: a one-hour service, the rest as the API defaults."""


def service_terms(**overrides: Any) -> ServiceTerms:
    """The CONSULTATION with the API's defaults (read from the schema, so they are written
    once), then `overrides`: what Bookings.define_service takes."""
    return replace(ServiceFields.model_validate(CONSULTATION).terms(), **overrides)


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


ADMIN = bearer(ADMIN_API_KEY)


def specialist_jwt(specialist_id: str, now: datetime | None = None) -> str:
    """A specialist's JWT signed with the test secret, valid from `now` (default: the real now).

    JWTs are checked against the real clock, so tests whose service runs on a frozen clock
    mint them here rather than through POST /v1/specialists/{id}/token.
    """
    auth = Authenticator(ADMIN_API_KEY, JWT_SECRET, MANAGE_TOKEN_SECRET)
    return auth.specialist_token(UUID(specialist_id), now or datetime.now(UTC))


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


class FrozenClock:
    """The service's clock in tests: it reads `now`, which the test sets."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Http(Protocol):
    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response: ...


def client_body(
    name: str = "Ada Lovelace", email: str = "ada@example.org", timezone: str = "Europe/London"
) -> dict[str, Any]:
    return {"name": name, "email": email, "timezone": timezone}


def booking_body(service_id: str, starts_at: datetime | str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service_id": service_id,
        "starts_at": starts_at if isinstance(starts_at, str) else iso(starts_at),
        "client": client_body(),
    }
    body.update(extra)
    return body


def expect(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.content else None


def error_code(response: httpx.Response, status: int) -> str:
    """The documented error shape's code, after checking the status and the shape."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    code: str = body["error"]["code"]
    return code


@dataclass
class Catalog:
    """Sets up specialists and services through the API with the admin key."""

    http: Http

    def specialist(
        self, timezone: str = "UTC", weekly: list[dict[str, Any]] | None = None, **fields: Any
    ) -> dict[str, Any]:
        body = {
            "name": "Dr. Grey",
            "email": f"grey-{uuid4().hex[:8]}@example.org",
            "timezone": timezone,
            **fields,
        }
        created = expect(
            self.http.request("POST", "/v1/specialists", json=body, headers=ADMIN), 201
        )
        schedule = {"weekly": WEEKDAYS_NINE_TO_FIVE if weekly is None else weekly}
        expect(
            self.http.request(
                "PUT", f"/v1/specialists/{created['id']}/schedule", json=schedule, headers=ADMIN
            ),
            200,
        )
        return dict(created)

    def service(self, specialist_id: str, **fields: Any) -> dict[str, Any]:
        body = {"specialist_id": specialist_id, **CONSULTATION, **fields}
        return dict(
            expect(self.http.request("POST", "/v1/services", json=body, headers=ADMIN), 201)
        )

    def team(
        self, size: int, weekly: list[dict[str, Any]] | None = None, **fields: Any
    ) -> tuple[dict[str, Any], list[str]]:
        """A team of `size` new specialists (working all day, every day, unless `weekly`
        says otherwise), and their ids."""
        hours = ALL_DAY_EVERY_DAY if weekly is None else weekly
        members = [self.specialist(weekly=hours)["id"] for _ in range(size)]
        body = {"name": "Partners", "members": [{"specialist_id": m} for m in members], **fields}
        team = expect(self.http.request("POST", "/v1/teams", json=body, headers=ADMIN), 201)
        return team, members

    def team_service(self, team_id: str, assignment: str, **fields: Any) -> dict[str, Any]:
        body = {"team_id": team_id, "assignment": assignment, **CONSULTATION, **fields}
        return dict(
            expect(self.http.request("POST", "/v1/services", json=body, headers=ADMIN), 201)
        )

    def specialist_token(self, specialist_id: str) -> str:
        minted = expect(
            self.http.request("POST", f"/v1/specialists/{specialist_id}/token", headers=ADMIN), 200
        )
        token: str = minted["token"]
        return token

    def book(
        self, service_id: str, starts_at: datetime | str, key: str | None = None, **extra: Any
    ) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return self.http.request(
            "POST",
            "/v1/bookings",
            json=booking_body(service_id, starts_at, **extra),
            headers=headers,
        )

    def booked(self, service_id: str, starts_at: datetime | str, **extra: Any) -> dict[str, Any]:
        return dict(expect(self.book(service_id, starts_at, **extra), 201))


def as_read(written: dict[str, Any]) -> dict[str, Any]:
    """A command's answer as a read of the same resource shows it: without the
    command's `notification_id`, after checking that it carried one."""
    assert isinstance(written.get("notification_id"), int), written
    return {k: v for k, v in written.items() if k != "notification_id"}


def reveal(database_url: str, value: Any) -> str:
    """A personal field in clear (or erased), read as a consumer reads it (kairos.privacy),
    from the key store the test services keep in their own database."""
    with ConnectionPool(database_url, min_size=1, max_size=1) as pool:
        keys = KeyStore(pool, TEST_SECRETS["PRIVACY_MASTER_KEY"], TEST_SECRETS["PRIVACY_INDEX_KEY"])
        return PersonalData(keys).reveal(value)
