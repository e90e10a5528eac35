"""GET /healthz (the process is up) and GET /readyz (its dependencies answer)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import psycopg
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

Check = Callable[[], None]  # raises when the dependency does not answer


def postgres_check(database: str | ConnectionPool[Any]) -> Check:
    """A check that PostgreSQL answers, through the service's pool or a new connection
    to a URL (for workers that hold no pool), within two seconds."""

    def check() -> None:
        if isinstance(database, str):
            with psycopg.connect(database, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        else:
            with database.connection(timeout=2) as conn:
                conn.execute("SELECT 1")

    return check


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]


def health_router(checks: Mapping[str, Check]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "a dependency does not answer"}},
    )
    def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:  # a failing dependency is the answer, not an error
                results[name] = f"{type(exc).__name__}: {exc}"
        ready = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": results},
            status_code=200 if ready else 503,
        )

    return router
