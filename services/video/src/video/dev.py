"""Video in `kairos dev` (entry point `kairos.dev_services`, read by kairos_dev only):
its public paths, which the gateway answers with 502 until the service has an API."""

from __future__ import annotations

from kairos_dev.registration import DevService

SERVICE = DevService(
    "video",
    # Longer than booking's /v1/bookings path, which they override (as in the Ingress).
    routes=(r"/v1/bookings/[^/]+/(join|session|notes)(/|$)", r"/v1/webhooks/livekit(/|$)"),
)
