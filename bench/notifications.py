"""Notifications: 10,000 reminders due in the same minute, sent by one dispatcher.

10,000 confirmed bookings (contacts sealed under 1,000 people's keys, as booking
publishes them) each have an e-mail reminder recorded, all due at the start of the
same minute. One notifications dispatcher, configured as the worker's
(notifications.worker: one thread, batches of 100, the key store on its own
autocommit pool; notifications.effects.Notifier re-checks a batch in one read, builds
its messages and sends them together through the real mailer) drains them into the
dev SMTP sink (aiosmtpd, a process of its own). The clients' links come as the
worker's do: the booking API (a uvicorn process, as the tests and `make dev` start
it) knows the same 10,000 bookings, seeded through its application, and answers each
batch's manage tokens in one call (notifications.links.BookingLinks). The run checks
that the sink holds each message exactly once (by Message-ID), each with its booking's
genuine manage token, and that every effect is recorded done; it reports messages per
second and the lateness (finished - due) of the messages, with the mailer sending over
one SMTP connection and over several (SMTP_CONNECTIONS, 4 by default), and once more
over 4 with fixed links (no call to booking: what the call costs).

The sink and the dispatcher share the machine's cores, so each figure stands next to
the sink's own ceiling measured in the same run: a plain aiosmtplib client sending the
same number of prebuilt copies of such a reminder (with a token in its links) over as
many connections, nothing else to do. `of_sink_ceiling` is the dispatcher's rate over that one.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from urllib.parse import unquote
from uuid import UUID

import aiosmtplib
import httpx
import psycopg
from psycopg_pool import ConnectionPool

from bench.booking import _cpu_seconds
from booking.application import Bookings
from booking.schemas import ServiceFields
from kairos.auth import Authenticator
from kairos.booking_client import BookingApiSettings, BookingClient
from kairos.effects import EffectDispatcher, record_effect
from kairos.effects.store import create_effects_table
from kairos.events.booking import (
    BookedClient,
    BookedService,
    BookedSpecialist,
    BookingSnapshot,
    PersonalContact,
)
from kairos.eventstore import postgres_env
from kairos.pools import autocommit_pool
from kairos.privacy import KeyStore, PersonalData
from kairos.providers.smtp import SmtpMailer, mime_message
from kairos_dev.infra import ensure_postgres, ensure_redis
from kairos_dev.infra.postgres import database_name
from kairos_dev.infra.process import free_port
from kairos_dev.testing.services import TEST_SECRETS, ServiceProcess, service_env
from notifications.appointment import (
    Appointment,
    IssuedLinks,
    LinkIssuer,
    Links,
    Person,
    Terms,
)
from notifications.channels import Channels, build_channels
from notifications.config import ChannelSettings
from notifications.consumers import REMINDERS, Reminder
from notifications.contacts import Contact
from notifications.effects import Notifier
from notifications.links import BookingLinks, BookingTokenLinks
from notifications.messages import MessageOptions, compose
from notifications.tables import create_tables, save_booking

REMINDERS_DUE = 10_000
PEOPLE = 1_000
# Booking's side: 100 specialists with 100 half-hour bookings each (50 hours from
# tomorrow on, inside a service's 60 days of advance).
BOOKING_SPECIALISTS = 100
SLOT_MINUTES = 30
SPECIALIST = UUID(int=1)
SERVICE = UUID(int=2)
SENDER = "Kairos <bench@kairos.example>"
PUBLIC_URL = "https://kairos.example"
# Booking's signer of manage tokens (its test secrets, as the booking API runs here).
TOKENS = Authenticator(
    TEST_SECRETS["ADMIN_API_KEY"], TEST_SECRETS["JWT_SECRET"], TEST_SECRETS["MANAGE_TOKEN_SECRET"]
)
# A client's link carries their booking's manage token in its fragment (links.py).
CLIENT_LINK = re.compile(r"/bookings/([0-9a-f-]{36})#token=([^\s\]>)\"]+)")


def _booking_id(n: int) -> UUID:
    """The n-th booking: the same id on booking's side and on notifications'."""
    return UUID(int=1_000_000 + n)


class StaticLinks:
    """Fixed links, with no call to booking: the figure that shows what the call costs."""

    def links_of(self, wanted: Any) -> StaticLinks:
        return self

    def links_for(self, booking_id: UUID, recipient: str) -> Links:
        return Links(
            manage=f"https://kairos.example/bookings/{booking_id}",
            join=f"https://kairos.example/bookings/{booking_id}/join",
        )


def _seed_booking(url: str) -> None:
    """The bookings in booking's event store, through its application (as its API makes
    them), with the ids the notifications side names; 5 ms or so each."""
    app = Bookings(env=postgres_env(url))
    first = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), clock_time(), UTC)
    per_specialist = REMINDERS_DUE // BOOKING_SPECIALISTS
    for s in range(BOOKING_SPECIALISTS):
        specialist_id = app.register_specialist(f"Bench {s}", f"bench{s}@example.com", "UTC")
        app.set_schedule(specialist_id, None, {day: [[0, 24 * 60]] for day in range(7)})
        terms = ServiceFields(name="Consultation", duration_minutes=SLOT_MINUTES).terms()
        service = app.define_service(specialist_id, terms)
        for k in range(per_specialist):
            n = s * per_specialist + k
            app.request_booking(
                service.id,
                first + timedelta(minutes=SLOT_MINUTES * k),
                {
                    "name": f"Client {n % PEOPLE}",
                    "email": f"client-{n % PEOPLE}@example.org",
                    "timezone": "America/New_York",
                },
                answers={},
                notes=None,
                now=datetime.now(UTC),
                booking_id=_booking_id(n),
            )
    app.close()


def _seed(url: str, personal: PersonalData, due_at: datetime) -> None:
    starts_at = due_at + timedelta(hours=24)
    sealers = [personal.sealer(f"client-{n}@example.org") for n in range(PEOPLE)]
    specialist = personal.sealer("dr@example.org")
    specialist_contact = PersonalContact.model_validate(
        {"name": specialist.seal("Dr. Rao"), "email": specialist.seal("dr@example.org")}
    )
    with psycopg.connect(url) as conn, conn.transaction():
        create_tables(conn)
        create_effects_table(conn)
        for i in range(REMINDERS_DUE):
            booking_id = _booking_id(i)
            sealer = sealers[i % PEOPLE]
            contact = PersonalContact.model_validate(
                {
                    "name": sealer.seal(f"Client {i % PEOPLE}"),
                    "email": sealer.seal(f"client-{i % PEOPLE}@example.org"),
                }
            )
            snapshot = BookingSnapshot(
                status="confirmed",
                service=BookedService(service_id=SERVICE, name="Consultation", duration_minutes=30),
                specialist=BookedSpecialist(
                    specialist_id=SPECIALIST, timezone="Asia/Kolkata", contact=specialist_contact
                ),
                client=BookedClient(timezone="America/New_York", contact=contact),
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=30),
                busy_from=starts_at,
                busy_until=starts_at + timedelta(minutes=30),
                answers={},
            )
            save_booking(conn, booking_id, snapshot, sequence=0, at=due_at - timedelta(days=3))
            record_effect(
                conn,
                REMINDERS["email"],
                Reminder(
                    booking_id=booking_id,
                    recipient="client",
                    version=0,
                    before_seconds=24 * 3600,
                    with_join_link=False,
                ),
                key=f"{booking_id}:v0:86400s:email:client",
                reason=f"booking:{booking_id}",
                due_at=due_at,
            )


def _sample_reminder() -> tuple[str, bytes]:
    """One reminder as the dispatcher sends it with booking's tokens (its Message-ID, and
    the bytes on the wire: the token makes it a tenth longer than with fixed links)."""
    starts_at = datetime.now(UTC) + timedelta(hours=24)
    appointment = Appointment(
        booking_id=UUID(int=1),
        service_name="Consultation",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=30),
        client=Person(Contact("Client 0", "client-0@example.org"), "America/New_York"),
        specialist=Person(Contact("Dr. Rao", "dr@example.org"), "Asia/Kolkata"),
        terms=Terms(),
    )
    mail = compose(
        "reminder",
        appointment,
        "client",
        BookingTokenLinks(PUBLIC_URL, {UUID(int=1): TOKENS.manage_token(UUID(int=1))}).links_for(
            appointment.booking_id, "client"
        ),
        version=0,
        sender=SENDER,
        date=starts_at - timedelta(hours=24),
        options=MessageOptions(reminder_before=timedelta(hours=24)),
    )
    return mail.message_id, mime_message(mail)


def _sink_ceiling(smtp_port: int, connections: int) -> dict[str, Any]:
    """How fast the sink takes REMINDERS_DUE reminders from a client that does nothing
    else: prebuilt copies (each its own Message-ID) over `connections` connections."""
    message_id, raw = _sample_reminder()
    copies = [
        raw.replace(message_id.encode(), f"<ceiling.{i}@kairos.example>".encode())
        for i in range(REMINDERS_DUE)
    ]

    async def blast(share: list[bytes]) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port, timeout=60)
        await client.connect()
        try:
            for message in share:
                await client.sendmail("bench@kairos.example", ["client-0@example.org"], message)
        finally:
            await client.quit()

    async def all_connections() -> None:
        await asyncio.gather(*(blast(copies[n::connections]) for n in range(connections)))

    started = time.perf_counter()
    asyncio.run(all_connections())
    seconds = time.perf_counter() - started
    return {
        "connections": connections,
        "seconds": round(seconds, 2),
        "messages_per_second": round(REMINDERS_DUE / seconds),
    }


def _sink_messages(http_url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{http_url}/dev/mail/messages", timeout=300) as response:
        messages: list[dict[str, Any]] = json.loads(response.read())["messages"]
    return messages


def _with_genuine_token(messages: list[dict[str, Any]]) -> int:
    """How many messages link to their booking with its genuine current manage token
    (none was revoked: generation 0)."""
    genuine = 0
    for message in messages:
        found = CLIENT_LINK.findall(message["text"] or "")
        tokens = {(UUID(booking_id), unquote(token)) for booking_id, token in found}
        if tokens and all(TOKENS.manage_token(b, 0) == token for b, token in tokens):
            genuine += 1
    return genuine


def _clear_sink(http_url: str) -> None:
    request = urllib.request.Request(f"{http_url}/dev/mail/messages", method="DELETE")
    with urllib.request.urlopen(request, timeout=60):
        pass


def _scenario(
    url: str, sink_http: str, smtp_port: int, connections: int, links: LinkIssuer
) -> dict[str, Any]:
    _clear_sink(sink_http)
    # The pools of notifications.worker: the service's, and the key store's (autocommit,
    # kairos.privacy.settings.key_store), here on the same database.
    with (
        ConnectionPool(url, min_size=1, max_size=8) as pool,
        autocommit_pool(url, 4) as key_pool,
    ):
        keys = KeyStore(
            key_pool, TEST_SECRETS["PRIVACY_MASTER_KEY"], TEST_SECRETS["PRIVACY_INDEX_KEY"]
        )
        keys.create_tables()
        personal = PersonalData(keys)
        _seed(url, personal, datetime.now(UTC) + timedelta(hours=1))
        mailer = SmtpMailer("127.0.0.1", smtp_port, security="none", connections=connections)
        unconfigured = build_channels(ChannelSettings(smtp_host=None, twilio_account_sid=None))
        channels = Channels(mailer, unconfigured.sms, unconfigured.push)
        notifier = Notifier(pool, channels, links, personal, SENDER)
        # The dispatcher owns its pool and runs as the worker's (kairos.messaging.runner).
        dispatcher = EffectDispatcher(url, notifier.handlers(), "bench")
        with pool.connection() as conn:
            # The minute begins: every reminder is due at this instant.
            conn.execute("UPDATE effects SET due_at = now()")
        with dispatcher:
            started = time.perf_counter()
            sent = dispatcher.drain()
            seconds = time.perf_counter() - started
        mailer.close()
        with pool.connection() as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE status = 'done'),"
                " percentile_cont(0.5) WITHIN GROUP (ORDER BY finished_at - due_at),"
                " percentile_cont(0.99) WITHIN GROUP (ORDER BY finished_at - due_at)"
                " FROM effects"
            ).fetchone()
    assert row is not None
    done, p50, p99 = row
    messages = _sink_messages(sink_http)
    ids = Counter(m["message_id"] for m in messages)
    twice = sum(1 for n in ids.values() if n > 1)
    lost = REMINDERS_DUE - len(ids)
    if done != REMINDERS_DUE or twice or lost:
        raise AssertionError(f"{done} done of {REMINDERS_DUE}, {lost} lost, {twice} twice")
    return {
        "reminders": REMINDERS_DUE,
        "dispatchers": 1,
        "smtp_connections": connections,
        "claimed": sent,
        "seconds": round(seconds, 2),
        "messages_per_second": round(REMINDERS_DUE / seconds),
        "lateness_p50_seconds": round(p50.total_seconds(), 2),
        "lateness_p99_seconds": round(p99.total_seconds(), 2),
        "in_sink": len(ids),
        "lost": lost,
        "sent_twice": twice,
        "with_genuine_manage_token": _with_genuine_token(messages),
    }


class _Timed:
    """A link issuer that adds up the time its batches' calls to booking take."""

    def __init__(self, links: BookingLinks) -> None:
        self.links = links
        self.seconds = 0.0

    def links_of(self, wanted: Iterable[tuple[UUID, str]]) -> IssuedLinks:
        started = time.perf_counter()
        try:
            return self.links.links_of(wanted)
        finally:
            self.seconds += time.perf_counter() - started


def _booking_links(booking_api: str, calls: list[httpx.Request]) -> BookingLinks:
    """The worker's links (notifications.worker: BookingApiSettings.booking_client, its
    default timeout), the client counting its calls."""
    timeout = BookingApiSettings.model_fields["booking_api_timeout_seconds"].default
    http = httpx.Client(
        base_url=booking_api, timeout=timeout, event_hooks={"request": [calls.append]}
    )
    return BookingLinks(BookingClient(http, TEST_SECRETS["ADMIN_API_KEY"]), PUBLIC_URL)


def run() -> dict[str, Any]:
    smtp_port, http_port = free_port(), free_port()
    sink = ServiceProcess(
        "smtp-sink",
        ["kairos_dev.fakes.smtp_sink", "--smtp-port", str(smtp_port), "--port", str(http_port)],
        os.environ,
        http_port,
        ready_path="/healthz",
    )
    with ensure_postgres() as server, ensure_redis(db=2) as redis, sink:
        results: dict[str, Any] = {"target_messages_per_second": 500}
        booking_url = server.create_database(prefix="kairos_bench_notifications_booking")
        try:
            seeding = time.perf_counter()
            _seed_booking(booking_url)
            results["booking_seed_seconds"] = round(time.perf_counter() - seeding, 1)
            booking_api = ServiceProcess.api(
                "booking.main:app", service_env(booking_url, redis.url)
            )
            with booking_api:
                calls: list[httpx.Request] = []
                booking_links = _Timed(_booking_links(booking_api.url, calls))
                runs: list[tuple[str, int, LinkIssuer]] = [
                    ("booking_links", 1, booking_links),
                    ("booking_links", 4, booking_links),
                    ("static_links", 4, StaticLinks()),
                ]
                for label, connections, links in runs:
                    calls.clear()
                    booking_links.seconds = 0.0
                    booking_cpu = _cpu_seconds(booking_api.pid)
                    url = server.create_database(prefix="kairos_bench_notifications")
                    try:
                        ceiling = _sink_ceiling(smtp_port, connections)
                        _clear_sink(sink.url)
                        dispatcher = _scenario(url, sink.url, smtp_port, connections, links)
                    finally:
                        server.drop_database(database_name(url))
                    dispatcher["booking_calls"] = len(calls)
                    dispatcher["seconds_in_booking_calls"] = round(booking_links.seconds, 2)
                    # Of the whole scenario (seeding included): booking is idle but for
                    # these calls.
                    dispatcher["booking_cpu_seconds"] = round(
                        _cpu_seconds(booking_api.pid) - booking_cpu, 2
                    )
                    if links is booking_links and dispatcher["with_genuine_manage_token"] != (
                        REMINDERS_DUE
                    ):
                        raise AssertionError(f"a message without its booking's token: {dispatcher}")
                    dispatcher["of_sink_ceiling"] = round(
                        dispatcher["messages_per_second"] / ceiling["messages_per_second"], 2
                    )
                    dispatcher["sink_ceiling"] = ceiling
                    results[f"{label}_{connections}_connections"] = dispatcher
        finally:
            server.drop_database(database_name(booking_url))
        return results
