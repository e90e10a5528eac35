"""Run a Kairos service or worker as a real process, the way `make dev` and k8s do."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Self

from kairos_dev.infra.process import ManagedProcess, answers_200, free_port, wait_until

TEST_SECRETS = {
    # At least 32 bytes each, as the services require (kairos.settings).
    "ADMIN_API_KEY": "test-admin-key-0123456789abcdef0123456789",
    "JWT_SECRET": "test-jwt-secret-0123456789abcdef0123456789",
    "MANAGE_TOKEN_SECRET": "test-manage-secret-0123456789abcdef0123",
    "PRIVACY_MASTER_KEY": "test-privacy-master-0123456789abcdef0123",
    "PRIVACY_INDEX_KEY": "test-privacy-index-0123456789abcdef01234",
    # calendar-sync: two credential keys (the first seals), and the OAuth state's key
    "CALENDAR_CREDENTIAL_KEYS": "test-calendar-key-0123456789abcdef012345",
    "CALENDAR_OAUTH_STATE_KEY": "test-oauth-state-0123456789abcdef0123456",
    # webhooks: the key sealing the subscriptions' signing secrets
    "WEBHOOK_SECRET_KEYS": "test-webhook-key-0123456789abcdef01234567",
}


def service_env(
    database_url: str, redis_url: str, kafka_bootstrap: str = "unused:9092", **extra: str
) -> dict[str, str]:
    """The environment a service reads: connection URLs, test secrets, quiet logs."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        # The key store shares the service's database in tests, as in dev.
        "PRIVACY_DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        # A test's broker is a dev broker: the processes create (and the relay recreates)
        # their topics.
        "KAFKA_TOPIC_MANAGEMENT": "dev",
        "LOG_LEVEL": "WARNING",
        **TEST_SECRETS,
        **extra,
    }


class ServiceProcess:
    """`python -m <args>` with a free port, ready once GET `ready_path` answers 200.

    For an API: ServiceProcess.api("booking.main:app", env). For a worker with ops
    endpoints: ServiceProcess.worker("booking.relay", env, port_env="RELAY_OPS_PORT").
    """

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str],
        port: int,
        ready_path: str = "/readyz",
    ) -> None:
        self.name = name
        self.port = port
        self.ready_path = ready_path
        self.url = f"http://127.0.0.1:{port}"
        self._process = ManagedProcess(name, [sys.executable, "-m", *args], env=env)

    @classmethod
    def api(cls, app: str, env: Mapping[str, str], workers: int = 1) -> ServiceProcess:
        port = free_port()
        args = [
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        return cls(app, args, env, port)

    @classmethod
    def worker(
        cls, module: str, env: Mapping[str, str], port_env: str, ready_path: str = "/readyz"
    ) -> ServiceProcess:
        port = free_port()
        return cls(module, [module], {**env, port_env: str(port)}, port, ready_path)

    def start(self, timeout: float = 60) -> Self:
        self._process.start()
        wait_until(
            lambda: answers_200(self.url + self.ready_path),
            what=self.name,
            timeout=timeout,
            process=self._process,
        )
        return self

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited in time; its exit code."""
        return self._process.stop()

    def kill(self) -> None:
        """Stop at once, as a crash would (SIGKILL, no clean-up)."""
        self._process.stop_signal = signal.SIGKILL
        self._process.stop()
        self._process.stop_signal = signal.SIGTERM

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._process.alive

    def output(self, lines: int = 50) -> str:
        return self._process.output_tail(lines)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
