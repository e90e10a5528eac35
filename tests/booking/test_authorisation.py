"""Who may do what: the authorisation matrix of every booking endpoint and the catalog writes.

Read each table row as "<caller> calling <endpoint> gets <status>".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import jwt
import pytest
from fastapi.testclient import TestClient

from booking.main import create_app
from kairos.auth import JWT_AUDIENCE, JWT_ISSUER
from tests.booking.conftest import booking_settings
from tests.booking.helpers import (
    ADMIN,
    ADMIN_API_KEY,
    ALL_DAY_EVERY_DAY,
    JWT_SECRET,
    Catalog,
    FrozenClock,
    bearer,
    error_code,
    expect,
    iso,
    specialist_jwt,
)

pytestmark = pytest.mark.integration


@dataclass
class World:
    """One booking service with two specialists, each with a direct and a gated service, and
    a supply of free slots. Its clock stands at the real now, unless a test moves it."""

    api: TestClient
    clock: FrozenClock
    catalog: Catalog
    specialist: dict[str, Any]
    other_specialist: dict[str, Any]
    direct: dict[str, Any]
    gated: dict[str, Any]
    other_direct: dict[str, Any]
    _slots: Iterator[datetime]

    def slot(self) -> datetime:
        return next(self._slots)

    def booking(self, pending: bool = False) -> dict[str, Any]:
        service = self.gated if pending else self.direct
        return self.catalog.booked(service["id"], self.slot())

    def other_booking(self) -> dict[str, Any]:
        return self.catalog.booked(self.other_direct["id"], self.slot())


@pytest.fixture(scope="module")
def world(module_databases: Callable[[], str], redis_url: str) -> Iterator[World]:
    clock = FrozenClock(datetime.now(UTC))
    settings = booking_settings(module_databases(), redis_url)
    with TestClient(create_app(settings, clock=clock)) as api:
        catalog = Catalog(api)
        specialist = catalog.specialist(weekly=ALL_DAY_EVERY_DAY, name="Dr. Own")
        other = catalog.specialist(weekly=ALL_DAY_EVERY_DAY, name="Dr. Other")
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        yield World(
            api=api,
            clock=clock,
            catalog=catalog,
            specialist=specialist,
            other_specialist=other,
            direct=catalog.service(specialist["id"], duration_minutes=30),
            gated=catalog.service(
                specialist["id"], name="Gated", duration_minutes=30, requires_approval=True
            ),
            other_direct=catalog.service(other["id"], duration_minutes=30),
            _slots=(start + timedelta(days=2, minutes=30 * n) for n in itertools.count()),
        )


# --- callers ----------------------------------------------------------------------------------

Caller = Callable[[World, dict[str, Any]], dict[str, str]]


def anonymous(w: World, booking: dict[str, Any]) -> dict[str, str]:
    return {}


def another_bookings_token(w: World, booking: dict[str, Any]) -> dict[str, str]:
    return bearer(w.booking()["manage_token"])


def another_specialists_bookings_token(w: World, booking: dict[str, Any]) -> dict[str, str]:
    return bearer(w.other_booking()["manage_token"])


def another_specialist(w: World, booking: dict[str, Any]) -> dict[str, str]:
    return bearer(specialist_jwt(w.other_specialist["id"]))


def its_owner(w: World, booking: dict[str, Any]) -> dict[str, str]:
    return bearer(booking["manage_token"])


def its_specialist(w: World, booking: dict[str, Any]) -> dict[str, str]:
    return bearer(specialist_jwt(w.specialist["id"]))


def admin(w: World, booking: dict[str, Any]) -> dict[str, str]:
    return ADMIN


def its_specialist_expired(w: World, booking: dict[str, Any]) -> dict[str, str]:
    return bearer(specialist_jwt(w.specialist["id"], datetime.now(UTC) - timedelta(days=1)))


def its_specialist_forged(w: World, booking: dict[str, Any]) -> dict[str, str]:
    claims = {
        "sub": w.specialist["id"],
        "role": "specialist",
        "exp": datetime.now(UTC) + timedelta(hours=1),
    }
    return bearer(jwt.encode(claims, "not-the-secret-" + "x" * 32, algorithm="HS256"))


def _signed_for_its_specialist(w: World, **claims: Any) -> dict[str, str]:
    """A JWT signed with the right secret, claims as the service mints them unless given."""
    defaults = {
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
        "sub": w.specialist["id"],
        "role": "specialist",
        "exp": datetime.now(UTC) + timedelta(hours=1),
    }
    merged = {k: v for k, v in {**defaults, **claims}.items() if v is not None}
    return bearer(jwt.encode(merged, JWT_SECRET, algorithm="HS256"))


def its_specialist_as_admin_role(w: World, booking: dict[str, Any]) -> dict[str, str]:
    return _signed_for_its_specialist(w, role="admin")


def its_specialist_from_another_issuer(w: World, booking: dict[str, Any]) -> dict[str, str]:
    return _signed_for_its_specialist(w, iss="someone-else")


def its_specialist_for_another_audience(w: World, booking: dict[str, Any]) -> dict[str, str]:
    return _signed_for_its_specialist(w, aud="another-api")


def its_specialist_without_issuer_or_audience(w: World, booking: dict[str, Any]) -> dict[str, str]:
    return _signed_for_its_specialist(w, iss=None, aud=None)


def wrong_admin_key(w: World, booking: dict[str, Any]) -> dict[str, str]:
    return bearer(ADMIN_API_KEY + "x")


def owner_token_without_bearer(w: World, booking: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": booking["manage_token"]}


def owner_token_garbled(w: World, booking: dict[str, Any]) -> dict[str, str]:
    token = str(booking["manage_token"])
    return bearer(token[:-1] + ("A" if token[-1] != "A" else "B"))


def another_bookings_signature_on_its_id(w: World, booking: dict[str, Any]) -> dict[str, str]:
    """A token naming this booking, carrying another booking's (genuine) signature."""
    own_id, generation, _ = str(booking["manage_token"]).split(".")
    *_, signature = str(w.booking()["manage_token"]).split(".")
    return bearer(f"{own_id}.{generation}.{signature}")


# --- booking endpoints ------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    pending: bool  # acts on a pending booking (approve/decline) rather than a confirmed one
    body: Callable[[World], Any] = lambda w: None
    ok: int = 200
    # Complete and no-show are only possible once the consultation is under way.
    after_start: bool = False

    def call(self, w: World, booking: dict[str, Any], headers: dict[str, str]) -> Any:
        now = w.clock.now
        if self.after_start:
            w.clock.now = datetime.fromisoformat(booking["starts_at"]) + timedelta(hours=1)
        try:
            return w.api.request(
                self.method, self.path.format(id=booking["id"]), json=self.body(w), headers=headers
            )
        finally:
            w.clock.now = now


READ = Endpoint("read", "GET", "/v1/bookings/{id}", pending=False)
CANCEL = Endpoint(
    "cancel", "POST", "/v1/bookings/{id}/cancel", pending=False, body=lambda w: {"reason": "test"}
)
RESCHEDULE = Endpoint(
    "reschedule",
    "POST",
    "/v1/bookings/{id}/reschedule",
    pending=False,
    body=lambda w: {"starts_at": iso(w.slot())},
)
APPROVE = Endpoint("approve", "POST", "/v1/bookings/{id}/approve", pending=True)
DECLINE = Endpoint(
    "decline", "POST", "/v1/bookings/{id}/decline", pending=True, body=lambda w: {"reason": "test"}
)
COMPLETE = Endpoint(
    "complete", "POST", "/v1/bookings/{id}/complete", pending=False, after_start=True
)
NO_SHOW = Endpoint(
    "no-show",
    "POST",
    "/v1/bookings/{id}/no-show",
    pending=False,
    body=lambda w: {"party": "client"},
    after_start=True,
)

OK = "allowed"  # the endpoint does its work: 200 (with a state change unless a read)

# 401: the credential proves no one (absent, invalid, expired, another issuer or audience);
# 403: it proves someone who may not do this (another booking's holder included).
# fmt: off
#                                              read  cancl resch appr  decl  done  noshow
MATRIX: list[tuple[Caller, tuple[Any, ...]]] = [
    (anonymous,                                 (401,  401,  401,  401,  401,  401,  401)),
    (another_bookings_token,                    (403,  403,  403,  403,  403,  403,  403)),
    (another_specialists_bookings_token,        (403,  403,  403,  403,  403,  403,  403)),
    (another_specialist,                        (403,  403,  403,  403,  403,  403,  403)),
    (its_owner,                                 (OK,   OK,   OK,   403,  403,  403,  403)),
    (its_specialist,                            (OK,   OK,   OK,   OK,   OK,   OK,   OK)),
    (admin,                                     (OK,   OK,   OK,   OK,   OK,   OK,   OK)),
    (its_specialist_expired,                    (401,  401,  401,  401,  401,  401,  401)),
    (its_specialist_forged,                     (401,  401,  401,  401,  401,  401,  401)),
    (its_specialist_as_admin_role,              (401,  401,  401,  401,  401,  401,  401)),
    (its_specialist_from_another_issuer,        (401,  401,  401,  401,  401,  401,  401)),
    (its_specialist_for_another_audience,       (401,  401,  401,  401,  401,  401,  401)),
    (its_specialist_without_issuer_or_audience, (401,  401,  401,  401,  401,  401,  401)),
    (wrong_admin_key,                           (401,  401,  401,  401,  401,  401,  401)),
    (owner_token_without_bearer,                (401,  401,  401,  401,  401,  401,  401)),
    (owner_token_garbled,                       (401,  401,  401,  401,  401,  401,  401)),
    (another_bookings_signature_on_its_id,      (401,  401,  401,  401,  401,  401,  401)),
]
# fmt: on
ENDPOINTS = (READ, CANCEL, RESCHEDULE, APPROVE, DECLINE, COMPLETE, NO_SHOW)

CASES = [
    pytest.param(caller, endpoint, expected, id=f"{endpoint.name}-by-{caller.__name__}")
    for caller, row in MATRIX
    for endpoint, expected in zip(ENDPOINTS, row, strict=True)
]


def _state(w: World, booking_id: str) -> dict[str, Any]:
    booking = expect(w.api.get(f"/v1/bookings/{booking_id}", headers=ADMIN), 200)
    return {k: booking[k] for k in ("status", "starts_at", "ends_at", "history")}


@pytest.mark.parametrize(("caller", "endpoint", "expected"), CASES)
def test_booking_endpoint_authorisation(
    world: World, caller: Caller, endpoint: Endpoint, expected: Any
) -> None:
    booking = world.booking(pending=endpoint.pending)
    headers = caller(world, booking)
    before = _state(world, booking["id"])

    response = endpoint.call(world, booking, headers)

    if expected == OK:
        assert response.status_code == endpoint.ok, response.text
        if endpoint is not READ:
            assert _state(world, booking["id"]) != before
    else:
        assert response.status_code == expected, response.text
        code = {401: "unauthorized", 403: "forbidden"}[expected]
        assert response.json()["error"]["code"] == code
        assert _state(world, booking["id"]) == before


def test_an_owner_token_reads_its_own_booking_and_nothing_it_should_not(world: World) -> None:
    booking = world.booking()
    token = bearer(booking["manage_token"])

    shown = expect(world.api.get(f"/v1/bookings/{booking['id']}", headers=token), 200)

    assert shown["id"] == booking["id"]
    # It proves its holder, who may not read another booking: 403, whether or not that
    # booking exists (no 404 leak).
    assert error_code(world.api.get(f"/v1/bookings/{uuid4()}", headers=token), 403) == "forbidden"
    other = world.booking()
    assert (
        error_code(world.api.get(f"/v1/bookings/{other['id']}", headers=token), 403) == "forbidden"
    )


def test_without_credentials_an_unknown_booking_is_401_not_404(world: World) -> None:
    assert world.api.get(f"/v1/bookings/{uuid4()}").status_code == 401


# --- the consultation history list -------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "filter_by", "expected"),
    [
        (anonymous, None, 401),
        (its_owner, None, 403),
        (its_owner, "own", 403),
        (another_bookings_token, None, 403),
        (its_specialist, None, 200),
        (its_specialist, "own", 200),
        (its_specialist, "other", 403),
        (another_specialist, "own", 403),
        (its_specialist_expired, None, 401),
        (its_specialist_from_another_issuer, None, 401),
        (its_specialist_for_another_audience, None, 401),
        (admin, None, 200),
        (admin, "other", 200),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_booking_list_authorisation(
    world: World, caller: Caller, filter_by: str | None, expected: int
) -> None:
    booking = world.booking()
    params = {
        "own": {"specialist_id": world.specialist["id"]},
        "other": {"specialist_id": world.other_specialist["id"]},
    }.get(filter_by or "", {})

    response = world.api.get("/v1/bookings", params=params, headers=caller(world, booking))

    assert response.status_code == expected, response.text
    if expected == 200 and caller is its_specialist:
        specialists = {b["specialist_id"] for b in response.json()["bookings"]}
        assert specialists == {world.specialist["id"]}


# --- catalog writes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogWrite:
    name: str
    method: str
    path: str
    body: Callable[[dict[str, Any]], Any]
    specialist_may: bool  # its own specialist may do this, not only an admin
    ok: int = 200


CATALOG_WRITES = [
    CatalogWrite(
        "register-specialist",
        "POST",
        "/v1/specialists",
        lambda sp: {"name": "New", "email": "new@example.org", "timezone": "UTC"},
        specialist_may=False,
        ok=201,
    ),
    CatalogWrite(
        "mint-token",
        "POST",
        "/v1/specialists/{specialist}/token",
        lambda sp: None,
        specialist_may=False,
    ),
    CatalogWrite(
        "set-schedule",
        "PUT",
        "/v1/specialists/{specialist}/schedule",
        lambda sp: {"weekly": [{"day": 0, "start": "09:00", "end": "12:00"}]},
        specialist_may=True,
    ),
    CatalogWrite(
        "set-override",
        "PUT",
        "/v1/specialists/{specialist}/overrides/2030-01-01",
        lambda sp: {"blocked": True},
        specialist_may=True,
    ),
    CatalogWrite(
        "clear-override",
        "DELETE",
        "/v1/specialists/{specialist}/overrides/2030-01-01",
        lambda sp: None,
        specialist_may=True,
        ok=204,
    ),
    CatalogWrite(
        "define-service",
        "POST",
        "/v1/services",
        lambda sp: {"specialist_id": sp["id"], "name": "New", "duration_minutes": 30},
        specialist_may=False,
        ok=201,
    ),
    CatalogWrite(
        "update-service",
        "PATCH",
        "/v1/services/{service}",
        lambda sp: {"name": "Renamed"},
        specialist_may=True,
    ),
]


def _catalog_callers(w: World, sp: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        "anonymous": {},
        "a-manage-token": bearer(w.booking()["manage_token"]),
        "another-specialist": bearer(specialist_jwt(w.other_specialist["id"])),
        "its-specialist": bearer(specialist_jwt(sp["id"])),
        "admin": ADMIN,
    }


@pytest.mark.parametrize(
    ("write", "caller"),
    [
        pytest.param(write, caller, id=f"{write.name}-by-{caller}")
        for write in CATALOG_WRITES
        for caller in (
            "anonymous",
            "a-manage-token",
            "another-specialist",
            "its-specialist",
            "admin",
        )
    ],
)
def test_catalog_write_authorisation(world: World, write: CatalogWrite, caller: str) -> None:
    sp = world.catalog.specialist(weekly=ALL_DAY_EVERY_DAY)
    service = world.catalog.service(sp["id"])
    if write.name == "clear-override":
        world.api.put(
            f"/v1/specialists/{sp['id']}/overrides/2030-01-01",
            json={"blocked": True},
            headers=ADMIN,
        )
    headers = _catalog_callers(world, sp)[caller]
    allowed = caller == "admin" or (caller == "its-specialist" and write.specialist_may)
    # A manage token proves its holder, who may write nothing in the catalog.
    expected = write.ok if allowed else (401 if caller == "anonymous" else 403)
    before = (
        expect(world.api.get(f"/v1/specialists/{sp['id']}"), 200),
        expect(world.api.get(f"/v1/services/{service['id']}"), 200),
    )

    response = world.api.request(
        write.method,
        write.path.format(specialist=sp["id"], service=service["id"]),
        json=write.body(sp),
        headers=headers,
    )

    assert response.status_code == expected, response.text
    if not allowed:
        after = (
            expect(world.api.get(f"/v1/specialists/{sp['id']}"), 200),
            expect(world.api.get(f"/v1/services/{service['id']}"), 200),
        )
        assert after == before


def test_a_minted_specialist_token_acts_for_that_specialist_only(world: World) -> None:
    token = world.catalog.specialist_token(world.specialist["id"])
    mine, theirs = world.booking(pending=True), world.other_booking()

    approved = world.api.post(f"/v1/bookings/{mine['id']}/approve", headers=bearer(token))
    peeked = world.api.get(f"/v1/bookings/{theirs['id']}", headers=bearer(token))

    assert expect(approved, 200)["status"] == "confirmed"
    assert peeked.status_code == 403
    claims = jwt.decode(
        token, JWT_SECRET, algorithms=["HS256"], audience=JWT_AUDIENCE, issuer=JWT_ISSUER
    )
    assert (claims["iss"], claims["aud"]) == (JWT_ISSUER, JWT_AUDIENCE)
    assert claims["sub"] == world.specialist["id"]


def test_reading_the_catalog_needs_no_credentials(world: World) -> None:
    assert world.api.get("/v1/specialists").status_code == 200
    assert world.api.get(f"/v1/specialists/{world.specialist['id']}").status_code == 200
    assert world.api.get(f"/v1/services/{world.direct['id']}").status_code == 200


def test_booking_needs_no_credentials(world: World) -> None:
    response = world.catalog.book(world.direct["id"], world.slot())

    assert expect(response, 201)["status"] == "confirmed"
