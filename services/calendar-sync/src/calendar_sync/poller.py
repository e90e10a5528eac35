"""`python -m calendar_sync.poller`: polls CalDAV connections and fully reconciles all.

Every CALENDAR_POLL_SECONDS it reads each CalDAV connection (cheap when its sync
token is unchanged); every CALENDAR_RECONCILE_SECONDS it reads every connection in
full, which catches a push notification that never came. Several pollers may run:
each read is idempotent (an unchanged busy time records nothing). Ops endpoints on
POLLER_OPS_PORT (default 8000); SIGTERM lets the round in progress finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time

from calendar_sync.config import CalendarSyncSettings
from calendar_sync.wiring import CalendarSync, wire
from kairos.messaging.worker import until_signalled
from kairos.web import configure_logging
from kairos.web.ops_server import serving_ops

log = logging.getLogger("calendar_sync.poller")


def reconcile_round(service: CalendarSync, full: bool) -> None:
    """One round; a full one also renews the push channels that expire soon."""
    service.reconciler.round(full=full)
    if full:
        for connection_id in service.reconciler.connected():
            if service.connections.connection(connection_id).active:
                service.watches.renew_due(connection_id)


async def poll(service: CalendarSync, stopping: asyncio.Event) -> None:
    settings = service.settings
    next_full = 0.0
    while not stopping.is_set():
        full = time.monotonic() >= next_full
        if full:
            next_full = time.monotonic() + settings.calendar_reconcile_seconds
        try:
            await asyncio.to_thread(reconcile_round, service, full)
        except Exception:
            log.exception("reconcile round failed; trying again next round")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), settings.calendar_poll_seconds)


async def _run(service: CalendarSync) -> None:
    settings = service.settings
    stopping = asyncio.Event()
    port = int(os.environ.get("POLLER_OPS_PORT", "8000"))
    async with serving_ops("calendar-poller", port, {}, host=settings.ops_host):
        await until_signalled(poll(service, stopping), stopping.set)


def main() -> None:
    settings = CalendarSyncSettings()
    configure_logging(settings.log_level)
    service = wire(settings)
    try:
        asyncio.run(_run(service))
    finally:
        service.close()


if __name__ == "__main__":
    main()
