"""An ASGI app served by uvicorn on a local port in a thread of this process: the provider
fakes in tests and benchmarks, and an API a fake must reach (push notifications)."""

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
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=LOCALHOST,
            port=port,
            log_level="warning",
            lifespan="on",
            ssl_certfile=str(tls[0]) if tls else None,
            ssl_keyfile=str(tls[1]) if tls else None,
        )
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
