"""Calendar sync in `kairos dev` (entry point `kairos.dev_services`, read by kairos_dev
only): its API, relay, booking consumer and poller, and a Radicale with a demo account
to connect (its banner line says how)."""

from __future__ import annotations

from dataclasses import replace

from kairos.events import CALENDAR_TOPIC
from kairos_dev.devstack import state_dir
from kairos_dev.fakes import google_calendar, microsoft_graph
from kairos_dev.infra.radicale import DEV_PORT, dev_banner
from kairos_dev.registration import BannerLine, DevService, ServiceSpec, api, local_url, worker

RADICALE = ServiceSpec(
    "radicale",
    "kairos_dev.infra.radicale",
    ("kairos_dev.infra.radicale", str(state_dir())),
    port=DEV_PORT,
    ready_url=f"{local_url(DEV_PORT)}/.web/",
)


GOOGLE_FAKE = ServiceSpec(
    "google-fake",
    "kairos_dev.fakes.google_calendar",
    ("kairos_dev.fakes.google_calendar", str(google_calendar.DEV_PORT)),
    port=google_calendar.DEV_PORT,
    ready_url=f"{local_url(google_calendar.DEV_PORT)}/healthz",
)


MICROSOFT_FAKE = ServiceSpec(
    "microsoft-fake",
    "kairos_dev.fakes.microsoft_graph",
    ("kairos_dev.fakes.microsoft_graph", str(microsoft_graph.DEV_PORT), str(state_dir())),
    port=microsoft_graph.DEV_PORT,
    # It speaks HTTPS with its own certificate: ready once it listens (checked by the
    # calendar-sync processes, which trust that certificate, when they start).
)


def _with_fakes(spec: ServiceSpec) -> ServiceSpec:
    """A calendar-sync process pointed at the fakes of Google and Microsoft."""
    fakes = {**google_calendar.dev_settings(), **microsoft_graph.dev_settings(state_dir())}
    return replace(spec, env=(*spec.env, *fakes.items()))


def _try_caldav(api_url: str) -> list[BannerLine]:
    return [
        ("", dev_banner(state_dir())),
        (
            "",
            f"connect it: POST {api_url}/v1/calendars/caldav"
            ' {"specialist_id", "url", "username", "password"}',
        ),
        (
            "Google (fake)",
            f"{api_url}/v1/calendars/google/connect?specialist_id=<id> (consent approves at once)",
        ),
        (
            "Outlook (fake)",
            f"{api_url}/v1/calendars/microsoft/connect?specialist_id=<id> (self-signed HTTPS)",
        ),
    ]


SERVICE = DevService(
    "calendar-sync",
    routers="calendar_sync.main:ROUTERS",
    # /v1/specialists/{id}/calendars is longer than booking's /v1/specialists path, which
    # it overrides (as in the Ingress).
    routes=(
        r"/v1/specialists/[^/]+/calendars(/|$)",
        r"/v1/webhooks/(google|microsoft)(/|$)",
        r"/v1/calendars(/|$)",
    ),
    processes=(
        RADICALE,
        GOOGLE_FAKE,
        MICROSOFT_FAKE,
        _with_fakes(api("calendar-sync-api", "calendar_sync.main:app", port=8070)),
        worker("calendar-relay", "calendar_sync.relay", port=8071, port_env="RELAY_OPS_PORT"),
        _with_fakes(
            worker(
                "calendar-consumer",
                "calendar_sync.consumer",
                port=8072,
                port_env="CONSUMER_OPS_PORT",
            )
        ),
        _with_fakes(
            worker("calendar-poller", "calendar_sync.poller", port=8073, port_env="POLLER_OPS_PORT")
        ),
    ),
    topics=(CALENDAR_TOPIC,),
    after=("booking",),
    hints=_try_caldav,
)
