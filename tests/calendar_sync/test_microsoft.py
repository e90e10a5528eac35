"""Outlook calendars through msal and calendar-sync's Graph client, against the local fake
of the identity platform and Graph (kairos_dev.fakes.microsoft_graph)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psycopg

from kairos.effects import Status
from kairos_dev.fakes.microsoft_graph import FakeMicrosoft
from tests.booking.helpers import ADMIN, error_code, expect
from tests.calendar_sync.conftest import CalendarWorld
from tests.calendar_sync.test_google import until

MONDAY_10_UTC = "2026-03-09T10:00:00Z"
Fake = tuple[FakeMicrosoft, str, Path]


def connect_microsoft(
    world: CalendarWorld, fake: FakeMicrosoft, certificate: Path, specialist_id: str
) -> dict[str, Any]:
    owner = f"owner-{uuid4().hex[:8]}@example.org"
    fake.next_user = owner
    api = world.calendar_api
    started = api.get(
        "/v1/calendars/microsoft/connect", params={"specialist_id": specialist_id}, headers=ADMIN
    )
    assert started.status_code == 302, started.text
    consent = httpx.get(started.headers["location"], verify=str(certificate))
    assert consent.status_code == 307, consent.text
    callback = httpx.URL(consent.headers["location"])
    return dict(expect(api.get(callback.path, params=dict(callback.params)), 200))


def outlook_event(event_id: str, start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "subject": "own meeting",
        "start": {"dateTime": start, "timeZone": "UTC"},
        "end": {"dateTime": end, "timeZone": "UTC"},
        **extra,
    }


def test_bookings_go_into_outlook_once_and_move_and_leave(
    microsoft_world: CalendarWorld, microsoft: Fake
) -> None:
    world, (fake, _, certificate) = microsoft_world, microsoft
    specialist = world.catalog.specialist()
    service = world.catalog.service(specialist["id"], name="Session")
    connection = connect_microsoft(world, fake, certificate, specialist["id"])
    assert (connection["provider"], connection["status"]) == ("microsoft", "active")
    box = fake.mailbox(connection["account"])

    booked = world.catalog.booked(service["id"], MONDAY_10_UTC)
    world.deliver()
    world.redeliver()
    (event,) = box.events.values()
    assert event["subject"] == f"Session with {booked['client']['name']}"
    assert event["start"]["dateTime"].startswith("2026-03-09T10:00:00")
    assert event["attendees"][0]["emailAddress"]["address"] == booked["client"]["email"]

    moved = {"starts_at": "2026-03-09T12:00:00Z"}
    expect(
        world.booking.post(f"/v1/bookings/{booked['id']}/reschedule", json=moved, headers=ADMIN),
        200,
    )
    world.deliver()
    (event,) = box.events.values()
    assert event["start"]["dateTime"].startswith("2026-03-09T12:00:00")

    expect(world.booking.post(f"/v1/bookings/{booked['id']}/cancel", json={}, headers=ADMIN), 200)
    world.deliver()
    world.redeliver()
    assert box.events == {}


def test_notifications_bring_busy_time_and_only_busy_time_blocks(
    microsoft_world: CalendarWorld, microsoft: Fake
) -> None:
    world, (fake, _, certificate) = microsoft_world, microsoft
    specialist = world.catalog.specialist()
    service = world.catalog.service(specialist["id"])
    owner = connect_microsoft(world, fake, certificate, specialist["id"])["account"]

    def offered() -> list[str]:
        return world.offered(service["id"], "2026-03-09")

    fake.write(
        owner, outlook_event("oof", "2026-03-09T10:00:00", "2026-03-09T11:00:00", showAs="oof")
    )
    fake.write(
        owner,
        outlook_event("maybe", "2026-03-09T12:00:00", "2026-03-09T13:00:00", showAs="tentative"),
    )
    fake.write(
        owner, outlook_event("free", "2026-03-09T14:00:00", "2026-03-09T15:00:00", showAs="free")
    )
    declined = {"response": "declined"}
    fake.write(
        owner,
        outlook_event("no", "2026-03-09T15:00:00", "2026-03-09T16:00:00", responseStatus=declined),
    )
    until(lambda: "2026-03-09T12:00:00Z" not in offered())
    slots = offered()
    assert "2026-03-09T10:00:00Z" not in slots
    assert {"2026-03-09T14:00:00Z", "2026-03-09T15:00:00Z"} <= set(slots)
    assert error_code(world.catalog.book(service["id"], MONDAY_10_UTC), 409) == "slot_unavailable"


def test_the_handshake_is_answered_and_a_wrong_client_state_is_refused(
    microsoft_world: CalendarWorld, microsoft: Fake
) -> None:
    world, (fake, _, certificate) = microsoft_world, microsoft
    specialist = world.catalog.specialist()
    connect_microsoft(world, fake, certificate, specialist["id"])
    (subscription,) = [
        s
        for s in fake.subscriptions.values()
        if s.notification_url.startswith(str(world.calendar_api.base_url))
    ]

    echoed = world.calendar_api.post(
        "/v1/webhooks/microsoft", params={"validationToken": "abc 123"}
    )
    assert (echoed.status_code, echoed.text) == (200, "abc 123")
    before = len(world.calendar_events())
    forged = {
        "value": [
            {"subscriptionId": subscription.id, "clientState": "guess", "changeType": "updated"}
        ]
    }
    response = world.calendar_api.post("/v1/webhooks/microsoft", json=forged)
    assert error_code(response, 401) == "unauthorized"
    assert len(world.calendar_events()) == before


def test_lifecycle_notifications_renew_the_subscription_and_a_revoked_grant_fails(
    microsoft_world: CalendarWorld, microsoft: Fake
) -> None:
    world, (fake, url, certificate) = microsoft_world, microsoft
    specialist = world.catalog.specialist()
    owner = connect_microsoft(world, fake, certificate, specialist["id"])["account"]
    (first,) = [s.id for s in fake.subscriptions.values() if s.user == owner]

    fake.lifecycle(owner, "reauthorizationRequired")
    until(
        lambda: [s.id for s in fake.subscriptions.values() if s.user == owner] not in ([first], [])
    )
    fake.lifecycle(owner, "subscriptionRemoved")
    until(lambda: len([s for s in fake.subscriptions.values() if s.user == owner]) == 1)

    httpx.post(f"{url}/_fake/users/{owner}/revoke", verify=str(certificate))
    world.service.reconciler.round(full=True)
    listed = expect(
        world.calendar_api.get(f"/v1/specialists/{specialist['id']}/calendars", headers=ADMIN), 200
    )
    assert [(c["status"], c["error"]) for c in listed["calendars"]] == [
        ("failed", "Microsoft refused the grant (revoked or expired)")
    ]


def test_an_expired_delta_link_means_a_full_read_and_graph_throttling_is_waited_out(
    microsoft_world: CalendarWorld, microsoft: Fake
) -> None:
    world, (fake, _, certificate) = microsoft_world, microsoft
    specialist = world.catalog.specialist()
    service = world.catalog.service(specialist["id"])
    owner = connect_microsoft(world, fake, certificate, specialist["id"])["account"]

    fake.delta_epoch += 1  # every deltaLink handed out so far is gone (410)
    fake.write(owner, outlook_event("gym", "2026-03-09T14:00:00", "2026-03-09T15:00:00"))
    until(lambda: "2026-03-09T14:00:00Z" not in world.offered(service["id"], "2026-03-09"))

    world.catalog.booked(service["id"], MONDAY_10_UTC)
    fake.throttle.append(1800)
    world.deliver()
    with psycopg.connect(world.service.settings.database_url) as conn:
        status, due_at, error = (
            conn.execute(
                "SELECT status, due_at, last_error FROM effects WHERE kind = 'calendar.put'"
            ).fetchone()
            or ()
        )
    assert status == Status.PENDING and "throttled" in error
    assert due_at >= datetime.now(UTC) + timedelta(minutes=29)
