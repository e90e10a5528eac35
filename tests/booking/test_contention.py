"""booking.contention: a command whose ledgers another command of the process holds looks
at the stored state before waiting its turn, and a refusal there ends it at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID, uuid4

import pytest

from booking.contention import Contention
from booking.domain import DomainError

pytestmark = pytest.mark.unit


class Taken(DomainError):
    code = "slot_unavailable"
    status = 409


@contextmanager
def held_elsewhere(contention: Contention, ledger: UUID) -> Iterator[threading.Event]:
    """Another thread holds `ledger` until the event yielded is set."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with contention.locks.holding([ledger], time.monotonic() + 5):
            taken.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait(5)
    try:
        yield release
    finally:
        release.set()
        holder.join(5)


def test_a_refusal_found_while_the_ledgers_are_held_ends_the_command_without_its_turn() -> None:
    contention, ledger = Contention(), uuid4()
    attempts: list[str] = []

    def look() -> None:
        raise Taken("that slot is no longer free")

    with held_elsewhere(contention, ledger), pytest.raises(Taken):
        contention.run([ledger], lambda: attempts.append("attempt"), look)

    assert attempts == []  # refused on the stored state, not after queueing for the lock


def test_a_command_that_finds_its_slot_free_waits_its_turn_and_then_attempts() -> None:
    contention, ledger = Contention(), uuid4()
    order: list[str] = []
    result: list[str] = []

    with held_elsewhere(contention, ledger) as release:

        def look() -> None:
            order.append("look")
            release.set()  # the holder finishes after this command looked

        def attempt() -> str:
            order.append("attempt")
            return "booked"

        runner = threading.Thread(
            target=lambda: result.append(contention.run([ledger], attempt, look))
        )
        runner.start()
        runner.join(5)

    assert order == ["look", "attempt"]
    assert result == ["booked"]


def test_a_command_on_free_ledgers_does_not_look_first() -> None:
    contention = Contention()
    looks: list[str] = []

    assert contention.run([uuid4()], lambda: "booked", lambda: looks.append("look")) == "booked"
    assert looks == []
