"""`kairos dev`: the whole stack in the foreground, infrastructure first, then the services.

The public origin is the gateway on API_URL (kairos.gateway), which forwards to
the services' own ports as the k8s Ingress does; GATEWAY_UPSTREAMS says where.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.util
import logging
import os
import secrets
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from kairos.infra import Stack
from kairos.infra.process import ManagedProcess, ProcessExitedError, port_is_free, wait_until

API_HOST = "127.0.0.1"
API_PORT = 8000  # the gateway: the one public origin, as the Ingress is in k8s
API_URL = f"http://{API_HOST}:{API_PORT}"
RELAY_OPS_PORT = 8001
BOOKING_PORT = 8010
AVAILABILITY_PORT = 8020
PROJECTOR_OPS_PORT = 8021
DEV_DATABASE = "kairos_dev"
EVENTS_TOPIC = "booking.events.v1"
SECRET_NAMES = ("ADMIN_API_KEY", "JWT_SECRET", "MANAGE_TOKEN_SECRET")
# Kept in the state directory across runs, like the database: new ones would make every
# person stored so far read as erased (kairos.privacy).
LASTING_SECRET_NAMES = ("PRIVACY_MASTER_KEY", "PRIVACY_INDEX_KEY")
STATE_DIR_ENV = "KAIROS_STATE_DIR"
STATE_FILE = "dev.env"


def _local(port: int) -> str:
    return f"http://{API_HOST}:{port}"


@dataclass(frozen=True)
class ServiceSpec:
    """One process of the stack, run as `python -m <args>`."""

    name: str
    module: str  # must be importable before anything starts
    args: tuple[str, ...]
    port: int | None = None  # must be free before anything starts
    ready_url: str | None = None  # polled until it answers 200
    env: tuple[tuple[str, str], ...] = ()  # extra environment for this process only
    url: str | None = None  # its own HTTP server, shown in the banner (/metrics, and /docs if api)
    api: bool = False  # serves an API with its OpenAPI docs at /docs


def gateway_spec(port: int, upstreams: Mapping[str, str]) -> ServiceSpec:
    """The dev gateway (kairos.gateway) on `port`, forwarding to {service: base URL}."""
    return ServiceSpec(
        "gateway",
        "kairos.gateway",
        ("kairos.gateway", "--host", API_HOST, "--port", str(port)),
        port=port,
        ready_url=f"{_local(port)}/readyz",
        env=(("GATEWAY_UPSTREAMS", ",".join(f"{k}={v}" for k, v in upstreams.items())),),
    )


# What the gateway forwards to (service names as in kairos.gateway.ROUTES). Routes
# to services not listed here (calendar-sync, video: no API yet) answer 502.
GATEWAY_UPSTREAMS = {"booking": _local(BOOKING_PORT), "availability": _local(AVAILABILITY_PORT)}


def _api(name: str, app: str, port: int) -> ServiceSpec:
    """A service's API: `uvicorn <app>` on `port`."""
    return ServiceSpec(
        name,
        app.partition(":")[0],
        ("uvicorn", app, "--host", API_HOST, "--port", str(port)),
        port=port,
        ready_url=f"{_local(port)}/readyz",
        url=_local(port),
        api=True,
    )


def _worker(name: str, module: str, port: int, port_env: str) -> ServiceSpec:
    """A worker (`python -m <module>`) serving only ops endpoints, on the port in `port_env`."""
    return ServiceSpec(
        name,
        module,
        (module,),
        port=port,
        ready_url=f"{_local(port)}/readyz",
        env=((port_env, str(port)),),
        url=_local(port),
    )


SERVICES: tuple[ServiceSpec, ...] = (
    _api("booking-api", "booking.main:app", BOOKING_PORT),
    _worker("relay", "booking.relay", RELAY_OPS_PORT, "RELAY_OPS_PORT"),
    _api("availability", "availability.main:app", AVAILABILITY_PORT),
    _worker("projector", "availability.projector", PROJECTOR_OPS_PORT, "PROJECTOR_OPS_PORT"),
    # Last, so the stack counts as up once the public origin answers; its own
    # readiness does not depend on the upstreams, so the order is not required.
    gateway_spec(API_PORT, GATEWAY_UPSTREAMS),
)
SEED = ServiceSpec("seed", "booking.seed", ("booking.seed", "--base-url", API_URL))


class DevStackError(RuntimeError):
    """The stack cannot start or keep running; the message says why."""


def state_dir() -> Path:
    """Where dev state lives: $KAIROS_STATE_DIR, else `.kairos/` at the repository root."""
    if configured := os.environ.get(STATE_DIR_ENV):
        return Path(configured)
    cwd = Path.cwd().resolve()
    for directory in (cwd, *cwd.parents):
        if (directory / "shared" / "pyproject.toml").exists():
            return directory / ".kairos"
    return Path.home() / ".kairos"


def read_state() -> dict[str, str]:
    """The environment of a running `kairos dev` (empty if none runs)."""
    path = state_dir() / STATE_FILE
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    state = dict(line.split("=", 1) for line in lines if "=" in line)
    pid = state.get("KAIROS_DEV_PID", "")
    if not pid.isdigit() or not Path(f"/proc/{pid}").exists():
        return {}
    return state


@contextlib.contextmanager
def _state_file(env: Mapping[str, str]) -> Iterator[None]:
    path = state_dir() / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.writelines(f"{key}={value}\n" for key, value in env.items())
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


class _Console:
    """Prefixed, line-atomic output shared by the runner and its children's output threads."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()
        self.width = 12

    def line(self, name: str, text: str) -> None:
        with self._lock:
            self._out.write(f"{name:>{self.width}} | {text}\n")
            self._out.flush()

    def raw(self, text: str) -> None:
        with self._lock:
            self._out.write(f"{text}\n")
            self._out.flush()

    def printer(self, name: str) -> Callable[[str], None]:
        return lambda text: self.line(name, text)


def _check_module(spec: ServiceSpec) -> None:
    try:
        found = importlib.util.find_spec(spec.module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        package = spec.module.split(".")[0]
        raise DevStackError(
            f"cannot start {spec.name}: module {spec.module} is not importable (is package"
            f" `{package}` written, and installed by `make .venv`?)"
        )


def _check_port(spec: ServiceSpec) -> None:
    if spec.port is not None and not port_is_free(spec.port, API_HOST):
        raise DevStackError(
            f"cannot start {spec.name}: port {spec.port} on {API_HOST} is already in use"
            f" (another `kairos dev`? find it with `ss -ltnp 'sport = :{spec.port}'`)"
        )


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _dev_secrets() -> dict[str, str]:
    fresh = {name: os.environ.get(name) or secrets.token_urlsafe(32) for name in SECRET_NAMES}
    return {**fresh, **{name: _lasting_secret(name) for name in LASTING_SECRET_NAMES}}


def _lasting_secret(name: str) -> str:
    if os.environ.get(name):
        return os.environ[name]
    path = state_dir() / name.lower()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _raise_if_exited(processes: Sequence[ManagedProcess]) -> None:
    for process in processes:
        if not process.alive:
            raise DevStackError(f"{process.name} exited with code {process.returncode}")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _command(*args: str) -> str:
    kairos = Path(sys.executable).parent / "kairos"
    program = os.path.relpath(kairos) if kairos.exists() else "kairos"
    return " ".join([program, *args])


def _banner(stack: Stack, env: Mapping[str, str], services: Sequence[ServiceSpec]) -> list[str]:
    today = datetime.date.today()
    week = f"from={today}&to={today + datetime.timedelta(days=6)}&timezone=Europe/London"
    lines = [
        "",
        "Kairos dev stack is up. Ctrl-C stops everything.",
        f"  API             {API_URL}  (every /v1 path, routed as the k8s Ingress does)",
        f"  API reference   {API_URL}/docs  (every service's OpenAPI document, merged)",
        f"  Slots           curl '{API_URL}/v1/slots?service_id=<id>&{week}'",
        "                  (<id>: a service id the seed printed above)",
    ]
    for spec in services:
        if spec.url is not None:
            docs = f"docs {spec.url}/docs  " if spec.api else ""
            lines.append(f"  {spec.name:<15} {docs}metrics {spec.url}/metrics")
    return [
        *lines,
        f"  PostgreSQL      {stack.database_url}",
        f"  Redis           {stack.redis.url}",
        f"  Kafka           {stack.kafka.bootstrap}  topic {EVENTS_TOPIC}",
        f"  Admin API key   {env['ADMIN_API_KEY']}",
        f"                  send it as: Authorization: Bearer {env['ADMIN_API_KEY']}",
        f"  Watch events    {_command('tail', EVENTS_TOPIC)}",
        f"  Specialist JWT  {_command('token', '<specialist-id>')}",
        "",
    ]


def _spawn(spec: ServiceSpec, env: Mapping[str, str], console: _Console) -> ManagedProcess:
    argv = [sys.executable, "-m", *spec.args]
    return ManagedProcess(
        spec.name, argv, env={**env, **dict(spec.env)}, on_output=console.printer(spec.name)
    ).start()


def _wait_ready(url: str, name: str, services: Sequence[ManagedProcess]) -> None:
    def ready() -> bool:
        _raise_if_exited(services)
        return _answers_200(url)

    wait_until(ready, what=name, timeout=120, interval=0.2)


def _run_seed(
    spec: ServiceSpec, env: Mapping[str, str], console: _Console, services: Sequence[ManagedProcess]
) -> int | None:
    seeding = _spawn(spec, env, console)

    def seeded() -> bool:
        _raise_if_exited(services)
        return not seeding.alive

    try:
        wait_until(seeded, what=spec.name, timeout=300, interval=0.2)
    finally:
        code = seeding.stop()
    return code


def run_dev(
    *,
    services: Sequence[ServiceSpec] = SERVICES,
    seed: ServiceSpec | None = SEED,
    fresh: bool = False,
    out: TextIO = sys.stdout,
) -> int:
    """Run the stack until Ctrl-C/SIGTERM (exit 0) or until a service dies (exit 1)."""
    console = _Console(out)
    say = console.printer("kairos")
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(f"{'infra':>{console.width}} | %(message)s"))
    infra_log = logging.getLogger("kairos.infra")
    infra_log.addHandler(handler)
    previous_level = infra_log.level
    infra_log.setLevel(logging.INFO)
    # Set explicitly: a shell starts background jobs with SIGINT ignored.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack: Stack | None = None
    running: list[ManagedProcess] = []
    try:
        for spec in [*services, *([seed] if seed else [])]:
            _check_module(spec)
            _check_port(spec)
        stack = Stack.start(database=DEV_DATABASE, postgres_data_dir=state_dir() / "postgres")
        if fresh and stack.postgres.provider != "env":
            say(f"--fresh: recreating database {DEV_DATABASE}")
            stack.postgres.drop_database(DEV_DATABASE)
            stack.postgres.create_database(DEV_DATABASE)
        env = {**os.environ, **stack.env(), **_dev_secrets(), "PYTHONUNBUFFERED": "1"}
        # dev keeps the key store in the one dev database
        env.setdefault("PRIVACY_DATABASE_URL", stack.database_url)
        running.extend(_spawn(spec, env, console) for spec in services)
        for spec in services:
            if spec.ready_url is not None:
                say(f"waiting for {spec.ready_url}")
                _wait_ready(spec.ready_url, spec.name, running)
        if seed is not None and (code := _run_seed(seed, env, console, running)):
            say(f"warning: {seed.name} exited with code {code}; the stack keeps running")
        state = {"KAIROS_DEV_PID": str(os.getpid()), **stack.env()}
        state |= {name: env[name] for name in SECRET_NAMES}
        with _state_file(state):
            console.raw("\n".join(_banner(stack, env, services)))
            while True:
                _raise_if_exited(running)
                time.sleep(0.2)
    except KeyboardInterrupt:
        say("stopping")
        return 0
    except (DevStackError, ProcessExitedError, TimeoutError) as exc:
        say(f"error: {exc}; stopping")
        return 1
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        for process in reversed(running):
            if process.alive:
                say(f"stopping {process.name}")
            process.stop()
        if stack is not None:
            stack.stop()
        for sig, previous_handler in previous.items():
            signal.signal(sig, previous_handler)
        infra_log.removeHandler(handler)
        infra_log.setLevel(previous_level)
