"""Ports, readiness waits and the lifecycle of processes the project starts itself."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

log = logging.getLogger("kairos_dev.infra")

LOCALHOST = "127.0.0.1"
_PR_SET_PDEATHSIG = 1


class ProcessExitedError(RuntimeError):
    """A process the project started exited while it was expected to run."""


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    """True if a server could listen on the port (connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def answers_200(url: str) -> bool:
    """True if a GET of `url` answers 200 within a second (a readiness probe)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _parent_death_signal(sig: int) -> Callable[[], None] | None:
    """A preexec function that makes the child get `sig` when its parent dies (Linux only).

    The kernel ties this to the thread that forked the child, so it is only safe from
    the main thread, which lives as long as the process.
    """
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec


class ManagedProcess:
    """A child process with merged output, kept in a ring buffer and optionally forwarded.

    The child runs in its own session, so a Ctrl-C in the terminal reaches only the
    parent, which then stops children in the order it chooses. On Linux the child also
    gets its stop signal if the parent dies without cleaning up.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
        stop_timeout: float = 10.0,
        on_output: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.on_output = on_output
        self._lines: collections.deque[str] = collections.deque(maxlen=200)
        self._popen: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> ManagedProcess:
        if self.alive:
            raise RuntimeError(f"{self.name} is already running")
        self._popen = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            user=self.user,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_parent_death_signal(self.stop_signal),
        )
        self._reader = threading.Thread(
            target=self._pump, args=(self._popen,), name=f"output:{self.name}", daemon=True
        )
        self._reader.start()
        return self

    def _pump(self, popen: subprocess.Popen[bytes]) -> None:
        assert popen.stdout is not None
        for raw in popen.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self._lines.append(line)
            if self.on_output is not None:
                self.on_output(line)

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll() if self._popen is not None else None

    @property
    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def output_tail(self, lines: int = 30) -> str:
        return "\n".join(list(self._lines)[-lines:])

    def stop(self) -> int | None:
        """Stop the process (its stop signal, then SIGKILL to its whole group); idempotent."""
        popen = self._popen
        if popen is None:
            return None
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                popen.send_signal(self.stop_signal)
            try:
                popen.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0fs; killing it", self.name, self.stop_timeout)
                # Not reaped yet, so its pid still names its process group.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait()
        if self._reader is not None:
            self._reader.join(timeout=2)
        if popen.stdout is not None:
            popen.stdout.close()
        return popen.returncode


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float = 30.0,
    interval: float = 0.05,
    process: ManagedProcess | None = None,
) -> None:
    """Poll `check` until it returns True; fail early if `process` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and not process.alive:
            raise ProcessExitedError(
                f"{what}: process exited with code {process.returncode} before it was ready;"
                f" its last output:\n{process.output_tail()}"
            )
        if check():
            return
        if time.monotonic() > deadline:
            tail = f"; its last output:\n{process.output_tail()}" if process is not None else ""
            raise TimeoutError(f"{what} not ready after {timeout:.0f}s{tail}")
        time.sleep(interval)
