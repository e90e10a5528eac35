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
    app = FastAPI(title=f"Kairos {name}", version="1", lifespan=lifespan)
    install_error_handlers(app)
    install_metrics(app, name)
    document_api(app)
    app.include_router(health_router(checks))
    for router in routers:
        app.include_router(router)
    return app
