"""Browser tests: Debian's Chromium, driven by Playwright, through the web app served by
the dev gateway in front of real service processes (kairos_dev.testing.web_stack).

Chromium is the machine's (`apt-get install chromium`), launched by path: Playwright's
own browser download cannot work here. Every page a test visits can be screenshotted
(desktop and 375 px) into test-artifacts/screenshots/ and checked with axe-core.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from kairos_dev.infra import PostgresHandle, ensure_kafka
from kairos_dev.infra.postgres import database_name
from kairos_dev.infra.process import wait_until
from kairos_dev.testing.web_stack import ADMIN, WebStack, web_stack
from tests.web.pages import DESKTOP

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A camera and microphone for the waiting room's check, without a permission prompt.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
ROUND_THE_CLOCK = [{"day": d, "start": "00:00", "end": "24:00"} for d in range(7)]


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(
            f"\n\n*** The browser tests (tests/web) need Chromium at {CHROMIUM}, and it is not"
            " installed. ***\n*** Install it with: apt-get install chromium ***\n",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def web_dist() -> Path:
    """The built web app, rebuilt first if its sources changed (make web)."""
    if shutil.which("npm") is None:
        pytest.fail("the browser tests need Node.js and npm to build web/", pytrace=False)
    subprocess.run(["make", "-s", "web"], cwd=ROOT, check=True)
    return WEB / "dist"


@pytest.fixture(scope="session")
def stack(
    postgres: PostgresHandle, _databases_to_drop: list[str], redis_url: str, web_dist: Path
) -> Iterator[WebStack]:
    databases = [postgres.create_database(prefix="kairos_web") for _ in range(2)]
    _databases_to_drop.extend(database_name(url) for url in databases)
    with (
        ensure_kafka(prefer_own_process=True) as kafka,
        web_stack(databases[0], databases[1], redis_url, kafka.bootstrap, web_dist) as running,
    ):
        yield running


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright, chromium: Path) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_FLAGS)
    yield launched
    launched.close()


@pytest.fixture
def new_context(browser: Browser, stack: WebStack) -> Iterator[Callable[..., BrowserContext]]:
    """Browser contexts (separate people) at the stack's origin, in UTC and British English
    unless told otherwise; closed after the test."""
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        settings = {
            "base_url": stack.url,
            "locale": "en-GB",
            "timezone_id": "UTC",
            "viewport": DESKTOP,
            "accept_downloads": True,
            **options,
        }
        context = browser.new_context(**settings)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context: Callable[..., BrowserContext]) -> Page:
    return new_context().new_page()


@pytest.fixture
def admin(stack: WebStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, headers=ADMIN, timeout=15) as client:
        yield client


@dataclass(frozen=True)
class Offering:
    """A specialist and one service of theirs, with free time every day."""

    specialist_id: str
    specialist_name: str
    service_id: str
    timezone: str
    email: str


def answered(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def offering(admin: httpx.Client) -> Callable[..., Offering]:
    """A new specialist (working round the clock in `timezone`) and service; the service's
    fields can be given. Returns once its slots are offered."""
    count = 0

    def make(timezone: str = "Europe/Berlin", **service: Any) -> Offering:
        nonlocal count
        count += 1
        name = f"Dr Ada {count} {datetime.now(UTC).strftime('%H%M%S%f')}"
        email = f"ada{count}.{datetime.now(UTC).timestamp()}@example.com"
        specialist = answered(
            admin.post(
                "/v1/specialists",
                json={
                    "name": name,
                    "email": email,
                    "timezone": timezone,
                    "specialty": "Family medicine",
                },
            ),
            201,
        )["id"]
        answered(
            admin.put(f"/v1/specialists/{specialist}/schedule", json={"weekly": ROUND_THE_CLOCK})
        )
        body = {
            "specialist_id": specialist,
            "name": "Consultation",
            "duration_minutes": 30,
            "slot_interval_minutes": 60,
            "minimum_notice_minutes": 120,
            "price": "40.00",
            "currency": "EUR",
            **service,
        }
        created = answered(admin.post("/v1/services", json=body), 201)
        today = datetime.now(UTC).date()
        query = {
            "service_id": created["id"],
            "from": today.isoformat(),
            "to": (today + timedelta(days=7)).isoformat(),
        }
        wait_until(
            lambda: bool(admin.get("/v1/slots", params=query).json().get("slots")),
            what="the new service's slots are offered",
            timeout=30,
            interval=0.1,
        )
        return Offering(specialist, name, created["id"], timezone, email)

    return make
