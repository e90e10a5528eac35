"""A booking service in a uvicorn process of its own, for tests that need real HTTP and processes.

    with BookingProcess(database_url, redis_url) as service:
        httpx.get(service.url + "/readyz")

The process runs `python -m uvicorn booking.main:app` with the test credentials of
tests/booking/helpers.py, so `Catalog(httpx.Client(base_url=service.url))` drives it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from types import TracebackType

import httpx

from kairos.infra.process import LOCALHOST, ManagedProcess, free_port, wait_until
from tests.booking.helpers import ADMIN_API_KEY, JWT_SECRET, MANAGE_TOKEN_SECRET

READY_TIMEOUT_SECONDS = 30.0


class BookingProcess:
    """One booking service process; `restart()` keeps its port, database and Redis."""

    def __init__(
        self,
        database_url: str,
        redis_url: str,
        *,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.alive

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "KAFKA_BOOTSTRAP_SERVERS": "unused:9092",
            "ADMIN_API_KEY": ADMIN_API_KEY,
            "JWT_SECRET": JWT_SECRET,
            "MANAGE_TOKEN_SECRET": MANAGE_TOKEN_SECRET,
            "LOG_LEVEL": "WARNING",
            **self.extra_env,
        }

    def start(self) -> BookingProcess:
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "booking.main:app",
            "--host",
            LOCALHOST,
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--no-access-log",
        ]
        self._process = ManagedProcess(f"booking:{self.port}", argv, env=self.environment()).start()
        wait_until(
            self._ready,
            what=f"booking service on port {self.port}",
            timeout=READY_TIMEOUT_SECONDS,
            process=self._process,
        )
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    def restart(self) -> BookingProcess:
        self.stop()
        return self.start()

    def output(self, lines: int = 50) -> str:
        """The last lines the process wrote, for assertion messages."""
        return self._process.output_tail(lines) if self._process is not None else ""

    def _ready(self) -> bool:
        try:
            return httpx.get(self.url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def __enter__(self) -> BookingProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
