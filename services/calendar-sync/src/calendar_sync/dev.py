"""Calendar sync in `kairos dev` (entry point `kairos.dev_services`, read by kairos_dev
only): its public paths, which the gateway answers with 502 until the service has an API."""

from __future__ import annotations

from kairos_dev.registration import DevService

SERVICE = DevService(
    "calendar-sync",
    # /v1/specialists/{id}/calendars is longer than booking's /v1/specialists path, which
    # it overrides (as in the Ingress).
    routes=(
        r"/v1/specialists/[^/]+/calendars(/|$)",
        r"/v1/webhooks/(google|microsoft)(/|$)",
        r"/v1/calendars(/|$)",
    ),
)
