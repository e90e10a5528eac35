"""Secrets: too short is refused at startup by name; services need only the ones they use;
specialist JWTs name their issuer and audience, and the verifier holds them to it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import jwt
import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from availability.config import AvailabilitySettings
from booking.config import BookingSettings, BookingStoreSettings
from calendar_sync.config import CalendarSyncSettings
from kairos import cli
from kairos.auth import JWT_AUDIENCE, JWT_ISSUER, Authenticator
from kairos.settings import MIN_SECRET_BYTES
from kairos_dev.testing import service_env
from kairos_dev.testing.services import TEST_SECRETS
from webhooks.config import DeliverySettings

pytestmark = pytest.mark.unit

CONNECTIONS = {
    "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    "PRIVACY_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
}
SECRET_NAMES = sorted(TEST_SECRETS)
# The service whose settings read a secret, where it is not booking's.
SETTINGS_OF: dict[str, type[BaseSettings]] = {
    "CALENDAR_CREDENTIAL_KEYS": CalendarSyncSettings,
    "CALENDAR_OAUTH_STATE_KEY": CalendarSyncSettings,
    "WEBHOOK_SECRET_KEYS": DeliverySettings,
}


def environment(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    """Exactly these settings in the environment, as a Deployment would give them."""
    for name in [*CONNECTIONS, *TEST_SECRETS, "JWT_ISSUER", "JWT_AUDIENCE"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_the_test_and_dev_secrets_are_long_enough() -> None:
    assert all(len(value.encode()) >= MIN_SECRET_BYTES for value in TEST_SECRETS.values())


@pytest.mark.parametrize("name", SECRET_NAMES)
@pytest.mark.parametrize(
    "value",
    ["short", "x" * (MIN_SECRET_BYTES - 1), "é" * 15 + "x"],
    ids=["5-bytes", "31-bytes", "31-bytes-16-chars"],
)
def test_a_secret_shorter_than_32_bytes_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    environment(monkeypatch, **CONNECTIONS, **{**TEST_SECRETS, name: value})

    with pytest.raises(ValidationError) as refused:
        SETTINGS_OF.get(name, BookingSettings)()

    message = str(refused.value)
    assert f"{name} must be at least 32 bytes" in message
    assert value not in message  # a secret never reaches a log, even a wrong one
    [error] = refused.value.errors()
    assert error["loc"] == (name.lower(),)


def test_a_secret_of_32_bytes_is_accepted_whatever_its_characters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment(monkeypatch, **CONNECTIONS, **{**TEST_SECRETS, "JWT_SECRET": "é" * 16})

    assert BookingSettings().jwt_secret.get_secret_value() == "é" * 16


def test_the_booking_service_refuses_to_start_on_a_short_secret_and_says_which() -> None:
    env = service_env(
        CONNECTIONS["DATABASE_URL"], CONNECTIONS["REDIS_URL"], MANAGE_TOKEN_SECRET="too-short"
    )
    started = subprocess.run(
        [sys.executable, "-c", "from booking.main import create_app; create_app()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert started.returncode != 0
    assert "MANAGE_TOKEN_SECRET must be at least 32 bytes long, it has 9" in started.stderr
    assert "too-short" not in started.stderr


def test_components_that_authenticate_no_one_start_without_any_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment(monkeypatch, **CONNECTIONS)

    assert BookingStoreSettings().database_url == CONNECTIONS["DATABASE_URL"]  # the relay
    assert AvailabilitySettings().database_url == CONNECTIONS["DATABASE_URL"]  # API, projector
    with pytest.raises(ValidationError):
        BookingSettings()  # the booking API does need them


# --- JWT issuer and audience ------------------------------------------------------------------


def authenticator(**claims_of: str) -> Authenticator:
    return Authenticator(
        TEST_SECRETS["ADMIN_API_KEY"],
        TEST_SECRETS["JWT_SECRET"],
        TEST_SECRETS["MANAGE_TOKEN_SECRET"],
        **claims_of,
    )


def test_a_minted_specialist_token_names_its_issuer_and_audience() -> None:
    specialist_id = uuid4()
    token = authenticator().specialist_token(specialist_id, datetime.now(UTC))

    claims = jwt.decode(
        token,
        TEST_SECRETS["JWT_SECRET"],
        algorithms=["HS256"],
        issuer=JWT_ISSUER,
        audience=JWT_AUDIENCE,
    )

    assert (claims["iss"], claims["aud"], claims["sub"]) == (
        JWT_ISSUER,
        JWT_AUDIENCE,
        str(specialist_id),
    )
    caller = authenticator().caller(f"Bearer {token}")
    assert caller is not None and caller.is_specialist(specialist_id)


@pytest.mark.parametrize(
    "minted_by",
    [{"issuer": "another-issuer"}, {"audience": "another-api"}],
    ids=["another-issuer", "another-audience"],
)
def test_a_token_of_another_issuer_or_audience_proves_no_one(minted_by: dict[str, str]) -> None:
    token = authenticator(**minted_by).specialist_token(uuid4(), datetime.now(UTC))

    assert authenticator().caller(f"Bearer {token}") is None


def test_a_token_without_issuer_and_audience_proves_no_one() -> None:
    claims = {"sub": str(uuid4()), "role": "specialist", "exp": datetime.now(UTC) + timedelta(1)}
    token = jwt.encode(claims, TEST_SECRETS["JWT_SECRET"], algorithm="HS256")

    assert authenticator().caller(f"Bearer {token}") is None


def test_kairos_token_mints_a_token_the_services_accept(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment(monkeypatch, **TEST_SECRETS)
    specialist_id = uuid4()

    assert cli.main(["token", str(specialist_id)]) == 0

    token = capsys.readouterr().out.strip()
    caller = authenticator().caller(f"Bearer {token}")
    assert caller is not None and caller.is_specialist(specialist_id)


def test_kairos_token_follows_the_issuer_and_audience_the_services_are_given(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment(monkeypatch, **TEST_SECRETS, JWT_ISSUER="kairos-staging", JWT_AUDIENCE="staging")
    specialist_id = uuid4()

    assert cli.main(["token", str(specialist_id)]) == 0

    token = capsys.readouterr().out.strip()
    staging = authenticator(issuer="kairos-staging", audience="staging")
    assert staging.caller(f"Bearer {token}") is not None
    assert authenticator().caller(f"Bearer {token}") is None
