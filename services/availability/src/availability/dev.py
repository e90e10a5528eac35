"""Availability in `kairos dev` (entry point `kairos.dev_services`, read by kairos_dev
only): its API and projector, after booking's, whose events it consumes; and a slots
query to try in the banner."""

from __future__ import annotations

import datetime

from kairos_dev.registration import BannerLine, DevService, api, worker


def _try_slots(api_url: str) -> list[BannerLine]:
    today = datetime.date.today()
    week = f"from={today}&to={today + datetime.timedelta(days=6)}&timezone=Europe/London"
    return [
        ("Slots", f"curl '{api_url}/v1/slots?service_id=<id>&{week}'"),
        ("", "(<id>: a service id the seed printed above)"),
    ]


SERVICE = DevService(
    "availability",
    routers="availability.api:ROUTERS",
    routes=(r"/v1/slots(/|$)",),
    processes=(
        api("availability", "availability.main:app", port=8020),
        worker("projector", "availability.projector", port=8021, port_env="PROJECTOR_OPS_PORT"),
        worker(
            "calendar-busy",
            "availability.external_busy",
            port=8022,
            port_env="CALENDAR_PROJECTOR_OPS_PORT",
        ),
    ),
    after=("booking",),
    hints=_try_slots,
)
