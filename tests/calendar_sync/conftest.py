"""Fixtures for calendar-sync: the booking API and calendar-sync's API in-process on one
database, a real CalDAV server (Radicale), and the consumer's handlers and effect
dispatcher driven step by step.

`world.deliver()` hands the booking events stored since the last delivery to the
consumer's handlers (each in its own transaction, as the runner does), then performs
the due effects with the real dispatcher; `world.redeliver()` hands the same events
again, as a broker does after a crash. The process and broker path is in
tests/calendar_sync/test_processes.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from availability.external_busy import handlers as availability_busy
from availability.main import create_app as create_availability
from availability.tables import notify_changed
from booking.external_busy import create_table
from booking.external_busy import handlers as booking_busy
from booking.integration import booking_log
from booking.main import create_app as create_booking
from calendar_sync.caldav_calendar import CalDavAccount, open_calendar
from calendar_sync.config import CalendarApiSettings
from calendar_sync.consumers import CONSUMER, booking_handlers
from calendar_sync.integration import calendar_log
from calendar_sync.main import create_app as create_calendar_sync
from calendar_sync.wiring import CalendarSync
from kairos.effects import EffectDispatcher
from kairos.events import CALENDAR_REGISTRY, REGISTRY, Envelope
from kairos.messaging import Handlers
from kairos.messaging.notification_log import NotificationLog
from kairos.privacy import ErasureLedger
from kairos_dev.fakes.google_calendar import FakeGoogle
from kairos_dev.fakes.microsoft_graph import FakeMicrosoft
from kairos_dev.fakes.tls import self_signed
from kairos_dev.infra.process import free_port, wait_until
from kairos_dev.infra.radicale import RadicaleHandle, start_radicale
from kairos_dev.testing.services import TEST_SECRETS
from kairos_dev.testing.serving import serving
from tests.availability.conftest import availability_settings, project_new_events
from tests.booking.conftest import API_NOW, booking_settings
from tests.booking.helpers import (
    ADMIN,
    ADMIN_API_KEY,
    JWT_SECRET,
    MANAGE_TOKEN_SECRET,
    Catalog,
    FrozenClock,
    expect,
)


def calendar_settings(database_url: str, redis_url: str) -> CalendarApiSettings:
    return CalendarApiSettings(
        database_url=database_url,
        redis_url=redis_url,
        kafka_bootstrap_servers="unused:9092",
        kafka_topic_management="dev",
        admin_api_key=ADMIN_API_KEY,
        jwt_secret=JWT_SECRET,
        manage_token_secret=MANAGE_TOKEN_SECRET,
        privacy_database_url=database_url,
        privacy_master_key=TEST_SECRETS["PRIVACY_MASTER_KEY"],
        privacy_index_key=TEST_SECRETS["PRIVACY_INDEX_KEY"],
        calendar_credential_keys=TEST_SECRETS["CALENDAR_CREDENTIAL_KEYS"],
        calendar_oauth_state_key=TEST_SECRETS["CALENDAR_OAUTH_STATE_KEY"],
        calendar_public_url="https://kairos.test",
        booking_api_url="http://testserver",  # the world's booking app (running_world)
    )


@pytest.fixture(scope="session")
def radicale() -> Iterator[RadicaleHandle]:
    handle = start_radicale()
    yield handle
    handle.stop()


@dataclass
class CalendarWorld:
    booking: TestClient
    calendar_api: httpx.Client
    log: NotificationLog
    service: CalendarSync
    handlers: Handlers
    dispatcher: EffectDispatcher
    radicale: RadicaleHandle
    clock: FrozenClock
    catalog: Catalog
    slots_api: TestClient
    delivered: int = 0
    projected: int = 0
    calendar_applied: int = 0

    def deliver(self, after: int | None = None) -> int:
        """Apply the booking events after `after` (default: those not yet delivered),
        then perform the due effects; how many effects were performed."""
        start = self.delivered if after is None else after
        url = self.service.settings.database_url
        top = self.log.top()
        with psycopg.connect(url) as conn:
            for page in self.log.envelopes(start, top):
                for envelope in page:
                    self._apply(conn, envelope)
        self.delivered = max(self.delivered, top)
        performed = 0
        while claimed := self.dispatcher.dispatch_due():
            performed += claimed
        return performed

    def sync_busy(self) -> None:
        """Reconcile every connection (as the poller does), then hand the booking events
        to the availability projector and the calendar events to availability's and
        booking's copies of external busy time."""
        self.service.reconciler.round(full=True)
        self.apply_calendar_events()

    def apply_calendar_events(self) -> None:
        url = self.service.settings.database_url
        self.projected = project_new_events(self.log, url, self.projected)
        with calendar_log(url) as log, psycopg.connect(url) as conn:
            create_table(conn)
            top = log.top()  # read first: events committed meanwhile wait for the next call
            for page in log.envelopes(self.calendar_applied, top):
                for envelope in page:
                    payload = CALENDAR_REGISTRY.decode(envelope)
                    for table in (availability_busy, booking_busy):
                        if type(payload) in table:
                            with conn.transaction():
                                table[type(payload)](conn, envelope, payload)
            self.calendar_applied = top

    def offered(self, service_id: str, day: str) -> list[str]:
        """The starts offered on `day` (the specialist's zone), once the query process
        has heard of every change committed so far (it is told after commit,
        asynchronously): a notice of its own, sent after them, is heard after them."""
        self.apply_calendar_events()
        cache = self.slots_api.app.state.slots.cache
        markers: list[UUID] = []

        def heard() -> bool:
            # A notice sent while the listener reconnects (after a rebuild, say) is lost,
            # and the cache starts afresh then: send another until one is heard.
            if any(cache.notices_heard(marker) for marker in markers):
                return True
            markers.append(uuid4())
            with psycopg.connect(self.service.settings.database_url, autocommit=True) as conn:
                notify_changed(conn, markers[-1], 0)
            return False

        wait_until(heard, what="the slots' change notices")
        query = {"service_id": service_id, "from": day, "to": day}
        body = expect(self.slots_api.get("/v1/slots", params=query), 200)
        return [slot["start"] for slot in body["slots"]]

    def redeliver(self) -> int:
        """Every booking event once more, as after a consumer crash (no positions kept
        here: the effects' ids are what makes a repeat harmless)."""
        return self.deliver(after=0)

    def _apply(self, conn: psycopg.Connection[Any], envelope: Envelope) -> None:
        payload = REGISTRY.decode(envelope)
        for kind in type(payload).__mro__:
            if kind in self.handlers:
                with conn.transaction():
                    self.handlers[kind](conn, envelope, payload)
                return

    def connect_caldav(self, specialist_id: str, user: str | None = None) -> dict[str, Any]:
        """Connect a new Radicale account (`user`, default one made up) of the specialist."""
        account = self.radicale.add_account(user or f"s{specialist_id[:8]}")
        url = f"{self.radicale.url}/{account.user}/kairos/"
        body = {
            "specialist_id": specialist_id,
            "url": url,
            "username": account.user,
            "password": account.password,
        }
        return dict(
            expect(self.calendar_api.post("/v1/calendars/caldav", json=body, headers=ADMIN), 201)
        )

    def caldav_calendar(self, connection: dict[str, Any]) -> Any:
        """The connected calendar as its owner sees it (the caldav library)."""
        values = self.service.credentials.get(UUID(connection["id"]))
        assert values is not None
        return open_calendar(CalDavAccount.of(values))

    def calendar_events(self, after: int = 0) -> list[Envelope]:
        with calendar_log(self.service.settings.database_url) as log:
            return [e for page in log.envelopes(after, log.top()) for e in page]


@pytest.fixture
def world(
    fresh_database: Callable[[], str], redis_url: str, radicale: RadicaleHandle
) -> Iterator[CalendarWorld]:
    with running_world(fresh_database(), redis_url, radicale) as world:
        yield world


@pytest.fixture(scope="session")
def google() -> Iterator[tuple[FakeGoogle, str]]:
    """The fake of Google's endpoints, served on a local port."""
    fake = FakeGoogle()
    with serving(fake.app) as url:
        yield fake, url


@pytest.fixture
def google_world(
    fresh_database: Callable[[], str],
    redis_url: str,
    radicale: RadicaleHandle,
    google: tuple[FakeGoogle, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[CalendarWorld]:
    """A world whose calendar-sync talks to the fake Google and is served over HTTP, so
    that the fake's push notifications reach its webhook."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake speaks plain HTTP
    _, url = google
    endpoints = {
        "google_client_id": "kairos-test.apps.example",
        "google_client_secret": SecretStr("test-google-client-secret"),
        "google_auth_uri": f"{url}/o/oauth2/auth",
        "google_token_uri": f"{url}/token",
        "google_api_url": f"{url}/calendar/v3/",
    }
    with running_world(fresh_database(), redis_url, radicale, served=True, **endpoints) as world:
        yield world


@pytest.fixture(scope="session")
def microsoft() -> Iterator[tuple[FakeMicrosoft, str, Path]]:
    """The fake of Microsoft's identity platform and Graph, over HTTPS (msal wants it)."""
    tls = self_signed()
    fake = FakeMicrosoft()
    with serving(fake.app, tls=tls) as url:
        fake.base_url = url
        yield fake, url, tls[0]


@pytest.fixture
def microsoft_world(
    fresh_database: Callable[[], str],
    redis_url: str,
    radicale: RadicaleHandle,
    microsoft: tuple[FakeMicrosoft, str, Path],
) -> Iterator[CalendarWorld]:
    """A world whose calendar-sync talks to the fake Microsoft, served over HTTP so that
    Graph's notifications reach its webhook."""
    _, url, certificate = microsoft
    endpoints = {
        "microsoft_client_id": "6731de76-14a6-49ae-97bc-6eba6914391e",
        "microsoft_client_secret": SecretStr("test-microsoft-client-secret"),
        "microsoft_authority": f"{url}/common",
        "microsoft_graph_url": url,
        "microsoft_ca_bundle": str(certificate),
    }
    with running_world(fresh_database(), redis_url, radicale, served=True, **endpoints) as world:
        yield world


@contextmanager
def running_world(
    database_url: str,
    redis_url: str,
    radicale: RadicaleHandle,
    served: bool = False,
    **overrides: Any,
) -> Iterator[CalendarWorld]:
    clock = FrozenClock(API_NOW)
    booking_app = create_booking(booking_settings(database_url, redis_url), clock=clock)
    slots_app = create_availability(availability_settings(database_url, redis_url), clock=clock)
    settings = calendar_settings(database_url, redis_url).model_copy(update=overrides)
    if served:
        # The public URL must be known before the app is built: take a port first.
        port = free_port()
        settings = settings.model_copy(update={"calendar_public_url": f"http://127.0.0.1:{port}"})
    booking_client = TestClient(booking_app)
    calendar_app = create_calendar_sync(settings, clock=clock, booking_http=booking_client)
    with (
        booking_client as booking,
        served_on(calendar_app, port) if served else TestClient(calendar_app) as calendar_api,
        booking_log(database_url) as log,
        TestClient(slots_app) as slots_api,
    ):
        service: CalendarSync = calendar_app.state.calendar_sync.service
        ledger = ErasureLedger(database_url)
        ledger.create_tables()
        ledger.register(CONSUMER)
        # The dispatcher runs on the real clock: effects are due when their events happened.
        with EffectDispatcher(database_url, service.writes.handlers()) as dispatcher:
            yield CalendarWorld(
                booking,
                calendar_api,
                log,
                service,
                booking_handlers(service.connections, ledger),
                dispatcher,
                radicale,
                clock,
                Catalog(booking),
                slots_api,
            )


@contextmanager
def served_on(app: Any, port: int) -> Iterator[httpx.Client]:
    with serving(app, port) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client
