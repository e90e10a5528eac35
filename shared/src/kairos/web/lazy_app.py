"""`uvicorn <service>.main:app` without building the app at import time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from kairos.web.collector import tune_for_a_server


def lazy_app(
    create_app: Callable[[], FastAPI], server_collector: bool = True
) -> Callable[[str], Any]:
    """A module `__getattr__` that builds `app` from the environment on first access.

    Importing a service's main module (tests, tools) then reads no settings and opens
    nothing; only the server asking for `app` does, and its garbage collector is then
    set for serving (kairos.web.collector) unless `server_collector` is false.
    """
    built: list[FastAPI] = []

    def module_getattr(name: str) -> Any:
        if name != "app":
            raise AttributeError(name)
        if not built:
            built.append(create_app())
            if server_collector:
                tune_for_a_server()
        return built[0]

    return module_getattr
