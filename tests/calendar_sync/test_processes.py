"""calendar-sync as k8s runs it: real processes, PostgreSQL, a tansu broker and Radicale.

booking API → relay → booking.events.v1 → calendar-sync's consumer process, whose
dispatcher writes the booking into the CalDAV calendar; a meeting the specialist adds
there → the poller process → calendar-sync's relay → calendar.events.v1 → booking's
calendar consumer process → the booking API refuses that time (409).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from calendar_sync.caldav_calendar import CalDavAccount, open_calendar
from kairos_dev.infra import KafkaHandle
from kairos_dev.infra.radicale import RadicaleHandle
from kairos_dev.testing.services import TEST_SECRETS, ServiceProcess, service_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADMIN = {"Authorization": f"Bearer {TEST_SECRETS['ADMIN_API_KEY']}"}
ALL_DAY = [{"day": d, "start": "00:00", "end": "24:00"} for d in range(7)]


def eventually(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(0.1)


@contextlib.contextmanager
def running(env: dict[str, str]) -> Iterator[dict[str, ServiceProcess]]:
    with contextlib.ExitStack() as stack:

        def start(name: str, process: ServiceProcess) -> tuple[str, ServiceProcess]:
            return name, stack.enter_context(process)

        booking = ServiceProcess.api("booking.main:app", env)
        # calendar-sync's API asks booking whether a manage token is current.
        calendar_env = {**env, "BOOKING_API_URL": booking.url}
        yield dict(
            [
                start("booking", booking),
                start("relay", ServiceProcess.worker("booking.relay", env, "RELAY_OPS_PORT")),
                start(
                    "booking-calendar",
                    ServiceProcess.worker(
                        "booking.external_busy", env, "CALENDAR_CONSUMER_OPS_PORT"
                    ),
                ),
                start("calendar", ServiceProcess.api("calendar_sync.main:app", calendar_env)),
                start(
                    "calendar-relay",
                    ServiceProcess.worker("calendar_sync.relay", env, "RELAY_OPS_PORT"),
                ),
                start(
                    "consumer",
                    ServiceProcess.worker("calendar_sync.consumer", env, "CONSUMER_OPS_PORT"),
                ),
                start(
                    "poller", ServiceProcess.worker("calendar_sync.poller", env, "POLLER_OPS_PORT")
                ),
            ]
        )


def test_bookings_reach_the_calendar_and_its_meetings_block_the_booking_side(
    fresh_database: Callable[[], str],
    redis_url: str,
    own_kafka: KafkaHandle,
    radicale: RadicaleHandle,
) -> None:
    database_url = fresh_database()
    env = {
        **service_env(database_url, redis_url, own_kafka.bootstrap),
        "PRIVACY_DATABASE_URL": database_url,
        "CALENDAR_POLL_SECONDS": "0.5",
    }
    with running(env) as processes:
        booking, calendar_api = processes["booking"].url, processes["calendar"].url
        specialist = httpx.post(
            f"{booking}/v1/specialists",
            json={"name": "Dr. Proc", "email": "proc@example.org", "timezone": "UTC"},
            headers=ADMIN,
        ).json()
        httpx.put(
            f"{booking}/v1/specialists/{specialist['id']}/schedule",
            json={"weekly": ALL_DAY},
            headers=ADMIN,
        ).raise_for_status()
        service = httpx.post(
            f"{booking}/v1/services",
            json={"specialist_id": specialist["id"], "name": "Call", "duration_minutes": 60},
            headers=ADMIN,
        ).json()
        account = radicale.add_account("proc")
        url = f"{radicale.url}/{account.user}/kairos/"
        connected = httpx.post(
            f"{calendar_api}/v1/calendars/caldav",
            json={
                "specialist_id": specialist["id"],
                "url": url,
                "username": account.user,
                "password": account.password,
            },
            headers=ADMIN,
        )
        assert connected.status_code == 201, connected.text
        calendar = open_calendar(CalDavAccount(url, account.user, account.password))

        day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400))
        booked = httpx.post(
            f"{booking}/v1/bookings",
            json={
                "service_id": service["id"],
                "starts_at": f"{day}T10:00:00Z",
                "client": {"name": "Ann Client", "email": "ann@example.org", "timezone": "UTC"},
            },
        )
        assert booked.status_code == 201, booked.text
        eventually(lambda: len(calendar.events()) == 1, "the booking in the calendar")

        compact = day.replace("-", "")
        calendar.save_event(
            ical="BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:own-meeting\r\nDTSTAMP:{compact}T000000Z\r\nDTSTART:{compact}T140000Z\r\n"
            f"DTEND:{compact}T150000Z\r\nSUMMARY:own\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )

        def refused() -> Any:
            answer = httpx.post(
                f"{booking}/v1/bookings",
                json={
                    "service_id": service["id"],
                    "starts_at": f"{day}T14:00:00Z",
                    "client": {"name": "Bo", "email": "bo@example.org", "timezone": "UTC"},
                },
            )
            assert answer.status_code in (201, 409), answer.text
            if answer.status_code == 201:  # too early: give the slot back and try again
                httpx.post(
                    f"{booking}/v1/bookings/{answer.json()['id']}/cancel", json={}, headers=ADMIN
                )
            return answer.status_code == 409 and (
                answer.json()["error"]["code"] == "slot_unavailable"
            )

        eventually(refused, "the meeting blocks the booking side")
