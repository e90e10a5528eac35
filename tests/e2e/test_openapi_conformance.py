"""The services keep the promises of their OpenAPI documents, under generated requests.

Schemathesis reads each live service's /openapi.json and generates requests from it,
valid and invalid (positive and negative modes), each sent anonymously or with one of
the API's credentials: the admin key, a specialist's JWT, a real booking's manage
token. Path and query ids are, half of the time, those of a real specialist, service
and booking, so the requests reach past "not found". Every response must:

- not be a server error (bad input is never a 500);
- have a status the operation documents (status-code conformance);
- match the documented schema and content type of that status.

Real processes (uvicorn) on real PostgreSQL, Redis and a tansu broker: the slots the
availability service answers come through the relay and the projector.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
import schemathesis

# Schemathesis imports its OpenAPI adapter when a schema is first loaded: deep in a test's
# stack, where CPython 3.11.7's ast.parse (pytest rewrites a plugin's modules as it imports
# them) failed once with "AST constructor recursion depth mismatch" (fixed in 3.11.8).
# Imported here, at collection, it is parsed near the bottom of the stack.
import schemathesis.specs.openapi.adapter
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kairos.auth import Authenticator
from kairos_dev.gateway import Gateway
from kairos_dev.infra import PostgresHandle, ensure_kafka
from kairos_dev.infra.postgres import database_name
from kairos_dev.testing.services import TEST_SECRETS, ServiceProcess, service_env
from tests.shared.test_gateway import Served

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MIN_CASES_PER_SERVICE = 1000
ROUND_THE_CLOCK = [{"day": d, "start": "00:00", "end": "24:00"} for d in range(7)]


@dataclass(frozen=True)
class Stack:
    booking: ServiceProcess
    availability: ServiceProcess
    notifications: ServiceProcess
    # Real ids by parameter name (specialist_id, service_id, booking_id).
    ids: Mapping[str, str]
    # Authorization headers by who sends them; "anonymous" sends none.
    credentials: Mapping[str, Mapping[str, str]]


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def answered(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def seed(booking: httpx.Client) -> tuple[dict[str, str], str]:
    """A specialist working round the clock, a service and a booking: their ids, and the
    booking's manage token."""
    admin = bearer(TEST_SECRETS["ADMIN_API_KEY"])
    specialist = answered(
        booking.post(
            "/v1/specialists",
            json={"name": "Dr. Fuzz", "email": "fuzz@example.org", "timezone": "UTC"},
            headers=admin,
        ),
        201,
    )
    answered(
        booking.put(
            f"/v1/specialists/{specialist['id']}/schedule",
            json={"weekly": ROUND_THE_CLOCK},
            headers=admin,
        ),
        200,
    )
    service = answered(
        booking.post(
            "/v1/services",
            json={"specialist_id": specialist["id"], "name": "Consult", "duration_minutes": 60},
            headers=admin,
        ),
        201,
    )
    starts_at = (datetime.now(UTC) + timedelta(days=3)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    placed = answered(
        booking.post(
            "/v1/bookings",
            json={
                "service_id": service["id"],
                "starts_at": starts_at.isoformat().replace("+00:00", "Z"),
                "client": {"name": "Ada", "email": "ada@example.org", "timezone": "UTC"},
            },
        ),
        201,
    )
    ids = {
        "specialist_id": specialist["id"],
        "service_id": service["id"],
        "booking_id": placed["id"],
    }
    return ids, placed["manage_token"]


def wait_until_offered(availability: httpx.Client, service_id: str) -> None:
    """Until the catalog has come through the topic into availability's read model."""
    day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    deadline = time.monotonic() + 30
    while True:
        response = availability.get(
            "/v1/slots", params={"service_id": service_id, "from": day, "to": day}
        )
        if response.status_code == 200 and response.json()["slots"]:
            return
        assert time.monotonic() < deadline, f"the service never reached the slots: {response.text}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def stack(postgres: PostgresHandle, redis_url: str) -> Iterator[Stack]:
    database = postgres.create_database(prefix="kairos_test")
    started: list[ServiceProcess] = []
    try:
        with ensure_kafka(prefer_own_process=True) as kafka:
            env = service_env(database, redis_url, kafka.bootstrap)
            booking = ServiceProcess.api("booking.main:app", env)
            availability = ServiceProcess.api("availability.main:app", env)
            # Notifications asks booking for manage tokens; its channels are not configured
            # (their messages are skipped), so it needs no fake.
            notifying = {**env, "BOOKING_API_URL": booking.url, "PUBLIC_URL": "https://kairos.test"}
            notifications = ServiceProcess.api("notifications.main:app", notifying)
            for process in (
                booking,
                ServiceProcess.worker("booking.relay", env, port_env="RELAY_OPS_PORT"),
                ServiceProcess.worker("availability.projector", env, port_env="PROJECTOR_OPS_PORT"),
                ServiceProcess.worker("notifications.worker", notifying, port_env="OPS_PORT"),
                availability,
                notifications,
            ):
                started.append(process.start())
            with (
                httpx.Client(base_url=booking.url, timeout=10) as booking_http,
                httpx.Client(base_url=availability.url, timeout=10) as slots_http,
            ):
                ids, manage_token = seed(booking_http)
                wait_until_offered(slots_http, ids["service_id"])
            auth = Authenticator(
                TEST_SECRETS["ADMIN_API_KEY"],
                TEST_SECRETS["JWT_SECRET"],
                TEST_SECRETS["MANAGE_TOKEN_SECRET"],
            )
            jwt = auth.specialist_token(UUID(ids["specialist_id"]), datetime.now(UTC))
            yield Stack(
                booking,
                availability,
                notifications,
                ids,
                {
                    "anonymous": {},
                    "admin": bearer(TEST_SECRETS["ADMIN_API_KEY"]),
                    "specialist": bearer(jwt),
                    "manage token": bearer(manage_token),
                },
            )
    finally:
        for process in reversed(started):
            process.stop()
        postgres.drop_database(database_name(database))


def with_real_ids(values: dict[str, Any] | None, ids: Mapping[str, str]) -> dict[str, Any] | None:
    if values is None:
        return None
    return {name: ids.get(name, value) for name, value in values.items()}


def fuzz(
    service: ServiceProcess, stack: Stack, examples_per_operation: int
) -> tuple[int, list[str]]:
    """Run every operation of `service`'s document; the number of cases sent, and a
    description of each operation that failed a check."""
    schema = schemathesis.openapi.from_url(service.url + "/openapi.json")
    sent = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
        if operation.path_parameters or operation.query or operation.body or operation.headers:
            strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))

        @settings(
            max_examples=examples_per_operation,
            derandomize=True,  # the same cases on every run: a failure here is reproducible
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=st.one_of(strategies),
            who=st.sampled_from(sorted(stack.credentials)),
            real_ids=st.booleans(),
        )
        def send(case: Any, who: str, real_ids: bool) -> None:
            nonlocal sent
            if real_ids:
                case.path_parameters = with_real_ids(case.path_parameters, stack.ids)
                case.query = with_real_ids(case.query, stack.ids)
            sent += 1
            case.call_and_validate(
                base_url=service.url,
                headers=dict(stack.credentials[who]),
                checks=CHECKS,
                timeout=10,
            )

        try:
            send()
        # Every operation's failure is reported, not just the first.
        except (Exception, FailureGroup) as exc:
            failures.append(f"{operation.label}: {exc}")
    return sent, failures


def check_service(service: ServiceProcess, stack: Stack, examples_per_operation: int) -> None:
    sent, failures = fuzz(service, stack, examples_per_operation)
    assert not failures, "\n\n".join([*failures, "service output:", service.output(80)])
    assert sent >= MIN_CASES_PER_SERVICE, f"only {sent} cases were generated"


def test_the_booking_service_answers_as_its_openapi_document_says(stack: Stack) -> None:
    check_service(stack.booking, stack, examples_per_operation=80)


def test_the_availability_service_answers_as_its_openapi_document_says(stack: Stack) -> None:
    check_service(stack.availability, stack, examples_per_operation=1100)


def test_the_notifications_service_answers_as_its_openapi_document_says(stack: Stack) -> None:
    check_service(stack.notifications, stack, examples_per_operation=250)


def test_each_document_declares_the_error_shape_and_security_schemes(stack: Stack) -> None:
    booking = httpx.get(stack.booking.url + "/openapi.json").json()
    availability = httpx.get(stack.availability.url + "/openapi.json").json()

    for document in (booking, availability):
        assert "HTTPValidationError" not in document["components"]["schemas"]
        error = document["components"]["schemas"]["Error"]
        assert error["properties"]["error"]["required"] == ["code", "message", "details"]
    assert set(booking["components"]["securitySchemes"]) == {
        "adminKey",
        "specialistJwt",
        "manageToken",
    }
    cancel = booking["paths"]["/v1/bookings/{booking_id}/cancel"]["post"]
    assert cancel["security"] == [{"adminKey": []}, {"specialistJwt": []}, {"manageToken": []}]
    assert set(cancel["responses"]) == {
        "200",
        "400",
        "401",
        "403",
        "404",
        "409",
        "422",
        "500",
        "503",
    }


def test_the_gateway_merges_the_documents_into_one_reference(stack: Stack) -> None:
    services = {
        "booking": stack.booking,
        "availability": stack.availability,
        "notifications": stack.notifications,
    }
    own = {name: httpx.get(p.url + "/openapi.json").json() for name, p in services.items()}
    upstreams = {name: process.url for name, process in services.items()}
    with Served(Gateway(upstreams)) as gateway:
        merged = httpx.get(gateway.url + "/openapi.json").json()

    public = {path for document in own.values() for path in document["paths"] if path[:4] == "/v1/"}
    assert set(merged["paths"]) == public
    schemas = merged["components"]["schemas"]
    for service, document in own.items():
        for name in document["components"]["schemas"]:
            assert name in schemas or f"{service}.{name}" in schemas
