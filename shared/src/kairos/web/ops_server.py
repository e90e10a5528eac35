"""/healthz, /readyz and /metrics for worker processes (relays, consumers) that serve no API.

Runs uvicorn inside the worker's own event loop, so probes see the same process
the orchestrator would restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping

import uvicorn
from fastapi import FastAPI

from kairos.web.errors import install_error_handlers
from kairos.web.health import Check, health_router
from kairos.web.observability import install_metrics
from kairos.web.openapi import document_api


def ops_app(name: str, checks: Mapping[str, Check]) -> FastAPI:
    app = FastAPI(title=f"Kairos {name}", version="1")
    install_error_handlers(app)
    install_metrics(app, name)
    document_api(app)
    app.include_router(health_router(checks))
    return app


def start_ops_server(
    name: str, port: int, checks: Mapping[str, Check], *, host: str
) -> asyncio.Task[None]:
    """Serve the ops endpoints on `host`:`port` (the OPS_HOST setting) from the running
    loop; cancel the task to stop."""
    config = uvicorn.Config(
        ops_app(name, checks),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    return asyncio.get_running_loop().create_task(_EmbeddedServer(config).serve())


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the worker it runs inside."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
