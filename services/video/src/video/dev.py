"""Video in `kairos dev` (entry point `kairos.dev_services`, read by kairos_dev only): its
API, relay, consumer and reconcile loop, and the local LiveKit server they talk to
(kairos_dev.fakes.livekit), which sends its webhooks to the video API.

The LiveKit key pair and the recording-link secret are made up for each run: only these
processes share them. Browsers cannot connect to the local LiveKit (it has no media
server): the call page works up to the connection attempt (README, "Video").
"""

from __future__ import annotations

import secrets
from dataclasses import replace

from kairos.events import VIDEO_TOPIC
from kairos_dev.registration import (
    BannerLine,
    DevService,
    ServiceSpec,
    api,
    local_url,
    worker,
)

API_PORT = 8030
LIVEKIT_PORT = 7880  # LiveKit's own default
LIVEKIT_URL = local_url(LIVEKIT_PORT)

_LIVEKIT = (
    ("LIVEKIT_URL", LIVEKIT_URL),
    ("LIVEKIT_API_KEY", "kairos-dev"),
    ("LIVEKIT_API_SECRET", secrets.token_urlsafe(32)),
)
_ENV = (
    *_LIVEKIT,
    ("RECORDING_LINK_SECRET", secrets.token_urlsafe(32)),
    ("RECORDINGS_BASE_URL", f"{LIVEKIT_URL}/fake/recordings/"),
)


def _with_env(spec: ServiceSpec) -> ServiceSpec:
    return replace(spec, env=(*spec.env, *_ENV))


LIVEKIT = ServiceSpec(
    "livekit",
    "kairos_dev.fakes.livekit",
    ("uvicorn", "kairos_dev.fakes.livekit:app", "--host", "127.0.0.1", "--port", str(LIVEKIT_PORT)),
    port=LIVEKIT_PORT,
    ready_url=f"{LIVEKIT_URL}/readyz",
    env=(*_LIVEKIT, ("LIVEKIT_WEBHOOK_URLS", f"{local_url(API_PORT)}/v1/webhooks/livekit")),
    url=LIVEKIT_URL,
)


def _try_video(api_url: str) -> list[BannerLine]:
    bearer = "-H 'Authorization: Bearer <manage_token>'"
    return [
        ("Video", f"curl -X POST {bearer} {api_url}/v1/bookings/<id>/join"),
        ("", "then join with the token it gives, as a browser would:"),
        ("", f'curl -X POST -d \'{{"token": "<token>"}}\' {LIVEKIT_URL}/fake/join'),
    ]


SERVICE = DevService(
    "video",
    routers="video.api:ROUTERS",
    # Longer than booking's /v1/bookings path, which they override (as in the Ingress).
    routes=(
        r"/v1/bookings/[^/]+/(join|session|notes|recording-consent|recording)(/|$)",
        r"/v1/webhooks/livekit(/|$)",
    ),
    processes=(
        LIVEKIT,
        _with_env(api("video-api", "video.main:app", port=API_PORT)),
        _with_env(worker("video-relay", "video.relay", port=8031, port_env="RELAY_OPS_PORT")),
        _with_env(
            worker("video-consumer", "video.consumer", port=8032, port_env="CONSUMER_OPS_PORT")
        ),
        _with_env(
            worker("video-reconcile", "video.reconcile", port=8033, port_env="RECONCILE_OPS_PORT")
        ),
    ),
    topics=(VIDEO_TOPIC,),
    after=("booking",),
    hints=_try_video,
)
