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
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from kairos_dev.infra import PostgresHandle, ensure_kafka
from kairos_dev.infra.postgres import database_name
from kairos_dev.testing.web_stack import (
    ADMIN,
    CHROMIUM,
    CHROMIUM_FLAGS,
    Offering,
    WebStack,
    offer,
    web_stack,
)
from tests.web.pages import DESKTOP

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"


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


# Per module, not per session: Playwright's sync API keeps an event loop running in the
# main thread while it is started, which breaks the asyncio of tests collected after it.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
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


@pytest.fixture
def offering(admin: httpx.Client) -> Callable[..., Offering]:
    """A new specialist (working round the clock in `timezone`) and service; the service's
    fields can be given (kairos_dev.testing.web_stack.offer)."""
    return lambda timezone="Europe/Berlin", **service: offer(admin, timezone, **service)
