"""/healthz, /readyz and /metrics for worker processes (relays, consumers) that serve no API.

Runs uvicorn inside the worker's own event loop, so probes see the same process
the orchestrator would restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping

import uvicorn
from fastapi import FastAPI

from kairos.web.app import service_app
from kairos.web.health import Check


def ops_app(name: str, checks: Mapping[str, Check]) -> FastAPI:
    """The app of a worker that serves no API: health, readiness and metrics only."""
    return service_app(name, checks)


@contextlib.asynccontextmanager
async def serving_ops(
    name: str, port: int | None, checks: Mapping[str, Check], *, host: str
) -> AsyncIterator[None]:
    """The ops endpoints served on `host`:`port` (the OPS_HOST setting) from the running
    loop while inside (none when `port` is None), stopped on the way out."""
    if port is None:
        yield
        return
    config = uvicorn.Config(
        ops_app(name, checks),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = asyncio.get_running_loop().create_task(_EmbeddedServer(config).serve())
    try:
        yield
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the worker it runs inside."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
