"""Connections: credentials checked on connect, the calendar read once the answer is sent,
a revoked one shown failed with its reason (never silently ignored), an external meeting
on top of a booking reported once, and a server that never answers holding back no
other connection's sync."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from calendar_sync.caldav_calendar import CalDavAccount
from kairos_dev.infra.process import LOCALHOST, wait_until
from kairos_dev.infra.radicale import RadicaleHandle
from tests.booking.conftest import API_NOW
from tests.booking.helpers import ADMIN, bearer, error_code, expect, specialist_jwt
from tests.calendar_sync.conftest import CalendarWorld, running_world
from tests.calendar_sync.test_external_busy import Specialist, event, ics


def test_wrong_credentials_are_refused_before_anything_is_stored(world: CalendarWorld) -> None:
    specialist = world.catalog.specialist()
    body = {
        "specialist_id": specialist["id"],
        "url": world.radicale.calendar_url,
        "username": world.radicale.account.user,
        "password": "not-the-password",
    }
    response = world.calendar_api.post("/v1/calendars/caldav", json=body, headers=ADMIN)
    assert error_code(response, 422) == "invalid_credentials"
    listed = world.calendar_api.get(f"/v1/specialists/{specialist['id']}/calendars", headers=ADMIN)
    assert expect(listed, 200) == {"calendars": []}


def test_connecting_answers_before_the_first_read_of_the_calendar(
    fresh_database: Callable[[], str],
    redis_url: str,
    radicale: RadicaleHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_world(fresh_database(), redis_url, radicale, served=True) as world:
        reconciler = world.service.reconciler
        read = reconciler.sync
        reading: list[UUID] = []
        slow_read_done = threading.Event()  # a big calendar's first read takes long

        def first_read(connection_id: UUID, *, full: bool = False) -> bool:
            reading.append(connection_id)
            slow_read_done.wait(10)
            return read(connection_id, full=full)

        monkeypatch.setattr(reconciler, "sync", first_read)
        specialist = world.catalog.specialist()
        connection = world.connect_caldav(specialist["id"])
        assert connection["status"] == "active" and connection["last_sync_at"] is None

        wait_until(lambda: reading == [UUID(connection["id"])], what="the first read")
        slow_read_done.set()

        def listed() -> Any:
            path = f"/v1/specialists/{specialist['id']}/calendars"
            return expect(world.calendar_api.get(path, headers=ADMIN), 200)["calendars"][0]

        wait_until(lambda: listed()["last_sync_at"] is not None, what="the first read's record")


def test_only_the_specialist_or_an_admin_manages_their_calendars(world: CalendarWorld) -> None:
    owner = world.catalog.specialist()
    other = world.catalog.specialist()
    path = f"/v1/specialists/{owner['id']}/calendars"
    assert error_code(world.calendar_api.get(path), 401) == "unauthorized"
    as_other = bearer(specialist_jwt(other["id"]))
    assert error_code(world.calendar_api.get(path, headers=as_other), 403) == "forbidden"
    as_owner = bearer(specialist_jwt(owner["id"]))
    expect(world.calendar_api.get(path, headers=as_owner), 200)


def test_a_clients_manage_token_is_refused_as_a_known_caller_until_it_is_revoked(
    world: CalendarWorld,
) -> None:
    owner = world.catalog.specialist()
    booked = world.catalog.booked(
        world.catalog.service(owner["id"])["id"], API_NOW + timedelta(days=2, hours=10)
    )
    path = f"/v1/specialists/{owner['id']}/calendars"
    token = bearer(booked["manage_token"])
    # A genuine, current token of a booking (any booking: none owns calendars) proves
    # its holder, who may not manage them.
    assert error_code(world.calendar_api.get(path, headers=token), 403) == "forbidden"
    expect(world.booking.post(f"/v1/bookings/{booked['id']}/manage-token", headers=ADMIN), 201)
    assert error_code(world.calendar_api.get(path, headers=token), 401) == "unauthorized"


def test_a_revoked_password_marks_the_connection_failed_with_the_reason(
    world: CalendarWorld,
) -> None:
    s = Specialist(world)
    world.radicale.revoke(s.connection["account"].rstrip("/").split("/")[-2])
    world.sync_busy()
    listed = expect(
        world.calendar_api.get(f"/v1/specialists/{s.specialist['id']}/calendars", headers=ADMIN),
        200,
    )
    (connection,) = listed["calendars"]
    assert connection["status"] == "failed"
    assert "refused the credentials" in connection["error"]
    failed = [e for e in world.calendar_events() if e.type == "CalendarSyncFailed"]
    assert [e.data["connection_id"] for e in failed] == [s.connection["id"]]


def test_an_external_meeting_on_a_booking_is_reported_once(world: CalendarWorld) -> None:
    s = Specialist(world)
    booked = world.catalog.booked(s.service["id"], "2026-03-09T09:00:00Z")
    world.deliver()
    s.write(ics(event("clash", "20260309T093000", "20260309T103000")))
    world.sync_busy()
    world.sync_busy()
    conflicts = [e for e in world.calendar_events() if e.type == "CalendarConflictDetected"]
    assert len(conflicts) == 1
    assert UUID(conflicts[0].data["booking_id"]) == UUID(booked["id"])
    assert conflicts[0].data["busy"] == {
        "starts_at": "2026-03-09T08:30:00Z",
        "ends_at": "2026-03-09T09:30:00Z",
    }


def test_a_server_that_never_answers_holds_back_no_other_connections_sync(
    world: CalendarWorld,
) -> None:
    # Connected first, so a round that read one connection after another would start with it.
    stuck, quick = Specialist(world), Specialist(world)
    quick.write(ics(event("meeting", "20260309T100000", "20260309T110000")))
    quick_id = quick.connection["id"]

    def changed_busy() -> list[str]:
        return [
            e.data["connection_id"]
            for e in world.calendar_events()
            if e.type == "ExternalBusyChanged" and e.data["connection_id"] == quick_id
        ]

    with socket.create_server((LOCALHOST, 0)) as silent:  # takes connections, never answers
        address = f"http://{LOCALHOST}:{silent.getsockname()[1]}/p/kairos/"
        world.service.credentials.put(
            UUID(stuck.connection["id"]), CalDavAccount(address, "p", "secret").as_dict()
        )
        before = len(changed_busy())
        reading = threading.Thread(target=world.service.reconciler.round, kwargs={"full": True})
        reading.start()
        wait_until(lambda: len(changed_busy()) > before, what="the quick calendar's sync")
        assert reading.is_alive()  # the stuck read still waits for its answer
    reading.join(timeout=60)  # the server closed: the stuck read fails, to be tried again
    assert not reading.is_alive()
