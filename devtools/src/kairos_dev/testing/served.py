"""An ASGI app served on a real port from a thread of the test process: for servers a
test must reach over HTTP (a provider fake, an app whose clock the test holds, one
another server calls back) without the start-up cost of a process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from kairos_dev.infra.process import LOCALHOST, free_port

ConfigFactory = Callable[[Any, str, int], uvicorn.Config]


def plain_config(app: Any, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, log_level="warning")


class Served:
    """`with Served(app) as served:` serves `app` at `served.url` (on `port` if given)."""

    def __init__(
        self, app: Any, port: int | None = None, config: ConfigFactory = plain_config
    ) -> None:
        port = port or free_port()
        settings = config(app, LOCALHOST, port)
        scheme = "https" if settings.ssl_certfile else "http"
        self.url = f"{scheme}://{LOCALHOST}:{port}"
        self._server = uvicorn.Server(settings)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> Served:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
