"""Webhooks in `kairos dev` (entry point `kairos.dev_services`, read by kairos_dev only):
its API and consumer, and a receiver to subscribe (kairos_dev.fakes.webhook_sink) whose
deliveries show at /dev/webhooks.

The dev receiver listens on 127.0.0.1 over plain http, which production refuses: here
both are allowed (WEBHOOK_ALLOW_PRIVATE_TARGETS, WEBHOOK_REQUIRE_HTTPS).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from kairos_dev.fakes import webhook_sink
from kairos_dev.registration import BannerLine, DevService, ServiceSpec, api, local_url, worker

API_PORT, CONSUMER_PORT = 8060, 8061
SINK_URL = f"{local_url(webhook_sink.DEV_PORT)}{webhook_sink.PREFIX}/in"

ENV = (("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"), ("WEBHOOK_REQUIRE_HTTPS", "false"))


def _with_env(spec: ServiceSpec) -> ServiceSpec:
    return replace(spec, env=(*spec.env, *ENV))


def _hints(origin: str) -> Sequence[BannerLine]:
    return (
        (
            "Webhooks",
            f"POST {origin}/v1/webhooks/subscriptions"
            f' {{"url": "{SINK_URL}", "events": ["*"]}} (admin)',
        ),
        ("", f"{origin}{webhook_sink.PREFIX}  (what the dev receiver got)"),
    )


SERVICE = DevService(
    "webhooks",
    routers="webhooks.api:ROUTERS",
    routes=(r"/v1/webhooks/(subscriptions|deliveries)(/|$)",),
    processes=(
        _with_env(api("webhooks-api", "webhooks.main:app", port=API_PORT)),
        _with_env(
            worker("webhooks-consumer", "webhooks.consumer", CONSUMER_PORT, "CONSUMER_OPS_PORT")
        ),
    ),
    after=("booking",),
    hints=_hints,
)
SINK = DevService(
    "dev-webhooks",
    routes=(rf"{webhook_sink.PREFIX}(/|$)",),
    processes=(
        ServiceSpec(
            "webhook-sink",
            "kairos_dev.fakes.webhook_sink",
            ("kairos_dev.fakes.webhook_sink", "--port", str(webhook_sink.DEV_PORT)),
            port=webhook_sink.DEV_PORT,
            ready_url=f"{local_url(webhook_sink.DEV_PORT)}/healthz",
            api=True,
        ),
    ),
    dev_only=True,
)
