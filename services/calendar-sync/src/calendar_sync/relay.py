"""`python -m calendar_sync.relay`: publishes calendar-sync's event store to calendar.events.v1.

One runs per database (an advisory lock; a second one waits as a standby). Ops
endpoints on RELAY_OPS_PORT (default 8000).
"""

from __future__ import annotations

import os

from calendar_sync.application import Connections
from calendar_sync.config import CalendarStoreSettings
from calendar_sync.integration import IntegrationMapper
from kairos.events import CALENDAR_TOPIC
from kairos.eventstore import open_application
from kairos.messaging.relay import run_relay
from kairos.web import configure_logging


def main() -> None:
    settings = CalendarStoreSettings()
    configure_logging(settings.log_level)
    run_relay(
        lambda: open_application(lambda env: Connections(env=env), settings.database_url),
        IntegrationMapper,
        settings,
        topic=CALENDAR_TOPIC,
        name="calendar-sync",
        ops_port=int(os.environ.get("RELAY_OPS_PORT", "8000")),
    )


if __name__ == "__main__":
    main()
