"""CalDAV for dev and tests: Radicale (a real CalDAV server from PyPI) with one demo account.

`make dev` and the tests connect calendars to it exactly as a specialist connects
Nextcloud or Fastmail: a URL, a user name and an (app) password. The account's
password is new on every start (it is shown in the `make dev` banner); the account
has one calendar, `kairos`, made at start.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from kairos_dev.infra.handle import Handle
from kairos_dev.infra.process import LOCALHOST, ManagedProcess, free_port, wait_until

DEMO_USER = "demo"
DEMO_CALENDAR = "kairos"

_MKCALENDAR = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop><D:displayname>Kairos demo</D:displayname></D:prop></D:set>
</C:mkcalendar>"""


@dataclass(frozen=True)
class CalDavAccount:
    user: str
    password: str


class RadicaleHandle(Handle):
    """A Radicale server: `url` is its root; `account` the demo account, whose calendar
    is at `calendar_url`."""

    def __init__(
        self, url: str, account: CalDavAccount, users: Path, stop: Callable[[], object]
    ) -> None:
        super().__init__(url, provider="own", where=f"own radicale at {url}", stop=stop)
        self.account = account
        self._users = users

    @property
    def work_dir(self) -> Path:
        """Where its users file and its collections (`collections/collection-root`) are."""
        return self._users.parent

    @property
    def calendar_url(self) -> str:
        return f"{self.url}/{self.account.user}/{DEMO_CALENDAR}/"

    def add_account(self, user: str) -> CalDavAccount:
        """Another account with its own calendar (a test's specialist of its own)."""
        account = CalDavAccount(user, secrets.token_urlsafe(12))
        with self._users.open("a") as users:
            users.write(f"{account.user}:{account.password}\n")
        _make_calendar(self.url, account)
        return account

    def revoke(self, user: str) -> None:
        """Change the account's password, as a person revoking an app password does."""
        lines = self._users.read_text().splitlines()
        kept = [line for line in lines if not line.startswith(f"{user}:")]
        kept.append(f"{user}:{secrets.token_urlsafe(12)}")
        self._users.write_text("\n".join(kept) + "\n")

    def banner(self) -> str:
        """The `make dev` banner line: what a person types into the connect form."""
        a = self.account
        return f"CalDAV  {self.url}/  user {a.user}  password {a.password}"


def _config(work_dir: Path, port: int) -> str:
    return f"""[server]
hosts = {LOCALHOST}:{port}

[auth]
type = htpasswd
htpasswd_filename = {work_dir / "users"}
htpasswd_encryption = plain
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = {work_dir / "collections"}

[logging]
level = warning
"""


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/.web/", timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


def _make_calendar(url: str, account: CalDavAccount) -> None:
    auth = (account.user, account.password)
    with httpx.Client(auth=auth, timeout=10) as client:
        # The first authenticated request makes the user's principal collection.
        client.request("PROPFIND", f"{url}/{account.user}/", headers={"Depth": "0"})
        response = client.request(
            "MKCALENDAR",
            f"{url}/{account.user}/{DEMO_CALENDAR}/",
            content=_MKCALENDAR,
            headers={"Content-Type": "application/xml"},
        )
        if response.status_code not in (201, 405, 409):  # 405, 409: it exists already
            raise RuntimeError(f"radicale: MKCALENDAR answered {response.status_code}")


def start_radicale(
    data_dir: Path | None = None, *, port: int | None = None, password: str | None = None
) -> RadicaleHandle:
    """Start Radicale (on a free port unless told) with the demo account (a new password
    unless told) and its calendar; `data_dir` keeps the calendars across runs."""
    work_dir = data_dir or Path(tempfile.mkdtemp(prefix="kairos-radicale-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    account = CalDavAccount(DEMO_USER, password or secrets.token_urlsafe(12))
    (work_dir / "users").write_text(f"{account.user}:{account.password}\n")
    port = port or free_port()
    config = work_dir / "config"
    config.write_text(_config(work_dir, port))
    argv = [sys.executable, "-m", "radicale", "--config", str(config)]
    process = ManagedProcess("radicale", argv, cwd=work_dir, stop_timeout=5).start()

    def stop() -> None:
        process.stop()
        if data_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)

    url = f"http://{LOCALHOST}:{port}"
    try:
        wait_until(lambda: _answers(url), what="radicale", process=process)
        _make_calendar(url, account)
    except BaseException:
        stop()
        raise
    return RadicaleHandle(url, account, work_dir / "users", stop)


#: `make dev`'s Radicale: a fixed port, and the demo password kept in the state directory.
DEV_PORT = 5232


def dev_account(state: Path) -> CalDavAccount:
    """The demo account of `make dev`, the same across restarts (its password is made once)."""
    path = state / "radicale-demo-password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(12))
    return CalDavAccount(DEMO_USER, path.read_text().strip())


def dev_banner(state: Path) -> str:
    """The banner line of `make dev`'s Radicale (RadicaleHandle.banner's form)."""
    account = dev_account(state)
    return (
        f"CalDAV  http://{LOCALHOST}:{DEV_PORT}/  user {account.user}  password {account.password}"
    )


def main() -> None:
    """`python -m kairos_dev.infra.radicale STATE_DIR`: `make dev`'s Radicale, until SIGTERM."""
    state = Path(sys.argv[1])
    account = dev_account(state)
    handle = start_radicale(state / "radicale", port=DEV_PORT, password=account.password)
    try:
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
    finally:
        handle.stop()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    main()
