"""`python -m calendar_sync.poller`: polls CalDAV connections and fully reconciles all.

Every CALENDAR_POLL_SECONDS it reads each CalDAV connection (cheap when its sync
token is unchanged); every CALENDAR_RECONCILE_SECONDS it reads every connection in
full, which catches a push notification that never came. Several pollers may run:
each read is idempotent (an unchanged busy time records nothing).
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from calendar_sync.config import CalendarSyncSettings
from calendar_sync.wiring import wire
from kairos.web import configure_logging

log = logging.getLogger("calendar_sync.poller")


def main() -> None:
    settings = CalendarSyncSettings()
    configure_logging(settings.log_level)
    service = wire(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    next_full = 0.0
    try:
        while not stop.is_set():
            full = time.monotonic() >= next_full
            if full:
                next_full = time.monotonic() + settings.calendar_reconcile_seconds
            try:
                service.reconciler.round(full=full)
            except Exception:
                log.exception("reconcile round failed; trying again next round")
            stop.wait(settings.calendar_poll_seconds)
    finally:
        service.close()


if __name__ == "__main__":
    main()
