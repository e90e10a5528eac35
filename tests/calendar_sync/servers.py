"""An ASGI app served by uvicorn on a free local port in a thread: the provider fakes, and
calendar-sync's API where a fake must reach it (push notifications)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from kairos_dev.infra.process import LOCALHOST, free_port


@contextmanager
def serving(
    app: Any, port: int | None = None, tls: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """Serve `app`; over HTTPS with `tls` (certificate, key)."""
    port = port or free_port()
    ssl = {"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])} if tls else {}
    server = uvicorn.Server(
        uvicorn.Config(app, host=LOCALHOST, port=port, log_level="warning", lifespan="on", **ssl)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"{'https' if tls else 'http'}://{LOCALHOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
