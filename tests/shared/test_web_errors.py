"""Every service's error edge (kairos.web): request ids, and the error shape even for a bug."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from kairos.web import install_error_handlers, install_metrics

pytestmark = pytest.mark.unit


class Bug(Exception):
    """What a route raises when the code, not the request, is wrong."""


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    install_metrics(app, "web-errors-test")

    @app.get("/ok")
    def ok() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/bug")
    def bug() -> dict[str, str]:
        raise Bug("a programming error")

    return TestClient(app)


def test_an_unexpected_exception_answers_500_in_the_error_shape_with_the_logged_request_id(
    client: TestClient,
) -> None:
    with capture_logs() as logs:
        response = client.get("/bug")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "internal"
    request_id = error["details"]["request_id"]
    assert response.headers["X-Request-Id"] == request_id
    [logged] = [line for line in logs if line["event"] == "unhandled_exception"]
    assert logged["request_id"] == request_id
    assert logged["log_level"] == "error"
    assert isinstance(logged["exc_info"], Bug)


def test_every_response_carries_a_new_request_id(client: TestClient) -> None:
    first = client.get("/ok").headers["X-Request-Id"]
    second = client.get("/ok").headers["X-Request-Id"]
    not_found = client.get("/nowhere").headers["X-Request-Id"]

    assert len({first, second, not_found}) == 3


def test_a_well_formed_incoming_request_id_is_kept(client: TestClient) -> None:
    response = client.get("/bug", headers={"X-Request-Id": "trace-4bf92f3577b34da6"})

    assert response.headers["X-Request-Id"] == "trace-4bf92f3577b34da6"
    assert response.json()["error"]["details"]["request_id"] == "trace-4bf92f3577b34da6"


@pytest.mark.parametrize("incoming", ["", "has space", "x" * 129, "semi;colon", "new\\nline"])
def test_a_malformed_incoming_request_id_is_replaced(client: TestClient, incoming: str) -> None:
    response = client.get("/ok", headers={"X-Request-Id": incoming})

    assert response.headers["X-Request-Id"] not in ("", incoming)
    assert len(response.headers["X-Request-Id"]) == 32
