"""The whole public origin for browser tests and the web benchmark: every service a
client's pages use, as real processes on free ports (never `make dev`'s 8000+), behind
the dev gateway serving the built web app, as `kairos dev` runs them.

Booking (API, relay, video-session consumer), availability (API, projector),
notifications (API, worker: the booking's invite), video (API, relay, consumer),
webhooks (API, consumer) with the dev webhook receiver, the local LiveKit server, and
calendar-sync's API with the fake of Google (whose consent approves at once) for the
calendars page, on one database for the services but video's, a broker and Redis the
caller provides.

The stack runs on the real clock. Its no-show grace is zero (booking and video read
the same NO_SHOW_GRACE_MINUTES): a consultation that has started can be marked a
no-show, and is suggested as one, at once, so a test waits for a start a minute away
rather than a quarter of an hour past it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx

from kairos_dev.devstack import gateway_spec
from kairos_dev.fakes import webhook_sink
from kairos_dev.infra.process import free_port, wait_until
from kairos_dev.registration import DEV_MAIL_ENV, registered_services
from kairos_dev.testing.services import TEST_SECRETS, ServiceProcess, service_env

ADMIN = {"Authorization": f"Bearer {TEST_SECRETS['ADMIN_API_KEY']}"}
#: Debian's Chromium (`apt-get install chromium`), launched by path: Playwright's own
#: browser download cannot work here.
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
_LIVEKIT = {
    "LIVEKIT_API_KEY": "kairos-web-tests",
    "LIVEKIT_API_SECRET": "web-tests-secret-0123456789abcdef0123456789",
}


@dataclass(frozen=True)
class WebStack:
    #: The public origin: the gateway, serving the web app and every /v1 path.
    url: str
    #: The local LiveKit server, whose URL the video service gives browsers.
    livekit_url: str
    #: The fake of Google's OAuth and Calendar endpoints.
    google_url: str
    #: An endpoint of the dev webhook receiver to subscribe; what it got shows at the
    #: origin's /dev/webhooks.
    webhook_sink_url: str


@contextlib.contextmanager
def web_stack(
    database_url: str, video_database_url: str, redis_url: str, kafka: str, web_root: Path
) -> Iterator[WebStack]:
    # A dozen processes share the server (perhaps the machine's, 100 connections) with
    # other tests: small pools, as `kairos dev` sets them, are plenty for a few browsers.
    pools = {"DB_POOL_SIZE": "3", "POSTGRES_POOL_SIZE": "2"}
    grace = {"NO_SHOW_GRACE_MINUTES": "0"}  # see the module's docstring
    livekit_port, gateway_port, google_port = free_port(), free_port(), free_port()
    mail_port, smtp_port, sink_port = free_port(), free_port(), free_port()
    origin = f"http://127.0.0.1:{gateway_port}"
    # Every e-mail (sign-in links, the clients' messages) lands in the mail sink, read at
    # the origin's /dev/mail as in `kairos dev`; its links point at the origin.
    mail = {**dict(DEV_MAIL_ENV), "SMTP_PORT": str(smtp_port), "PUBLIC_URL": origin}
    env = service_env(database_url, redis_url, kafka, **mail, **pools, **grace)
    livekit_url = f"http://127.0.0.1:{livekit_port}"
    # Every browser here is 127.0.0.1: the per-IP sign-in limit would count them all.
    booking = ServiceProcess.api("booking.main:app", {**env, "SIGN_IN_PER_IP": "100000"})
    notifying = {**env, "BOOKING_API_URL": booking.url}
    video_env = service_env(
        video_database_url,
        redis_url,
        kafka,
        PRIVACY_DATABASE_URL=database_url,  # the key store is booking's
        BOOKING_API_URL=booking.url,
        LIVEKIT_URL=livekit_url,
        RECORDING_LINK_SECRET="recording-link-web-secret-0123456789abcd",
        RECORDINGS_BASE_URL=f"{livekit_url}/fake/recordings/",
        **_LIVEKIT,
        **pools,
        **grace,
    )
    video = ServiceProcess.api("video.main:app", video_env)
    availability = ServiceProcess.api("availability.main:app", env)
    notifications = ServiceProcess.api("notifications.main:app", notifying)
    google = f"http://127.0.0.1:{google_port}"
    calendars_env = {
        **notifying,
        "CALENDAR_PUBLIC_URL": origin,  # where the consent sends the browser back
        "GOOGLE_CLIENT_ID": "kairos-web-tests.apps.example",
        "GOOGLE_CLIENT_SECRET": "web-tests-not-a-secret",
        "GOOGLE_AUTH_URI": f"{google}/o/oauth2/auth",
        "GOOGLE_TOKEN_URI": f"{google}/token",
        "GOOGLE_API_URL": f"{google}/calendar/v3/",
        "OAUTHLIB_INSECURE_TRANSPORT": "1",  # the fake speaks plain HTTP
    }
    calendars = ServiceProcess.api("calendar_sync.main:app", calendars_env)
    # The receiver is on 127.0.0.1 over http, which production refuses: the webhooks API's
    # settings in `kairos dev` (its registration) allow both.
    [hooks] = [service for service in registered_services() if service.name == "webhooks"]
    hooks_env = {**env, **dict(hooks.processes[0].env)}
    webhooks = ServiceProcess.api("webhooks.main:app", hooks_env)
    upstreams = {
        "booking": booking.url,
        "availability": availability.url,
        "notifications": notifications.url,
        "video": video.url,
        "calendar-sync": calendars.url,
        "dev-mail": f"http://127.0.0.1:{mail_port}",
        "webhooks": webhooks.url,
        "dev-webhooks": f"http://127.0.0.1:{sink_port}",
    }
    gateway = gateway_spec(gateway_port, upstreams, web_root)
    processes = [
        ServiceProcess(
            "livekit",
            ["uvicorn", "kairos_dev.fakes.livekit:app", "--port", str(livekit_port)],
            {**video_env, "LIVEKIT_WEBHOOK_URLS": f"{video.url}/v1/webhooks/livekit"},
            livekit_port,
        ),
        ServiceProcess(
            "smtp-sink",
            ["kairos_dev.fakes.smtp_sink", "--port", str(mail_port), "--smtp-port", str(smtp_port)],
            env,
            mail_port,
            ready_path="/healthz",
        ),
        booking,
        ServiceProcess.worker("booking.relay", env, port_env="RELAY_OPS_PORT"),
        ServiceProcess.worker("booking.video_sessions", env, port_env="VIDEO_CONSUMER_OPS_PORT"),
        availability,
        ServiceProcess.worker("availability.projector", env, port_env="PROJECTOR_OPS_PORT"),
        notifications,
        ServiceProcess.worker("notifications.worker", notifying, port_env="OPS_PORT"),
        video,
        ServiceProcess(
            "google-fake",
            ["kairos_dev.fakes.google_calendar", str(google_port)],
            env,
            google_port,
            ready_path="/healthz",
        ),
        calendars,
        ServiceProcess.worker("video.relay", video_env, port_env="RELAY_OPS_PORT"),
        ServiceProcess.worker("video.consumer", video_env, port_env="CONSUMER_OPS_PORT"),
        webhooks,
        ServiceProcess.worker("webhooks.consumer", hooks_env, port_env="CONSUMER_OPS_PORT"),
        ServiceProcess(
            "webhook-sink",
            ["kairos_dev.fakes.webhook_sink", "--port", str(sink_port)],
            env,
            sink_port,
            ready_path="/healthz",
        ),
        ServiceProcess(gateway.name, gateway.args, {**env, **dict(gateway.env)}, gateway_port),
    ]
    try:
        # Started together: each waits for its own readiness, none for another's.
        with ThreadPoolExecutor(max_workers=len(processes)) as pool:
            for started in pool.map(lambda process: process.start(timeout=120), processes):
                assert started.alive, started.name
        yield WebStack(
            url=f"http://127.0.0.1:{gateway_port}",
            livekit_url=livekit_url,
            google_url=google,
            webhook_sink_url=f"http://127.0.0.1:{sink_port}{webhook_sink.PREFIX}/in",
        )
    finally:
        for process in reversed(processes):
            process.stop()


@dataclass(frozen=True)
class Offering:
    """A specialist and one service of theirs, with free time every day."""

    specialist_id: str
    specialist_name: str
    service_id: str
    timezone: str
    email: str


def answered(response: httpx.Response, status: int = 200) -> Any:
    if response.status_code != status:
        raise AssertionError(f"{response.request.url}: {response.status_code} {response.text}")
    return response.json()


def offer(admin: httpx.Client, timezone: str = "Europe/Berlin", **service: Any) -> Offering:
    """A new specialist working round the clock in `timezone` and a service of theirs
    (`service` overrides its fields), through the API with the admin key (`admin`);
    returned once the slots API offers it."""
    suffix = uuid4().hex[:8]
    name = f"Dr Ada {suffix}"
    profile = {"name": name, "email": f"ada.{suffix}@example.com", "timezone": timezone}
    created = answered(
        admin.post("/v1/specialists", json={**profile, "specialty": "Family medicine"}), 201
    )
    specialist = created["id"]
    schedule = {"weekly": ROUND_THE_CLOCK}
    answered(admin.put(f"/v1/specialists/{specialist}/schedule", json=schedule))
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
    service_id = answered(admin.post("/v1/services", json=body), 201)["id"]
    today = datetime.now(UTC).date()
    query = {
        "service_id": service_id,
        "from": today.isoformat(),
        "to": (today + timedelta(days=61)).isoformat(),  # the most one query spans
    }
    wait_until(
        lambda: bool(admin.get("/v1/slots", params=query).json().get("slots")),
        what="the new service's slots are offered",
        timeout=30,
        interval=0.1,
    )
    return Offering(specialist, name, service_id, timezone, profile["email"])
