"""The shared app factory: every Kairos HTTP app, API or ops-only, is built here, so
each answers errors the same way (one handler for every KairosError), counts its
requests, documents its real errors and serves /healthz and /readyz."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI

from kairos.web.errors import install_error_handlers
from kairos.web.health import Check, health_router
from kairos.web.observability import install_metrics
from kairos.web.openapi import document_api


def service_app(
    name: str,
    checks: Mapping[str, Check],
    routers: Iterable[APIRouter] = (),
    lifespan: Any = None,
) -> FastAPI:
    """The app of service `name`: its `routers` behind the shared error handling, metrics
    and OpenAPI document, with readiness from `checks`."""
    # The services report through their own Prometheus metrics and JSON logs, and set up
    # no OpenTelemetry provider: FastAPI's native telemetry would only look for one on
    # every request (1 % of a booking's CPU).
    app = FastAPI(
        title=f"Kairos {name}",
        version="1",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    install_metrics(app, name)
    document_api(app)
    app.include_router(health_router(checks))
    for router in routers:
        app.include_router(router)
    return app
