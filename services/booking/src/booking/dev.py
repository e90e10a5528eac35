"""Booking in `kairos dev` (entry point `kairos.dev_services`, read by kairos_dev only):
its API, outbox relay and consumer of the video sessions, the demo seed, and the public
paths that are booking's."""

from __future__ import annotations

from dataclasses import replace

from kairos.events import BOOKING_TOPIC
from kairos_dev.registration import (
    API_URL,
    BOOKING_API_PORT,
    DEV_MAIL_ENV,
    DevService,
    api,
    one_off,
    worker,
)

# Sign-in links go out through the dev mail sink (/dev/mail) and open the web app here.
_API_ENV = (*DEV_MAIL_ENV, ("PUBLIC_URL", API_URL))

SERVICE = DevService(
    "booking",
    routers="booking.api:ROUTERS",
    # Everything about specialists, services and bookings that a longer path of another
    # service does not claim (as in deploy/k8s/base/ingress.yaml).
    routes=(
        r"/v1/specialists(/|$)",
        r"/v1/services(/|$)",
        r"/v1/bookings(/|$)",
        r"/v1/privacy(/|$)",
        r"/v1/teams(/|$)",
        r"/v1/auth(/|$)",
    ),
    processes=(
        replace(api("booking-api", "booking.main:app", port=BOOKING_API_PORT), env=_API_ENV),
        worker("relay", "booking.relay", port=8001, port_env="RELAY_OPS_PORT"),
        # in_progress and completed from the video sessions (video.events.v1)
        worker(
            "video-sessions",
            "booking.video_sessions",
            port=8002,
            port_env="VIDEO_CONSUMER_OPS_PORT",
        ),
        # its copy of external calendar busy time (calendar.events.v1)
        worker(
            "booking-calendar",
            "booking.external_busy",
            port=8003,
            port_env="CALENDAR_CONSUMER_OPS_PORT",
        ),
    ),
    seed=one_off("seed", "booking.seed", "--base-url", API_URL),
    topics=(BOOKING_TOPIC,),
)
