"""The whole public origin for browser tests and the web benchmark: every service a
client's pages use, as real processes on free ports (never `make dev`'s 8000+), behind
the dev gateway serving the built web app, as `kairos dev` runs them.

Booking (API, relay, video-session consumer), availability (API, projector),
notifications (API, worker: the booking's invite), video (API, relay, consumer) and
the local LiveKit server, on one database for the services but video's, a broker and
Redis the caller provides. Calendar-sync is not started: its paths answer 502.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from kairos_dev.devstack import gateway_spec
from kairos_dev.infra.process import free_port
from kairos_dev.registration import DEV_MAIL_ENV
from kairos_dev.testing.services import TEST_SECRETS, ServiceProcess, service_env

ADMIN = {"Authorization": f"Bearer {TEST_SECRETS['ADMIN_API_KEY']}"}
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


@contextlib.contextmanager
def web_stack(
    database_url: str, video_database_url: str, redis_url: str, kafka: str, web_root: Path
) -> Iterator[WebStack]:
    livekit_port, gateway_port = free_port(), free_port()
    mail_port, smtp_port = free_port(), free_port()
    origin = f"http://127.0.0.1:{gateway_port}"
    # Every e-mail (sign-in links, the clients' messages) lands in the mail sink, read at
    # the origin's /dev/mail as in `kairos dev`; its links point at the origin.
    mail = {**dict(DEV_MAIL_ENV), "SMTP_PORT": str(smtp_port), "PUBLIC_URL": origin}
    env = service_env(database_url, redis_url, kafka, **mail)
    livekit_url = f"http://127.0.0.1:{livekit_port}"
    # Every browser here is 127.0.0.1: the per-IP sign-in limit would count them all.
    booking = ServiceProcess.api("booking.main:app", {**env, "SIGN_IN_PER_IP": "100000"})
    notifying = {**env, "BOOKING_API_URL": booking.url}
    video_env = service_env(
        video_database_url,
        redis_url,
        kafka,
        PRIVACY_DATABASE_URL=database_url,  # the key store is booking's
        LIVEKIT_URL=livekit_url,
        RECORDING_LINK_SECRET="recording-link-web-secret-0123456789abcd",
        RECORDINGS_BASE_URL=f"{livekit_url}/fake/recordings/",
        **_LIVEKIT,
    )
    video = ServiceProcess.api("video.main:app", video_env)
    availability = ServiceProcess.api("availability.main:app", env)
    notifications = ServiceProcess.api("notifications.main:app", notifying)
    upstreams = {
        "booking": booking.url,
        "availability": availability.url,
        "notifications": notifications.url,
        "video": video.url,
        "dev-mail": f"http://127.0.0.1:{mail_port}",
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
        ServiceProcess.worker("video.relay", video_env, port_env="RELAY_OPS_PORT"),
        ServiceProcess.worker("video.consumer", video_env, port_env="CONSUMER_OPS_PORT"),
        ServiceProcess(gateway.name, gateway.args, {**env, **dict(gateway.env)}, gateway_port),
    ]
    try:
        # Started together: each waits for its own readiness, none for another's.
        with ThreadPoolExecutor(max_workers=len(processes)) as pool:
            for started in pool.map(lambda process: process.start(timeout=120), processes):
                assert started.alive, started.name
        yield WebStack(url=f"http://127.0.0.1:{gateway_port}", livekit_url=livekit_url)
    finally:
        for process in reversed(processes):
            process.stop()
