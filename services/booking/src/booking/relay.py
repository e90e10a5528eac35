"""`python -m booking.relay`: publishes the booking event store to booking.events.v1.

Run exactly one per database (it takes an advisory lock; a second one waits as a
standby). Ops endpoints on RELAY_OPS_PORT (default 8000, as in the k8s manifests).
"""

from __future__ import annotations

import os

from booking.config import BookingStoreSettings
from booking.integration import IntegrationMapper
from booking.main import bookings_application
from kairos.events import BOOKING_TOPIC
from kairos.messaging.relay import run_relay
from kairos.web import configure_logging


def main() -> None:
    settings = BookingStoreSettings()
    configure_logging(settings.log_level)
    run_relay(
        lambda: bookings_application(settings),
        IntegrationMapper,
        settings,
        topic=BOOKING_TOPIC,
        name="booking",
        ops_port=int(os.environ.get("RELAY_OPS_PORT", "8000")),
    )


if __name__ == "__main__":
    main()
