"""The API reference built in-process (kairos_dev.api_reference), which the web app's
client is generated from: every documented service's routers, merged as the gateway
merges the running services' documents."""

from __future__ import annotations

import pytest

from kairos_dev.api_reference import merged_reference, service_document
from kairos_dev.gateway import Router
from kairos_dev.registration import registered_services

pytestmark = pytest.mark.unit


def test_every_documented_service_registers_the_routers_of_its_api() -> None:
    documented = [s for s in registered_services() if s.routes and not s.dev_only]
    assert {s.name for s in documented} >= {"booking", "availability", "notifications", "video"}
    for service in documented:
        paths = service_document(service)["paths"]
        assert any(Router([service])(path) == service.name for path in paths), service.name


def test_the_reference_has_each_public_path_once_from_the_service_that_serves_it() -> None:
    reference = merged_reference()
    route = Router(registered_services())
    paths = reference["paths"]
    for path in (
        "/v1/slots",
        "/v1/bookings",
        "/v1/bookings/{booking_id}/join",
        "/v1/bookings/{booking_id}/invite.ics",
        "/v1/specialists/{specialist_id}/calendars",
    ):
        assert path in paths, path
    assert all(route(path) is not None for path in paths)
    assert "/healthz" not in paths
    error = reference["components"]["schemas"]["Error"]
    assert "error" in error["properties"]
