"""Notifications: 10,000 reminders due in the same minute, sent by one dispatcher.

10,000 confirmed bookings (contacts sealed under 1,000 people's keys, as booking
publishes them) each have an e-mail reminder recorded, all due at the start of the
same minute. One notifications dispatcher, configured as the worker's
(notifications.worker: one thread, batches of 100, the key store on its own
autocommit pool; notifications.effects.Notifier re-checks a batch in one read, builds
its messages and sends them together through the real mailer) drains them into the
dev SMTP sink (aiosmtpd, a process of its own). The run checks that the sink holds
each message exactly once (by Message-ID) and that every effect is recorded done; it
reports messages per second and the lateness (finished - due) of the messages, with
the mailer sending over one SMTP connection and over several (SMTP_CONNECTIONS, 4 by
default).

The sink and the dispatcher share the machine's cores, so each figure stands next to
the sink's own ceiling measured in the same run: a plain aiosmtplib client sending the
same number of prebuilt copies of such a reminder over as many connections, nothing
else to do. `of_sink_ceiling` is the dispatcher's rate over that one.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiosmtplib
import psycopg
from psycopg_pool import ConnectionPool

from kairos.effects import EffectDispatcher, record_effect
from kairos.effects.store import create_effects_table
from kairos.events.booking import (
    BookedClient,
    BookedService,
    BookedSpecialist,
    BookingSnapshot,
    PersonalContact,
)
from kairos.pools import autocommit_pool
from kairos.privacy import KeyStore, PersonalData
from kairos.providers.smtp import SmtpMailer, mime_message
from kairos_dev.infra import ensure_postgres
from kairos_dev.infra.postgres import database_name
from kairos_dev.infra.process import free_port
from kairos_dev.testing.services import TEST_SECRETS, ServiceProcess
from notifications.appointment import Appointment, Links, Person, Terms
from notifications.channels import Channels, build_channels
from notifications.config import ChannelSettings
from notifications.consumers import REMINDERS, Reminder
from notifications.contacts import Contact
from notifications.effects import Notifier
from notifications.messages import MessageOptions, compose
from notifications.tables import create_tables, save_booking

REMINDERS_DUE = 10_000
PEOPLE = 1_000
CONNECTIONS = (1, 4)
SPECIALIST = UUID(int=1)
SERVICE = UUID(int=2)
SENDER = "Kairos <bench@kairos.example>"


class StaticLinks:
    """The links of every message (the booking service is not part of this benchmark)."""

    def links_for(self, booking_id: UUID, recipient: str) -> Links:
        return Links(
            manage=f"https://kairos.example/bookings/{booking_id}",
            join=f"https://kairos.example/bookings/{booking_id}/join",
        )


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
            booking_id = UUID(int=1_000_000 + i)
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
    """One reminder as the dispatcher sends it (its Message-ID, and the bytes on the wire)."""
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
        StaticLinks().links_for(appointment.booking_id, "client"),
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


def _sink_message_ids(http_url: str) -> list[str]:
    with urllib.request.urlopen(f"{http_url}/dev/mail/messages", timeout=300) as response:
        messages = json.loads(response.read())["messages"]
    return [m["message_id"] for m in messages]


def _clear_sink(http_url: str) -> None:
    request = urllib.request.Request(f"{http_url}/dev/mail/messages", method="DELETE")
    with urllib.request.urlopen(request, timeout=60):
        pass


def _scenario(url: str, sink_http: str, smtp_port: int, connections: int) -> dict[str, Any]:
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
        notifier = Notifier(pool, channels, StaticLinks(), personal, SENDER)
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
    ids = Counter(_sink_message_ids(sink_http))
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
    }


def run() -> dict[str, Any]:
    smtp_port, http_port = free_port(), free_port()
    sink = ServiceProcess(
        "smtp-sink",
        ["kairos_dev.fakes.smtp_sink", "--smtp-port", str(smtp_port), "--port", str(http_port)],
        os.environ,
        http_port,
        ready_path="/healthz",
    )
    with ensure_postgres() as server, sink:
        results: dict[str, Any] = {"target_messages_per_second": 500}
        for connections in CONNECTIONS:
            url = server.create_database(prefix="kairos_bench_notifications")
            try:
                ceiling = _sink_ceiling(smtp_port, connections)
                _clear_sink(sink.url)
                dispatcher = _scenario(url, sink.url, smtp_port, connections)
            finally:
                server.drop_database(database_name(url))
            dispatcher["of_sink_ceiling"] = round(
                dispatcher["messages_per_second"] / ceiling["messages_per_second"], 2
            )
            results[f"sink_ceiling_{connections}_connections"] = ceiling
            results[f"one_dispatcher_{connections}_connections"] = dispatcher
        return results
