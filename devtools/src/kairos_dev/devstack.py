"""`kairos dev`: the whole stack in the foreground, infrastructure first, then the services.

The services are those registered (kairos_dev.registration): their processes, demo
seeds, topics and banner lines. The public origin is the gateway on API_URL
(kairos_dev.gateway), which forwards to the services' own ports as the k8s Ingress
does; GATEWAY_UPSTREAMS says where.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from kairos.plugins import PluginError
from kairos_dev.infra import Stack
from kairos_dev.infra.process import (
    ManagedProcess,
    ProcessExitedError,
    answers_200,
    port_is_free,
    wait_until,
)
from kairos_dev.registration import (
    API_HOST,
    API_PORT,
    API_URL,
    DEV_SERVICES,
    BannerLine,
    DevService,
    ServiceSpec,
    local_url,
    registered_services,
)
from kairos_dev.web_app import WEB_ROOT_ENV, repository_web_dist

DEV_DATABASE = "kairos_dev"
SECRET_NAMES = ("ADMIN_API_KEY", "JWT_SECRET", "MANAGE_TOKEN_SECRET")
# Kept in the state directory across runs, like the database: new ones would make every
# person stored so far read as erased (kairos.privacy), every calendar credential
# unreadable, and OAuth consents under way fail.
LASTING_SECRET_NAMES = (
    "PRIVACY_MASTER_KEY",
    "PRIVACY_INDEX_KEY",
    "CALENDAR_CREDENTIAL_KEYS",
    "CALENDAR_OAUTH_STATE_KEY",
)
STATE_DIR_ENV = "KAIROS_STATE_DIR"
STATE_FILE = "dev.env"


class DevStackError(RuntimeError):
    """The stack cannot start or keep running; the message says why."""


def gateway_spec(
    port: int, upstreams: Mapping[str, str], web_root: Path | None = None
) -> ServiceSpec:
    """The dev gateway (kairos_dev.gateway) on `port`, forwarding to {service: base URL},
    and serving the web app built in `web_root` (if any) at the other paths."""
    web = ((WEB_ROOT_ENV, str(web_root)),) if web_root is not None else ()
    return ServiceSpec(
        "gateway",
        "kairos_dev.gateway",
        ("kairos_dev.gateway", "--host", API_HOST, "--port", str(port)),
        port=port,
        ready_url=f"{local_url(port)}/readyz",
        env=(("GATEWAY_UPSTREAMS", ",".join(f"{k}={v}" for k, v in upstreams.items())), *web),
    )


@dataclass(frozen=True)
class Plan:
    """What `kairos dev` runs, and what its banner shows."""

    processes: tuple[ServiceSpec, ...]
    seeds: tuple[ServiceSpec, ...] = ()
    topics: tuple[str, ...] = ()
    hints: tuple[BannerLine, ...] = ()


def plan(services: Sequence[DevService] | None = None) -> Plan:
    """The stack of `services` (default: the registered ones, kairos_dev.registration):
    their processes, then the gateway, forwarding to each one's API."""
    services = registered_services() if services is None else services
    upstreams = {
        # A dev fake shows no URL in the banner (it has no docs or metrics), only its port.
        service.name: api.url or local_url(api.port)
        for service in services
        if (api := service.api) is not None and api.port is not None
    }
    processes = (
        *(process for service in services for process in service.processes),
        # Last, so the stack counts as up once the public origin answers; its own
        # readiness does not depend on the upstreams, so the order is not required.
        gateway_spec(API_PORT, upstreams, repository_web_dist()),
    )
    _check_distinct("process name", [process.name for process in processes])
    _check_distinct("port", [process.port for process in processes if process.port is not None])
    return Plan(
        processes,
        seeds=tuple(service.seed for service in services if service.seed is not None),
        topics=tuple(topic for service in services for topic in service.topics),
        hints=tuple(line for s in services if s.hints is not None for line in s.hints(API_URL)),
    )


def _check_distinct(what: str, values: Sequence[object]) -> None:
    """Two services' registrations must not claim the same port or process name."""
    if repeated := sorted({str(v) for v in values if values.count(v) > 1}):
        raise DevStackError(f"{what} {', '.join(repeated)} is registered twice ({DEV_SERVICES})")


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


def _banner(stack: Stack, env: Mapping[str, str], stack_plan: Plan) -> list[str]:
    def line(label: str, text: str) -> str:
        return f"  {label:<15} {text}"

    lines = [
        "",
        "Kairos dev stack is up. Ctrl-C stops everything.",
        line("API", f"{API_URL}  (every /v1 path, routed as the k8s Ingress does)"),
        line("API reference", f"{API_URL}/docs  (every service's OpenAPI document, merged)"),
        *(line(label, text) for label, text in stack_plan.hints),
    ]
    for spec in stack_plan.processes:
        if spec.url is not None:
            docs = f"docs {spec.url}/docs  " if spec.api else ""
            lines.append(line(spec.name, f"{docs}metrics {spec.url}/metrics"))
    topics = f"  topic {', '.join(stack_plan.topics)}" if stack_plan.topics else ""
    return [
        *lines,
        line("PostgreSQL", stack.database_url),
        line("Redis", stack.redis.url),
        line("Kafka", stack.kafka.bootstrap + topics),
        line("Admin API key", env["ADMIN_API_KEY"]),
        line("", f"send it as: Authorization: Bearer {env['ADMIN_API_KEY']}"),
        *(
            [line("Watch events", _command("tail", stack_plan.topics[0]))]
            if stack_plan.topics
            else []
        ),
        line("Specialist JWT", _command("token", "<specialist-id>")),
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
        return answers_200(url)

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
    stack_plan: Plan | None = None, *, fresh: bool = False, out: TextIO = sys.stdout
) -> int:
    """Run the stack (default: the registered services' plan()) until Ctrl-C/SIGTERM
    (exit 0) or until a service dies (exit 1)."""
    console = _Console(out)
    say = console.printer("kairos")
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(f"{'infra':>{console.width}} | %(message)s"))
    infra_log = logging.getLogger("kairos_dev.infra")
    infra_log.addHandler(handler)
    previous_level = infra_log.level
    infra_log.setLevel(logging.INFO)
    # Set explicitly: a shell starts background jobs with SIGINT ignored.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack: Stack | None = None
    running: list[ManagedProcess] = []
    try:
        stack_plan = plan() if stack_plan is None else stack_plan
        services = stack_plan.processes
        for spec in [*services, *stack_plan.seeds]:
            _check_module(spec)
            _check_port(spec)
        stack = Stack.start(database=DEV_DATABASE, postgres_data_dir=state_dir() / "postgres")
        if fresh and stack.postgres.provider != "env":
            say(f"--fresh: recreating database {DEV_DATABASE}")
            stack.postgres.drop_database(DEV_DATABASE)
            stack.postgres.create_database(DEV_DATABASE)
        env = {**os.environ, **stack.env(), **_dev_secrets(), "PYTHONUNBUFFERED": "1"}
        # Two dozen processes share one server, perhaps the machine's (often 100
        # connections): small pools and event-store pools are plenty for one person.
        env.setdefault("DB_POOL_SIZE", "3")
        env.setdefault("POSTGRES_POOL_SIZE", "2")
        # dev keeps the key store in the one dev database
        env.setdefault("PRIVACY_DATABASE_URL", stack.database_url)
        running.extend(_spawn(spec, env, console) for spec in services)
        for spec in services:
            if spec.ready_url is not None:
                say(f"waiting for {spec.ready_url}")
                _wait_ready(spec.ready_url, spec.name, running)
        for seed in stack_plan.seeds:
            if code := _run_seed(seed, env, console, running):
                say(f"warning: {seed.name} exited with code {code}; the stack keeps running")
        state = {"KAIROS_DEV_PID": str(os.getpid()), **stack.env()}
        state |= {name: env[name] for name in SECRET_NAMES}
        with _state_file(state):
            console.raw("\n".join(_banner(stack, env, stack_plan)))
            while True:
                _raise_if_exited(running)
                time.sleep(0.2)
    except KeyboardInterrupt:
        say("stopping")
        return 0
    except (DevStackError, PluginError, ProcessExitedError, TimeoutError) as exc:
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
