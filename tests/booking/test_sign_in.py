"""Specialists' sign-in by e-mail link, against real PostgreSQL, Redis and the dev SMTP
sink: the link arrives and signs in once, within 15 minutes; an address that is no
specialist's gets the same answer and no mail; both rate limits answer 429; the code
is in the mail only."""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import jwt
import pytest
import redis
from fastapi.testclient import TestClient

from booking.main import create_app
from tests.booking.conftest import booking_settings
from tests.booking.helpers import ADMIN, JWT_SECRET, Catalog, FrozenClock, bearer, error_code
from tests.notifications.fakes import Fake, smtp_sink

pytestmark = pytest.mark.integration

PUBLIC_URL = "https://kairos.example"
PER_ADDRESS, PER_IP = 3, 5
LINK = re.compile(re.escape(PUBLIC_URL) + r"/sign-in/verify#code=([A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def sink() -> Iterator[Fake]:
    with smtp_sink() as fake:
        yield fake


@pytest.fixture
def clock() -> FrozenClock:
    # JWTs are checked against the real clock: the service's starts at the real now.
    return FrozenClock(datetime.now(UTC))


@pytest.fixture
def api(
    fresh_database: Callable[[], str], redis_url: str, clock: FrozenClock, sink: Fake
) -> Iterator[TestClient]:
    settings = booking_settings(fresh_database(), redis_url).model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": sink.port,
            "smtp_security": "none",
            "mail_from": "Kairos <no-reply@kairos.example>",
            "public_url": PUBLIC_URL,
            "sign_in_per_address": PER_ADDRESS,
            "sign_in_per_ip": PER_IP,
        }
    )
    with TestClient(create_app(settings, clock=clock), client=(_some_ip(), 50000)) as client:
        yield client


def _some_ip() -> str:
    """A client address of this test alone: the per-IP limit is shared through Redis."""
    return "10." + ".".join(str(random.randrange(256)) for _ in range(3))


def _from(api: TestClient, ip: str) -> TestClient:
    """The same app, called from another client address (the lifespan already runs)."""
    return TestClient(api.app, client=(ip, 50000))


def sign_in(api: TestClient, email: str) -> httpx.Response:
    return api.post("/v1/auth/sign-in", json={"email": email})


def mails_to(sink: Fake, email: str) -> list[dict[str, Any]]:
    return [m for m in sink.messages("mail") if email in m["to"]]


def code_in(mail: dict[str, Any]) -> str:
    found = LINK.search(mail["text"])
    assert found, mail["text"]
    assert found[1] in mail["html"]
    return found[1]


def verify(api: TestClient, code: str) -> httpx.Response:
    return api.post("/v1/auth/sign-in/verify", json={"code": code})


@pytest.fixture
def specialist(api: TestClient) -> dict[str, Any]:
    return Catalog(api).specialist(email=f"sign-in-{uuid4().hex[:8]}@example.org")


def test_the_link_signs_the_specialist_in_once(
    api: TestClient, sink: Fake, specialist: dict[str, Any], clock: FrozenClock
) -> None:
    response = sign_in(api, specialist["email"])
    assert response.status_code == 202 and response.json() == {"accepted": True}
    [mail] = mails_to(sink, specialist["email"])
    assert mail["subject"] == "Your Kairos sign-in link"
    code = code_in(mail)
    assert len(code) >= 22  # at least 128 bits, base64url

    signed_in = verify(api, code)
    assert signed_in.status_code == 200, signed_in.text
    body = signed_in.json()
    claims = jwt.decode(
        body["token"], JWT_SECRET, algorithms=["HS256"], audience="kairos-api", issuer="kairos"
    )
    assert claims["sub"] == specialist["id"] and claims["role"] == "specialist"
    assert datetime.fromisoformat(body["expires_at"]) == datetime.fromtimestamp(claims["exp"], UTC)
    # The token is the specialist's credential: their own bookings, and no one else's.
    own = api.get(
        "/v1/bookings", params={"specialist_id": specialist["id"]}, headers=bearer(body["token"])
    )
    assert own.status_code == 200, own.text
    other = api.get(
        "/v1/bookings", params={"specialist_id": str(uuid4())}, headers=bearer(body["token"])
    )
    assert error_code(other, 403) == "forbidden"

    assert error_code(verify(api, code), 401) == "invalid_code"


def test_a_link_expires_after_15_minutes(
    api: TestClient, sink: Fake, specialist: dict[str, Any], clock: FrozenClock
) -> None:
    sign_in(api, specialist["email"])
    sign_in(api, specialist["email"])
    late, in_time = (code_in(m) for m in mails_to(sink, specialist["email"]))  # newest first
    started = clock.now
    clock.now = started + timedelta(minutes=14, seconds=59)
    assert verify(api, in_time).status_code == 200
    clock.now = started + timedelta(minutes=15)
    assert error_code(verify(api, late), 401) == "invalid_code"


def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    api: TestClient, sink: Fake, specialist: dict[str, Any]
) -> None:
    stranger = f"nobody-{uuid4().hex[:8]}@example.org"
    known, unknown = sign_in(api, specialist["email"]), sign_in(api, stranger)
    assert (unknown.status_code, unknown.content) == (known.status_code, known.content)
    assert {k for k in unknown.headers if k != "x-request-id"} == {
        k for k in known.headers if k != "x-request-id"
    }
    assert mails_to(sink, specialist["email"]) and not mails_to(sink, stranger)


def test_made_up_codes_are_refused_in_the_error_shape(api: TestClient) -> None:
    assert error_code(verify(api, "A" * 43), 401) == "invalid_code"
    assert error_code(verify(api, "not a code!"), 422) == "validation_error"
    assert error_code(api.post("/v1/auth/sign-in", json={"email": "no"}), 422) == "validation_error"


def test_requests_per_address_are_limited_from_any_ip(
    api: TestClient, sink: Fake, specialist: dict[str, Any]
) -> None:
    for _ in range(PER_ADDRESS):
        assert sign_in(_from(api, _some_ip()), specialist["email"]).status_code == 202
    refused = sign_in(_from(api, _some_ip()), specialist["email"])
    assert error_code(refused, 429) == "too_many_requests"
    wait = int(refused.headers["Retry-After"])
    assert 0 < wait <= 15 * 60
    assert refused.json()["error"]["details"] == {"retry_after_seconds": wait}
    assert len(mails_to(sink, specialist["email"])) == PER_ADDRESS
    # An unknown address is limited the same way: the 429 tells nothing either.
    stranger = f"nobody-{uuid4().hex[:8]}@example.org"
    answers = [
        sign_in(_from(api, _some_ip()), stranger).status_code for _ in range(PER_ADDRESS + 1)
    ]
    assert answers == [202] * PER_ADDRESS + [429]


def test_requests_per_ip_are_limited_across_addresses(api: TestClient) -> None:
    answers = [
        sign_in(api, f"someone-{uuid4().hex[:8]}@example.org").status_code
        for _ in range(PER_IP + 1)
    ]
    assert answers == [202] * PER_IP + [429]
    assert sign_in(_from(api, _some_ip()), f"x-{uuid4().hex[:8]}@example.org").status_code == 202


def test_the_code_is_in_the_mail_only(
    api: TestClient,
    sink: Fake,
    specialist: dict[str, Any],
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sign_in(api, specialist["email"])
    [mail] = mails_to(sink, specialist["email"])
    code = code_in(mail)
    assert f"?code={code}" not in mail["text"]  # a fragment: never sent to a server
    verify(api, code)
    assert all(code not in record.getMessage() for record in caplog.records)
    stored = redis.Redis.from_url(redis_url)
    try:
        for key in stored.scan_iter("signin:*"):
            assert code.encode() not in key
            if stored.type(key) == b"string":
                assert code.encode() not in (stored.get(key) or b"")
    finally:
        stored.close()


def test_an_erased_specialist_gets_no_link(
    api: TestClient, sink: Fake, specialist: dict[str, Any]
) -> None:
    erased = api.post("/v1/privacy/erasures", json={"email": specialist["email"]}, headers=ADMIN)
    assert erased.status_code == 202, erased.text
    assert sign_in(api, specialist["email"]).status_code == 202
    assert not mails_to(sink, specialist["email"])
