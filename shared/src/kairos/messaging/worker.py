"""How a worker process (a relay, a consumer) runs until it is told to stop: SIGTERM or
SIGINT asks it to finish what it is doing, so that it commits and exits cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def until_signalled(work: Awaitable[None], stop: Callable[[], None]) -> None:
    """Await `work` with SIGINT and SIGTERM calling `stop`, which must make it return;
    the loop's former handling of those signals is restored afterwards."""
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop)
    try:
        await work
    finally:
        for signum in STOP_SIGNALS:
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
