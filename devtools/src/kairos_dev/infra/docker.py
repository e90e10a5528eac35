"""Is a Docker engine reachable? Answered cheaply (a socket and one /_ping), once per process."""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

_PING = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"


def _candidates() -> list[str]:
    if host := os.environ.get("DOCKER_HOST"):
        return [host]
    paths = [Path("/var/run/docker.sock"), Path.home() / ".docker/run/docker.sock"]
    if runtime := os.environ.get("XDG_RUNTIME_DIR"):
        paths.append(Path(runtime) / "docker.sock")
    return [f"unix://{path}" for path in paths if path.exists()]


def _answers(url: str, timeout: float) -> bool:
    parts = urlsplit(url)
    try:
        if parts.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(parts.path)
        elif parts.scheme in {"tcp", "http", "https"} and parts.hostname:
            sock = socket.create_connection((parts.hostname, parts.port or 2375), timeout=timeout)
        else:
            return False
        with sock:
            sock.sendall(_PING)
            reply = sock.recv(64)
    except OSError:
        return False
    # A TLS endpoint answers a plain request with an HTTP error, which still proves an engine.
    return reply.startswith(b"HTTP/") and (b" 200 " in reply or parts.scheme != "unix")


@functools.cache
def docker_engine(timeout: float = 1.0) -> str | None:
    """The URL of a Docker engine that answers, or None. Sets DOCKER_HOST for testcontainers."""
    for url in _candidates():
        if _answers(url, timeout):
            os.environ.setdefault("DOCKER_HOST", url)
            return url
    return None
