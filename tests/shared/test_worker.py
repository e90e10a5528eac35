"""A worker stops on SIGTERM or SIGINT by being asked to finish, and gives the signals back."""

from __future__ import annotations

import asyncio
import os

import pytest

from kairos.messaging.worker import STOP_SIGNALS, until_signalled

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("signum", STOP_SIGNALS)
async def test_a_stop_signal_asks_the_work_to_finish_and_is_given_back(signum: int) -> None:
    asked = asyncio.Event()
    finished = []

    async def work() -> None:
        os.kill(os.getpid(), signum)
        await asyncio.wait_for(asked.wait(), timeout=5)
        finished.append(True)  # it finished its work: the signal did not kill it

    await until_signalled(work(), asked.set)

    assert finished == [True]
    loop = asyncio.get_running_loop()
    assert not loop.remove_signal_handler(signum), "the handler was left installed"
