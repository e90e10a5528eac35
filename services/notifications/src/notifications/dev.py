"""Notifications in `kairos dev` (entry point `kairos.dev_services`, read by kairos_dev
only): its API, worker and consumer of the video rooms, and the three fakes it sends
to — an SMTP sink, Twilio's Messages API, a Web Push service — each with its
`/dev/...` pages at the gateway, so a person sees at once what was sent.

The channels' credentials are made afresh for each run of the stack (nothing real is
reached): the Twilio fake's auth token, and the VAPID key browsers subscribe with.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric import ec

from kairos_dev.registration import (
    API_URL,
    BOOKING_API_ENV,
    DEV_MAIL_ENV,
    DEV_SMTP_PORT,
    BannerLine,
    DevService,
    ServiceSpec,
    api,
    local_url,
    worker,
)

API_PORT, WORKER_PORT, VIDEO_ROOMS_PORT = 8050, 8051, 8055
MAIL_PORT, SMS_PORT, PUSH_PORT = 8052, 8053, 8054


def _vapid_private_key() -> str:
    number = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).decode().rstrip("=")


_TWILIO_TOKEN = secrets.token_urlsafe(24)

#: How the API and the worker reach the fakes (and booking, for the links' tokens).
ENV: tuple[tuple[str, str], ...] = (
    *DEV_MAIL_ENV,
    ("TWILIO_ACCOUNT_SID", "AC" + "0" * 32),
    ("TWILIO_AUTH_TOKEN", _TWILIO_TOKEN),
    ("TWILIO_FROM", "+15005550006"),
    ("TWILIO_API_URL", local_url(SMS_PORT)),
    ("TWILIO_STATUS_CALLBACK_URL", f"{API_URL}/v1/notifications/twilio/status"),
    ("VAPID_PRIVATE_KEY", _vapid_private_key()),
    ("VAPID_SUBJECT", "mailto:ops@kairos.localhost"),
    BOOKING_API_ENV,
    ("PUBLIC_URL", API_URL),
)


def _with_env(spec: ServiceSpec) -> ServiceSpec:
    return replace(spec, env=(*spec.env, *ENV))


def _fake(name: str, module: str, port: int, *args: str) -> ServiceSpec:
    """A fake (kairos_dev.fakes) serving its /dev pages on `port`, for the gateway."""
    return ServiceSpec(
        name,
        f"kairos_dev.fakes.{module}",
        (f"kairos_dev.fakes.{module}", "--port", str(port), *args),
        port=port,
        ready_url=f"{local_url(port)}/healthz",
        env=(("TWILIO_AUTH_TOKEN", _TWILIO_TOKEN),),
        api=True,
    )


def _hints(origin: str) -> Sequence[BannerLine]:
    return (
        ("Mail sent", f"{origin}/dev/mail  (every e-mail, its HTML and its invite)"),
        ("", f"SMS {origin}/dev/sms/messages  push {origin}/dev/push/messages"),
    )


SERVICE = DevService(
    "notifications",
    routers="notifications.api:ROUTERS",
    # Longer than booking's /v1/bookings, which the invite's path overrides (as in the Ingress).
    routes=(
        r"/v1/bookings/[^/]+/invite\.ics$",
        r"/v1/push(/|$)",
        r"/v1/notifications(/|$)",
    ),
    processes=(
        _with_env(api("notifications-api", "notifications.main:app", port=API_PORT)),
        _with_env(worker("notifications", "notifications.worker", WORKER_PORT, "OPS_PORT")),
        # what video.events.v1 says of each booking's room, for the messages' join links
        worker(
            "notifications-video-rooms",
            "notifications.video_rooms",
            VIDEO_ROOMS_PORT,
            "VIDEO_CONSUMER_OPS_PORT",
        ),
    ),
    after=("booking",),
    hints=_hints,
)
MAIL_SINK = DevService(
    "dev-mail",
    routes=(r"/dev/mail(/|$)",),
    processes=(_fake("smtp-sink", "smtp_sink", MAIL_PORT, "--smtp-port", str(DEV_SMTP_PORT)),),
    dev_only=True,
)
SMS_FAKE = DevService(
    "dev-sms",
    routes=(r"/dev/sms(/|$)",),
    processes=(_fake("twilio-fake", "twilio_api", SMS_PORT),),
    dev_only=True,
)
PUSH_FAKE = DevService(
    "dev-push",
    routes=(r"/dev/push(/|$)",),
    processes=(_fake("push-fake", "web_push", PUSH_PORT),),
    dev_only=True,
)
