"""A dispatcher killed (SIGKILL) mid-effect: the next dispatcher finishes its work, and
the provider sees the effect at most twice, with the same idempotency key.

The doomed dispatcher runs in a subprocess whose re-check or provider hangs at the
chosen point once it has noted reaching it; the test kills it there.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from uuid import UUID

import psycopg
import pytest

from kairos.effects import EffectDispatcher, EffectHandler
from tests.shared.effects_fakes import (
    REMINDER,
    ROOT,
    Clock,
    RecordingProvider,
    calls,
    prepare,
    remind,
    statuses,
    worker_command,
)
from tests.shared.effects_worker import LEASE

pytestmark = [pytest.mark.integration]


@pytest.fixture
def url(fresh_database: Callable[[], str]) -> str:
    url = fresh_database()
    prepare(url)
    return url


@pytest.fixture
def kill_at(url: str) -> Iterator[Callable[[str], UUID]]:
    """Start the doomed dispatcher, SIGKILL it at `point`; returns the effect it held."""
    processes: list[subprocess.Popen[bytes]] = []

    def run(point: str) -> UUID:
        process = subprocess.Popen(worker_command(url, point), cwd=ROOT)
        processes.append(process)
        reached = _wait_until_reached(url, point, process)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        return reached

    yield run
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(30)


def test_a_crash_between_the_provider_call_and_its_record_repeats_it_once(
    url: str, kill_at: Callable[[str], UUID]
) -> None:
    clock = Clock()
    reminder = remind(url, clock)
    assert kill_at("after-call") == reminder

    with _successor(url, clock) as successor:
        assert successor.drain() == 0, "taken while the dead dispatcher's lease still ran"
        clock.advance(LEASE + timedelta(minutes=5))
        assert successor.drain() == 1

    assert calls(url) == [
        (reminder, str(reminder), "doomed", 1),
        (reminder, str(reminder), "successor", 2),
    ]
    assert statuses(url)[reminder] == ("done", 2)


def test_a_crash_before_the_provider_call_still_performs_the_effect_once(
    url: str, kill_at: Callable[[str], UUID]
) -> None:
    clock = Clock()
    reminder = remind(url, clock)
    assert kill_at("before-call") == reminder
    assert calls(url) == []

    with _successor(url, clock) as successor:
        assert successor.drain() == 0
        clock.advance(LEASE + timedelta(minutes=5))
        assert successor.drain() == 1

    assert calls(url) == [(reminder, str(reminder), "successor", 2)]
    assert statuses(url)[reminder] == ("done", 2)


def _successor(url: str, clock: Clock) -> EffectDispatcher:
    provider = RecordingProvider(url, caller="successor")
    return EffectDispatcher(url, [EffectHandler(REMINDER, provider)], "successor", clock=clock)


def _wait_until_reached(url: str, point: str, process: subprocess.Popen[bytes]) -> UUID:
    """Wait for the worker to note that it reached `point` (or die trying)."""
    deadline = time.monotonic() + 60
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT effect_id FROM reached WHERE point = %s", (point,)
            ).fetchone()
            if row is not None:
                return UUID(str(row[0]))
            if process.poll() is not None:
                pytest.fail(f"the worker exited with {process.returncode} before {point}")
            time.sleep(0.05)
    pytest.fail(f"the worker did not reach {point} within a minute")
