"""`serving(app)`: `Served` as a context manager that gives the URL, over HTTPS when given a
certificate (the Microsoft fake: msal accepts only https authorities)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from kairos_dev.testing.served import Served


@contextmanager
def serving(
    app: Any, port: int | None = None, tls: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """Serve `app`; over HTTPS with `tls` (certificate, key)."""

    def config(app: Any, host: str, port: int) -> uvicorn.Config:
        return uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            ssl_certfile=str(tls[0]) if tls else None,
            ssl_keyfile=str(tls[1]) if tls else None,
        )

    with Served(app, port, config) as served:
        yield served.url
