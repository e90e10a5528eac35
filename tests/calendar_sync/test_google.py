"""Google Calendar through the real google-auth-oauthlib and google-api-python-client,
against the local fake of Google's endpoints (kairos_dev.fakes.google_calendar)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import psycopg

from calendar_sync.effects import event_uid
from calendar_sync.poller import reconcile_round
from kairos.effects import Status
from kairos_dev.fakes.google_calendar import FakeGoogle
from tests.booking.helpers import ADMIN, error_code, expect
from tests.calendar_sync.conftest import CalendarWorld

MONDAY_10_UTC = "2026-03-09T10:00:00Z"


def consent_url(world: CalendarWorld, specialist_id: str) -> httpx.URL:
    """Connect (302): the provider's consent page, with the state; the state's cookie is
    in the world's client (the browser)."""
    started = world.calendar_api.get(
        "/v1/calendars/google/connect", params={"specialist_id": specialist_id}, headers=ADMIN
    )
    assert started.status_code == 302, started.text
    return httpx.URL(started.headers["location"])


def consented(world: CalendarWorld, specialist_id: str) -> httpx.URL:
    """Connect, and the provider's consent (which approves at once): the callback's URL."""
    consent = httpx.get(consent_url(world, specialist_id), follow_redirects=False)
    assert consent.status_code == 307
    return httpx.URL(consent.headers["location"])


def connect_google(world: CalendarWorld, fake: FakeGoogle, specialist_id: str) -> dict[str, Any]:
    """The whole consent: connect → the provider's consent → callback, in one browser."""
    fake.next_user = f"owner-{uuid4().hex[:8]}@example.org"
    callback = consented(world, specialist_id)
    connected = world.calendar_api.get(callback.path, params=dict(callback.params))
    return dict(expect(connected, 200))


def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def busy_events(world: CalendarWorld, after: int = 0) -> list[Any]:
    return [e for e in world.calendar_events(after) if e.type == "ExternalBusyChanged"]


def test_the_consent_checks_its_state_and_the_bookings_go_in_once(
    google_world: CalendarWorld, google: tuple[FakeGoogle, str]
) -> None:
    world, (fake, _) = google_world, google
    specialist = world.catalog.specialist()
    service = world.catalog.service(specialist["id"], name="Review")
    connection = connect_google(world, fake, specialist["id"])
    assert (connection["provider"], connection["status"]) == ("google", "active")
    owner = connection["account"]

    booked = world.catalog.booked(service["id"], MONDAY_10_UTC)
    world.deliver()
    uid = event_uid(UUID(booked["id"]), UUID(connection["id"]))
    event = fake.calendar(owner).events[uid]
    assert event["start"]["dateTime"].startswith("2026-03-09T10:00:00")
    assert event["attendees"] == [
        {"email": booked["client"]["email"], "displayName": booked["client"]["name"]}
    ]
    assert (
        event["location"]
        == f"{world.service.settings.calendar_public_url}/bookings/{booked['id']}/join"
    )

    moved = {"starts_at": "2026-03-09T13:00:00Z"}
    expect(
        world.booking.post(f"/v1/bookings/{booked['id']}/reschedule", json=moved, headers=ADMIN),
        200,
    )
    world.deliver()
    world.redeliver()
    mine = [e for e in fake.calendar(owner).events.values() if e["status"] != "cancelled"]
    assert [e["start"]["dateTime"][:19] for e in mine] == ["2026-03-09T13:00:00"]

    expect(world.booking.post(f"/v1/bookings/{booked['id']}/cancel", json={}, headers=ADMIN), 200)
    world.deliver()
    world.redeliver()
    assert fake.calendar(owner).events[uid]["status"] == "cancelled"


def test_a_page_asking_for_json_gets_the_consent_url_and_the_same_browser_binding(
    google_world: CalendarWorld, google: tuple[FakeGoogle, str]
) -> None:
    world, (fake, _) = google_world, google
    fake.next_user = f"owner-{uuid4().hex[:8]}@example.org"
    specialist = world.catalog.specialist()
    api = world.calendar_api
    started = api.get(
        "/v1/calendars/google/connect",
        params={"specialist_id": specialist["id"]},
        headers={**ADMIN, "Accept": "application/json"},
    )
    url = expect(started, 200)["url"]
    consent = httpx.get(url, follow_redirects=False)
    callback = httpx.URL(consent.headers["location"])
    connected = expect(api.get(callback.path, params=dict(callback.params)), 200)
    assert (connected["provider"], connected["specialist_id"]) == ("google", specialist["id"])


BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def test_a_browser_returns_to_the_calendars_page_with_the_new_connection(
    google_world: CalendarWorld,
) -> None:
    world = google_world
    specialist, api = world.catalog.specialist(), world.calendar_api
    callback = consented(world, specialist["id"])

    back = api.get(callback.path, params=dict(callback.params), headers=BROWSER)

    assert back.status_code == 303, back.text
    listed = expect(api.get(f"/v1/specialists/{specialist['id']}/calendars", headers=ADMIN), 200)
    [connection] = listed["calendars"]
    assert back.headers["location"] == f"/calendars?connected={connection['id']}"


def test_a_browser_whose_consent_failed_returns_to_the_calendars_page_with_the_reason(
    google_world: CalendarWorld,
) -> None:
    world = google_world
    specialist = world.catalog.specialist()
    api = world.calendar_api
    state = consent_url(world, specialist["id"]).params["state"]
    path = "/v1/calendars/google/callback"
    # The specialist declined: the provider sends an error and no code.
    denied = {"state": state, "error": "access_denied"}

    declined = api.get(path, params=denied, headers=BROWSER)
    replayed = api.get(path, params=denied, headers=BROWSER)
    as_api = api.get(path, params={"state": "forged", "error": "access_denied"})

    assert (declined.status_code, declined.headers["location"]) == (
        303,
        "/calendars?failed=consent_failed",
    )
    assert replayed.headers["location"] == "/calendars?failed=invalid_state"  # single use
    assert error_code(as_api, 403) == "invalid_state"
    listed = api.get(f"/v1/specialists/{specialist['id']}/calendars", headers=ADMIN)
    assert expect(listed, 200) == {"calendars": []}


def test_a_callback_without_its_browser_cookie_is_refused(google_world: CalendarWorld) -> None:
    world = google_world
    specialist = world.catalog.specialist()
    api = world.calendar_api
    callback = consented(world, specialist["id"])
    # Another browser (no cookie: a link sent to the victim) is refused.
    foreign = httpx.get(f"{api.base_url}{callback.path}", params=dict(callback.params))
    assert error_code(foreign, 403) == "invalid_state"
    listed = api.get(f"/v1/specialists/{specialist['id']}/calendars", headers=ADMIN)
    assert expect(listed, 200) == {"calendars": []}


def test_push_notifications_bring_external_busy_time_and_forged_ones_are_refused(
    google_world: CalendarWorld, google: tuple[FakeGoogle, str]
) -> None:
    world, (fake, _) = google_world, google
    specialist = world.catalog.specialist()
    service = world.catalog.service(specialist["id"])
    connection = connect_google(world, fake, specialist["id"])
    owner = connection["account"]
    busy_before = len(busy_events(world))

    fake.write(
        owner,
        {
            "id": "dentist",
            "summary": "dentist",
            "start": {"dateTime": "2026-03-09T10:00:00Z"},
            "end": {"dateTime": "2026-03-09T11:00:00Z"},
        },
    )
    # The fake notifies the webhook; calendar-sync reads the change and records it.
    until(lambda: len(busy_events(world)) > busy_before)
    world.apply_calendar_events()
    assert "2026-03-09T10:00:00Z" not in world.offered(service["id"], "2026-03-09")
    assert error_code(world.catalog.book(service["id"], MONDAY_10_UTC), 409) == "slot_unavailable"

    # Free time and declined invitations do not block.
    fake.write(owner, {
        "id": "dentist", "transparency": "transparent",
        "start": {"dateTime": "2026-03-09T10:00:00Z"}, "end": {"dateTime": "2026-03-09T11:00:00Z"},
    })  # fmt: skip
    fake.write(owner, {
        "id": "invite", "attendees": [{"email": owner, "self": True, "responseStatus": "declined"}],
        "start": {"dateTime": "2026-03-09T12:00:00Z"}, "end": {"dateTime": "2026-03-09T13:00:00Z"},
    })  # fmt: skip
    until(lambda: "2026-03-09T10:00:00Z" in world.offered(service["id"], "2026-03-09"))
    assert "2026-03-09T12:00:00Z" in world.offered(service["id"], "2026-03-09")

    before = len(world.calendar_events())
    forged = {
        "X-Goog-Channel-ID": "any",
        "X-Goog-Channel-Token": "guess",
        "X-Goog-Resource-State": "exists",
    }
    assert (
        error_code(world.calendar_api.post("/v1/webhooks/google", headers=forged), 401)
        == "unauthorized"
    )
    with psycopg.connect(world.service.settings.database_url) as conn:
        (channel,) = (
            conn.execute(
                "SELECT watch_id FROM calendar_sync_status WHERE watch_id IS NOT NULL"
            ).fetchone()
            or ()
        )
    wrong_token = {**forged, "X-Goog-Channel-ID": channel}
    assert (
        error_code(world.calendar_api.post("/v1/webhooks/google", headers=wrong_token), 401)
        == "unauthorized"
    )
    assert len(world.calendar_events()) == before


def test_an_expired_sync_token_means_a_full_read_and_a_revoked_grant_a_failed_connection(
    google_world: CalendarWorld, google: tuple[FakeGoogle, str]
) -> None:
    world, (fake, url) = google_world, google
    specialist = world.catalog.specialist()
    service = world.catalog.service(specialist["id"])
    connection = connect_google(world, fake, specialist["id"])
    owner = connection["account"]

    httpx.post(f"{url}/_fake/expire-sync-tokens")
    fake.write(owner, {
        "id": "gym", "start": {"dateTime": "2026-03-09T14:00:00Z"},
        "end": {"dateTime": "2026-03-09T15:00:00Z"},
    })  # fmt: skip
    until(lambda: "2026-03-09T14:00:00Z" not in world.offered(service["id"], "2026-03-09"))

    httpx.post(f"{url}/_fake/users/{owner}/revoke")
    world.service.reconciler.round(full=True)
    listed = expect(
        world.calendar_api.get(f"/v1/specialists/{specialist['id']}/calendars", headers=ADMIN), 200
    )
    assert [(c["status"], c["error"]) for c in listed["calendars"]] == [
        ("failed", "Google refused the grant (revoked or expired)")
    ]


def test_a_throttled_write_waits_as_long_as_google_asks(
    google_world: CalendarWorld, google: tuple[FakeGoogle, str]
) -> None:
    world, (fake, url) = google_world, google
    specialist = world.catalog.specialist()
    service = world.catalog.service(specialist["id"])
    connect_google(world, fake, specialist["id"])
    world.catalog.booked(service["id"], MONDAY_10_UTC)

    httpx.post(f"{url}/_fake/throttle", params={"count": 1, "status": 403, "retry_after": 3600})
    world.deliver()
    with psycopg.connect(world.service.settings.database_url) as conn:
        status, due_at, error = (
            conn.execute(
                "SELECT status, due_at, last_error FROM effects WHERE kind = 'calendar.put'"
            ).fetchone()
            or ()
        )
    assert status == Status.PENDING and "throttled" in error
    assert due_at >= datetime.now(UTC) + timedelta(minutes=59)


def test_a_channel_is_renewed_before_it_expires_and_stopped_on_disconnect(
    google_world: CalendarWorld, google: tuple[FakeGoogle, str]
) -> None:
    world, (fake, _) = google_world, google
    specialist = world.catalog.specialist()
    connection = connect_google(world, fake, specialist["id"])
    channels = fake.calendar(connection["account"]).channels
    (first,) = channels

    world.clock.now = datetime.now(UTC) + timedelta(days=5)  # two days before it expires
    reconcile_round(world.service, full=True)
    assert list(channels) == [first]
    world.clock.now = datetime.now(UTC) + timedelta(days=6, hours=12)
    reconcile_round(world.service, full=True)
    (second,) = channels
    assert second != first

    expect(world.calendar_api.delete(f"/v1/calendars/{connection['id']}", headers=ADMIN), 204)
    assert channels == {}
