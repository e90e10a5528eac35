"""What a provider returns, and the order in which providers are tried."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Literal, Self, TypeVar

from kairos_dev.infra.docker import docker_engine

log = logging.getLogger("kairos_dev.infra")

Provider = Literal["env", "docker", "machine", "own"]
PROVIDER_ORDER: tuple[Provider, ...] = ("env", "docker", "machine", "own")

#: Set to 1 to skip Docker and the machine's servers (explicit URLs still win).
FORCE_OWN_ENV = "KAIROS_FORCE_OWN"
#: Set to 1 to never use testcontainers, even when a Docker engine answers.
NO_DOCKER_ENV = "KAIROS_NO_DOCKER"


class Handle:
    """A running piece of infrastructure: its URL, and how to stop it if we started it."""

    def __init__(
        self,
        url: str,
        *,
        provider: Provider,
        where: str,
        stop: Callable[[], object] | None = None,
    ) -> None:
        self.url = url
        self.provider = provider
        self.where = where
        self._stop = stop

    def stop(self) -> None:
        """Stop what this handle started (nothing for env URLs and machine servers)."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, provider={self.provider!r})"


H = TypeVar("H", bound=Handle)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def provider_order(*, prefer_own_process: bool = False) -> tuple[Provider, ...]:
    if prefer_own_process:
        return ("own",)
    if _flag(FORCE_OWN_ENV):
        return ("env", "own")
    if _flag(NO_DOCKER_ENV):
        return ("env", "machine", "own")
    return PROVIDER_ORDER


def select(
    service: str,
    attempts: Mapping[Provider, Callable[[], H | None]],
    *,
    prefer_own_process: bool = False,
) -> H:
    """Try providers in order; each attempt returns a handle or None when it does not apply.

    A Docker failure (no image, no network) falls through to the next provider; a
    failure to start our own process is raised.
    """
    for provider in provider_order(prefer_own_process=prefer_own_process):
        if provider == "docker" and docker_engine() is None:
            continue
        try:
            handle = attempts[provider]()
        except Exception as exc:
            if provider != "docker":
                raise
            log.warning("%s: testcontainers failed (%s); trying the next provider", service, exc)
            continue
        if handle is not None:
            log.info("%s: %s", service, handle.where)
            return handle
    raise RuntimeError(f"{service}: no provider could supply it")  # "own" always returns
