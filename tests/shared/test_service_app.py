"""service_app: every refusal, whatever raised it, is answered by the one shared handler."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from kairos.errors import KairosError
from kairos.timezones import zone
from kairos.web import ApiError, service_app

pytestmark = pytest.mark.unit


class RoomFull(KairosError):
    """A refusal a service defines for itself, with a header of its own."""

    code = "room_full"
    status = 409

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Retry-After": "7"}


def refusing_app() -> TestClient:
    router = APIRouter(prefix="/v1")

    @router.post("/rooms")
    def book_room() -> dict[str, str]:
        raise RoomFull("the room is full", {"capacity": 12})

    @router.get("/zones/{name:path}")
    def read_zone(name: str) -> dict[str, str]:
        return {"zone": str(zone(name))}

    @router.get("/cursor")
    def bad_cursor() -> dict[str, str]:
        raise ApiError(422, "validation_error", "not a cursor", {"cursor": "x"})

    return TestClient(service_app("refusals-test", {}, [router]))


def test_a_service_s_own_refusal_is_answered_with_its_status_code_and_headers() -> None:
    response = refusing_app().post("/v1/rooms")

    assert response.status_code == 409
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {
        "error": {"code": "room_full", "message": "the room is full", "details": {"capacity": 12}}
    }


def test_an_unknown_time_zone_and_an_api_error_go_through_the_same_handler() -> None:
    client = refusing_app()

    unknown = client.get("/v1/zones/Mars/Olympus_Mons")
    malformed = client.get("/v1/cursor")

    assert unknown.status_code == 422
    assert unknown.json()["error"] == {
        "code": "unknown_timezone",
        "message": "unknown IANA time zone: 'Mars/Olympus_Mons'",
        "details": {"timezone": "Mars/Olympus_Mons"},
    }
    assert malformed.status_code == 422
    assert malformed.json()["error"]["details"] == {"cursor": "x"}


def test_the_factory_serves_health_metrics_and_the_documented_api() -> None:
    client = refusing_app()

    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert 'service="refusals-test"' in client.get("/metrics").text
    document = client.get("/openapi.json").json()
    assert document["info"]["title"] == "Kairos refusals-test"
    assert "/v1/rooms" in document["paths"]
