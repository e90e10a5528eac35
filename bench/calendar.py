"""Calendar sync: how soon an external change takes a slot away, and what a reconcile of a
big calendar costs.

1. External change → slot gone, through the real processes (booking API and relay,
   availability projector, its calendar-busy consumer and API, calendar-sync's API,
   relay and poller; Kafka: our own tansu broker): a specialist free all day has a
   CalDAV calendar (Radicale), a Google calendar and an Outlook calendar (the local
   fakes, driven by the real client libraries; the Microsoft one over HTTPS with a
   self-signed certificate, as msal wants). Each round writes a meeting over one free
   slot in one of them and polls GET /v1/slots until the slot is gone. Push: Google's
   channel notification or Graph's subscription notification reaches the webhook,
   which reads the change (events.list with a syncToken, calendarView/delta).
   Polling: the poller reads CalDAV every CALENDAR_POLL_SECONDS (1 s here; a
   sync-collection token makes an unchanged calendar one request).
2. Reconcile of one connection with 5,000 events in the horizon (all of them busy
   except every tenth, free): the full read the periodic reconcile makes, timed in
   this process, with the provider calls it made (HTTP requests to Radicale; API calls
   to the fake Google by method). CalDAV's is timed twice: first as Radicale indexes
   the events (written to its storage behind its back), then as it answers a calendar
   its owner's clients filled (a PUT indexes the event).
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx

from calendar_sync.config import CalendarSyncSettings
from calendar_sync.wiring import CalendarSync, wire
from kairos_dev.fakes.google_calendar import FakeGoogle
from kairos_dev.fakes.microsoft_graph import FakeMicrosoft
from kairos_dev.fakes.tls import self_signed
from kairos_dev.infra import ensure_kafka, ensure_postgres, ensure_redis
from kairos_dev.infra.process import LOCALHOST, free_port
from kairos_dev.infra.radicale import RadicaleHandle, start_radicale
from kairos_dev.testing import ServiceProcess, service_env
from kairos_dev.testing.services import TEST_SECRETS
from kairos_dev.testing.serving import serving

ROUNDS = 30
BIG_CALENDAR = 5_000
POLL_SECONDS = 1.0
ADMIN = {"Authorization": f"Bearer {TEST_SECRETS['ADMIN_API_KEY']}"}


def _summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "n": len(ordered),
        "p50": round(q[49], 1),
        "p99": round(q[98], 1),
        "max": round(ordered[-1], 1),
    }


def _google_env(url: str) -> dict[str, str]:
    return {
        "GOOGLE_CLIENT_ID": "bench.apps.example",
        "GOOGLE_CLIENT_SECRET": "bench-client-secret",
        "GOOGLE_AUTH_URI": f"{url}/o/oauth2/auth",
        "GOOGLE_TOKEN_URI": f"{url}/token",
        "GOOGLE_API_URL": f"{url}/calendar/v3/",
        "OAUTHLIB_INSECURE_TRANSPORT": "1",
    }


def _microsoft_env(url: str, certificate: Path) -> dict[str, str]:
    return {
        "MICROSOFT_CLIENT_ID": "6731de76-14a6-49ae-97bc-6eba6914391e",
        "MICROSOFT_CLIENT_SECRET": "bench-microsoft-client-secret",
        "MICROSOFT_AUTHORITY": f"{url}/common",
        "MICROSOFT_GRAPH_URL": url,
        "MICROSOFT_CA_BUNDLE": str(certificate),
    }


def _connect_google(api: str, fake: FakeGoogle, specialist_id: str, owner: str) -> str:
    fake.next_user = owner
    return _connect_oauth(api, "google", specialist_id)


def _connect_microsoft(
    api: str, fake: FakeMicrosoft, certificate: Path, specialist_id: str, owner: str
) -> str:
    fake.next_user = owner
    return _connect_oauth(api, "microsoft", specialist_id, verify=str(certificate))


def _connect_oauth(api: str, provider: str, specialist_id: str, verify: bool | str = True) -> str:
    """The browser's round trip: connect → the fake's consent (approves at once) →
    calendar-sync's callback; `verify` trusts the fake's certificate."""
    with httpx.Client(base_url=api, timeout=60) as browser:
        started = browser.get(
            f"/v1/calendars/{provider}/connect",
            params={"specialist_id": specialist_id},
            headers=ADMIN,
        )
        consent = httpx.get(started.headers["location"], verify=verify)
        callback = httpx.URL(consent.headers["location"])
        connected = browser.get(callback.path, params=dict(callback.params))
        connected.raise_for_status()
        return str(connected.json()["id"])


def _connect_caldav(api: str, specialist_id: str, radicale: RadicaleHandle, user: str) -> str:
    account = radicale.add_account(user)
    body = {
        "specialist_id": specialist_id,
        "url": f"{radicale.url}/{account.user}/kairos/",
        "username": account.user,
        "password": account.password,
    }
    created = httpx.post(f"{api}/v1/calendars/caldav", json=body, headers=ADMIN, timeout=60)
    created.raise_for_status()
    return str(created.json()["id"])


def _ics(uid: str, start: datetime, minutes: int, transparent: bool = False) -> str:
    fmt = "%Y%m%dT%H%M%SZ"
    end = start + timedelta(minutes=minutes)
    transp = "TRANSP:TRANSPARENT\r\n" if transparent else ""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start.strftime(fmt)}\r\n"
        f"DTEND:{end.strftime(fmt)}\r\n{transp}SUMMARY:meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def _slot_gone(slots: str, service_id: str, start: datetime, timeout: float = 30) -> float:
    """Seconds until `start` is no longer offered."""
    began = time.perf_counter()
    wanted = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    day = start.date().isoformat()
    with httpx.Client(base_url=slots, timeout=10) as client:
        while time.perf_counter() - began < timeout:
            query = {"service_id": service_id, "from": day, "to": day, "timezone": "UTC"}
            body = client.get("/v1/slots", params=query).json()
            if wanted not in {s["start"] for s in body["slots"]}:
                return time.perf_counter() - began
            time.sleep(0.01)
    raise TimeoutError(f"{wanted} still offered after {timeout}s")


def _change_to_gone(
    stack: dict[str, str],
    service_id: str,
    write: Any,
    first_day: date,
) -> list[float]:
    samples = []
    for i in range(ROUNDS):
        day = first_day + timedelta(days=i // 20)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            minutes=30 * (i % 20)
        )
        write(f"bench-{uuid4().hex[:8]}", start)
        samples.append(_slot_gone(stack["slots"], service_id, start) * 1000)
    return samples


def _big_caldav(
    radicale: RadicaleHandle, settings: CalendarSyncSettings, specialist_id: str
) -> dict[str, Any]:
    """A CalDAV calendar of 5,000 events, written to Radicale's storage directly (a
    PUT each would take minutes), read in full twice: the first read is where Radicale
    indexes them (what a PUT would have done), the second what a reconcile costs."""
    api = settings.calendar_public_url
    connection_id = _connect_caldav(api, specialist_id, radicale, f"big{uuid4().hex[:6]}")
    service = wire(settings)
    try:
        values = service.credentials.get(UUID(connection_id)) or {}
        user = values["username"]
        folder = Path(radicale.work_dir) / "collections" / "collection-root" / user / "kairos"
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        for i in range(BIG_CALENDAR):
            at = start + timedelta(minutes=37 * i)
            (folder / f"big-{i}.ics").write_text(_ics(f"big-{i}", at, 30, transparent=i % 10 == 0))
        first = _timed_full_reconcile(service, UUID(connection_id))
        again = _timed_full_reconcile(service, UUID(connection_id))
        busy = service.connections.connection(UUID(connection_id)).busy
        return {
            "events": BIG_CALENDAR,
            "busy_intervals_recorded": len(busy),
            **again,
            "first_read_as_radicale_indexes": first,
        }
    finally:
        service.close()


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _timed_full_reconcile(service: CalendarSync, connection_id: UUID) -> dict[str, Any]:
    """One full reconcile, timed, with its HTTP requests to Radicale by method. It stops
    the bench if the provider failed: the reconciler only logs that, and the figure
    would be of a read that did not happen."""
    from caldav.davclient import DAVClient

    calls: Counter[str] = Counter()
    original = DAVClient.request

    def counted(self: Any, url: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        calls[method] += 1
        return original(self, url, method, *args, **kwargs)

    warnings = _Warnings()
    reconcile_log = logging.getLogger("calendar_sync.reconcile")
    reconcile_log.addHandler(warnings)
    DAVClient.request = counted  # type: ignore[method-assign]
    try:
        began = time.perf_counter()
        service.reconciler.sync(connection_id, full=True)
        seconds = time.perf_counter() - began
    finally:
        DAVClient.request = original  # type: ignore[method-assign]
        reconcile_log.removeHandler(warnings)
    if warnings.messages:
        raise RuntimeError(f"the full reconcile failed after {seconds:.1f} s: {warnings.messages}")
    return {"seconds": round(seconds, 2), "provider_calls": dict(calls)}


def _big_google(
    fake: FakeGoogle, settings: CalendarSyncSettings, specialist_id: str
) -> dict[str, Any]:
    owner = f"big-{uuid4().hex[:6]}@example.org"
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    calendar = fake.calendar(owner)
    for i in range(BIG_CALENDAR):
        at = start + timedelta(minutes=37 * i)
        calendar.events[f"big{i}"] = {
            "id": f"big{i}",
            "status": "confirmed",
            "start": {"dateTime": at.isoformat()},
            "end": {"dateTime": (at + timedelta(minutes=30)).isoformat()},
            **({"transparency": "transparent"} if i % 10 == 0 else {}),
        }
        calendar.changed_at[f"big{i}"] = i
    connection_id = _connect_google(settings.calendar_public_url, fake, specialist_id, owner)
    service = wire(settings)
    try:
        before = Counter(fake.calls)
        began = time.perf_counter()
        service.reconciler.sync(UUID(connection_id), full=True)
        seconds = time.perf_counter() - began
        calls = Counter(fake.calls)
        calls.subtract(before)
        busy = service.connections.connection(UUID(connection_id)).busy
        return {
            "events": BIG_CALENDAR,
            "busy_intervals_recorded": len(busy),
            "seconds": round(seconds, 2),
            "provider_calls": {k: v for k, v in calls.items() if v},
        }
    finally:
        service.close()


def run() -> dict[str, Any]:
    fake = FakeGoogle()
    microsoft = FakeMicrosoft()
    tls = self_signed()
    with (
        ensure_postgres() as postgres,
        ensure_redis(db=3) as redis,
        ensure_kafka(prefer_own_process=True) as kafka,
        serving(fake.app) as google_url,
        serving(microsoft.app, tls=tls) as microsoft_url,
        start_radicale() as radicale,
    ):
        microsoft.base_url = microsoft_url  # its links (deltaLink) point back at it
        database_url = postgres.create_database(prefix="kairos_bench_calendar")
        try:
            api_port = free_port()
            env = {
                **service_env(database_url, redis.url, kafka.bootstrap),
                **_google_env(google_url),
                **_microsoft_env(microsoft_url, tls[0]),
                "PRIVACY_DATABASE_URL": database_url,
                "CALENDAR_PUBLIC_URL": f"http://{LOCALHOST}:{api_port}",
                "CALENDAR_POLL_SECONDS": str(POLL_SECONDS),
            }
            settings = CalendarSyncSettings.model_validate(
                {
                    k.lower(): v
                    for k, v in env.items()
                    if k.lower() in CalendarSyncSettings.model_fields
                }
            )
            with contextlib.ExitStack() as processes:

                def start(process: ServiceProcess) -> ServiceProcess:
                    return processes.enter_context(process)

                booking = start(ServiceProcess.api("booking.main:app", env))
                start(ServiceProcess.worker("booking.relay", env, port_env="RELAY_OPS_PORT"))
                start(
                    ServiceProcess.worker(
                        "availability.projector", env, port_env="PROJECTOR_OPS_PORT"
                    )
                )
                start(
                    ServiceProcess.worker(
                        "availability.external_busy", env, port_env="CALENDAR_PROJECTOR_OPS_PORT"
                    )
                )
                slots = start(ServiceProcess.api("availability.main:app", env))
                uvicorn_args = [
                    "uvicorn",
                    "calendar_sync.main:app",
                    "--host",
                    LOCALHOST,
                    "--port",
                    str(api_port),
                    "--log-level",
                    "warning",
                ]
                # It asks booking whether a manage token is current (kairos.booking_client).
                api_env = {**env, "BOOKING_API_URL": booking.url}
                start(ServiceProcess("calendar-sync-api", uvicorn_args, api_env, api_port))
                start(ServiceProcess.worker("calendar_sync.relay", env, port_env="RELAY_OPS_PORT"))
                start(
                    ServiceProcess.worker("calendar_sync.poller", env, port_env="POLLER_OPS_PORT")
                )

                all_day = [{"day": d, "start": "00:00", "end": "24:00"} for d in range(7)]
                specialist = httpx.post(
                    f"{booking.url}/v1/specialists",
                    json={
                        "name": "Bench",
                        "email": f"b-{uuid4().hex[:6]}@example.org",
                        "timezone": "UTC",
                    },
                    headers=ADMIN,
                ).json()
                httpx.put(
                    f"{booking.url}/v1/specialists/{specialist['id']}/schedule",
                    json={"weekly": all_day},
                    headers=ADMIN,
                ).raise_for_status()
                service = httpx.post(
                    f"{booking.url}/v1/services",
                    json={
                        "specialist_id": specialist["id"],
                        "name": "Bench",
                        "duration_minutes": 30,
                        "max_advance_days": 120,
                    },
                    headers=ADMIN,
                ).json()
                stack = {"slots": slots.url}
                owner = f"push-{uuid4().hex[:6]}@example.org"
                _connect_google(settings.calendar_public_url, fake, specialist["id"], owner)
                outlook_owner = f"push-{uuid4().hex[:6]}@example.org"
                _connect_microsoft(
                    settings.calendar_public_url, microsoft, tls[0], specialist["id"], outlook_owner
                )
                caldav_id = _connect_caldav(
                    settings.calendar_public_url, specialist["id"], radicale, "pollbench"
                )
                time.sleep(3)  # the first reads travel to the read model
                tomorrow = datetime.now(UTC).date() + timedelta(days=2)

                def google_write(uid: str, start: datetime) -> None:
                    end = start + timedelta(minutes=30)
                    fake.write(
                        owner,
                        {
                            "id": uid.replace("-", ""),
                            "start": {"dateTime": start.isoformat()},
                            "end": {"dateTime": end.isoformat()},
                        },
                    )

                push = _change_to_gone(stack, service["id"], google_write, tomorrow)

                def microsoft_write(uid: str, start: datetime) -> None:
                    # Graph's form: a wall-clock time and the zone it is in.
                    end = start + timedelta(minutes=30)
                    wall = "%Y-%m-%dT%H:%M:%S"
                    microsoft.write(
                        outlook_owner,
                        {
                            "id": uid,
                            "subject": "meeting",
                            "start": {"dateTime": start.strftime(wall), "timeZone": "UTC"},
                            "end": {"dateTime": end.strftime(wall), "timeZone": "UTC"},
                        },
                    )

                push_microsoft = _change_to_gone(
                    stack, service["id"], microsoft_write, tomorrow + timedelta(days=6)
                )

                wired = wire(settings)
                values = wired.credentials.get(UUID(caldav_id)) or {}
                wired.close()
                from calendar_sync.caldav_calendar import CalDavAccount, open_calendar

                calendar = open_calendar(CalDavAccount.of(values))

                def caldav_write(uid: str, start: datetime) -> None:
                    calendar.save_event(ical=_ics(uid, start, 30))

                polling = _change_to_gone(
                    stack, service["id"], caldav_write, tomorrow + timedelta(days=3)
                )
                big_google = _big_google(fake, settings, specialist["id"])
                big_caldav = _big_caldav(radicale, settings, specialist["id"])
        finally:
            postgres.drop_database(database_url.rsplit("/", 1)[-1])
    return {
        "external_change_to_slot_gone_ms": {
            "push_google": _summary(push),
            "push_microsoft": _summary(push_microsoft),
            "polling_caldav": {**_summary(polling), "poll_seconds": POLL_SECONDS},
            "rounds": ROUNDS,
            "path": "provider change → (webhook | poller) → calendar-sync store → relay → Kafka"
            " → availability calendar-busy consumer → read model → GET /v1/slots",
        },
        "reconcile_5000_events": {"google": big_google, "caldav": big_caldav},
    }
