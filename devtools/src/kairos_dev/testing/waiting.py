"""Waiting, in an async test, for what another process or task makes true."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def eventually(
    check: Callable[[], bool], what: str, timeout: float = 60, interval: float = 0.05
) -> None:
    """Return once `check()` (run in a thread: it may block) is true; fail naming `what`
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(interval)
