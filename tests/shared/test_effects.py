"""Effects after commit against a real PostgreSQL: recording in the handler's transaction,
scheduling, backoff, parking and re-driving, re-checks, cancellation, several dispatchers,
dispatchers killed mid-effect, the operator's commands.

Each test moves the dispatcher's clock itself instead of waiting for time to pass.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from prometheus_client import REGISTRY as METRICS

from kairos.cli import main
from kairos.effects import (
    CHANNEL,
    Backoff,
    Effect,
    EffectDispatcher,
    EffectHandler,
    EffectKind,
    Status,
    cancel_effects,
    effect_id,
    parked_effects,
    record_effect,
    redrive,
)
from kairos_dev.testing.waiting import eventually
from tests.shared.effects_fakes import (
    REMINDER,
    ROOT,
    Clock,
    RecordingProvider,
    Reminder,
    booking_is_confirmed,
    calls,
    prepare,
    remind,
    statuses,
    worker_command,
)
from tests.shared.effects_worker import LEASE

pytestmark = [pytest.mark.integration]

BACKOFF = Backoff(base=timedelta(seconds=10), cap=timedelta(minutes=5))


@pytest.fixture
def url(fresh_database: Callable[[], str]) -> str:
    url = fresh_database()
    prepare(url)
    return url


@pytest.fixture
def clock() -> Clock:
    return Clock()


def dispatcher(
    url: str,
    clock: Clock,
    perform: Callable[[Effect[Reminder]], None],
    *,
    batch_size: int = 100,
    concurrency: int = 1,
    poll_interval: float = 0.5,
) -> EffectDispatcher:
    """A dispatcher of reminders that parks them after three attempts."""
    return EffectDispatcher(
        url,
        [EffectHandler(REMINDER, perform, max_attempts=3)],
        clock=clock,
        backoff=BACKOFF,
        rng=random.Random(7),
        batch_size=batch_size,
        concurrency=concurrency,
        poll_interval=poll_interval,
    )


def sample(name: str, **labels: str) -> float:
    return METRICS.get_sample_value(name, labels) or 0.0


def test_an_effect_exists_only_if_the_handlers_transaction_commits(url: str, clock: Clock) -> None:
    booking_id = uuid4()
    with pytest.raises(RuntimeError), psycopg.connect(url) as conn, conn.transaction():
        record_effect(
            conn,
            REMINDER,
            Reminder(booking_id=booking_id, minutes_before=60),
            key="rolled-back",
            reason=f"booking:{booking_id}",
            due_at=clock.now,
        )
        raise RuntimeError("the handler failed after recording")
    first = remind(url, clock, booking_id)
    again = remind(url, clock, booking_id)  # a redelivered event records it again

    assert first == again == effect_id(REMINDER.name, f"event-{booking_id}")
    assert statuses(url) == {first: ("pending", 0)}


def test_recording_refuses_data_of_another_kind(url: str, clock: Clock) -> None:
    other = EffectKind("test.other", Reminder)
    with psycopg.connect(url) as conn, pytest.raises(TypeError):
        record_effect(
            conn,
            REMINDER,
            other,
            key="k",
            reason="r",
            due_at=clock.now,  # type: ignore[arg-type]
        )


def test_an_effect_due_later_runs_once_its_time_comes(url: str, clock: Clock) -> None:
    provider = RecordingProvider(url)
    reminder = remind(url, clock, due_in=timedelta(hours=23))
    with dispatcher(url, clock, provider) as effects:
        assert effects.drain() == 0
        clock.advance(timedelta(hours=23) - timedelta(seconds=1))
        assert effects.drain() == 0
        clock.advance(timedelta(seconds=1))
        assert effects.drain() == 1

    assert [call[0] for call in calls(url)] == [reminder]
    assert statuses(url)[reminder] == ("done", 1)


def test_transient_failures_back_off_then_park_then_an_operator_redrives(
    url: str, clock: Clock
) -> None:
    provider = RecordingProvider(url, failures_left=100)
    reminder = remind(url, clock)
    parked_before = sample(
        "kairos_effects_finished_total", dispatcher="effects", kind=REMINDER.name, outcome="parked"
    )
    with dispatcher(url, clock, provider) as effects:
        for attempt, step in enumerate([BACKOFF.base, BACKOFF.base * 2], start=1):
            assert effects.drain() == 1
            due_at = _due_at(url, reminder)
            # equal jitter: between half the step and the whole step from now
            assert clock.now + step / 2 <= due_at <= clock.now + step
            assert statuses(url)[reminder] == ("pending", attempt)
            clock.advance(due_at - clock.now - timedelta(microseconds=1))
            assert effects.drain() == 0, "retried before its backoff ran out"
            clock.advance(timedelta(microseconds=1))
        assert effects.drain() == 1  # the third and last attempt
        assert statuses(url)[reminder] == ("parked", 3)
        clock.advance(timedelta(days=1))
        assert effects.drain() == 0, "a parked effect must wait for an operator"
        effects.report_metrics()

        [parked] = _parked(url)
        assert parked.id == reminder
        assert parked.last_error is not None and "TransientEffectError" in parked.last_error
        assert sample("kairos_effects_parked", dispatcher="effects") == 1
        assert (
            sample(
                "kairos_effects_finished_total",
                dispatcher="effects",
                kind=REMINDER.name,
                outcome="parked",
            )
            == parked_before + 1
        )

        provider.failures_left = 0
        with psycopg.connect(url, autocommit=True) as conn:
            assert redrive(conn) == [reminder]
        assert effects.drain() == 1
        effects.report_metrics()

    assert statuses(url)[reminder] == ("done", 1)
    assert [(call[0], call[3]) for call in calls(url)] == [
        (reminder, 1),
        (reminder, 2),
        (reminder, 3),
        (reminder, 1),
    ]
    assert sample("kairos_effects_parked", dispatcher="effects") == 0
    assert _parked(url) == []


def test_a_permanent_failure_parks_at_once_and_redrive_takes_only_the_named_effects(
    url: str, clock: Clock
) -> None:
    provider = RecordingProvider(url, failures_left=2, failure=ValueError)
    first, second = remind(url, clock), remind(url, clock)
    with dispatcher(url, clock, provider) as effects:
        assert effects.drain() == 2
        assert {status for status, _ in statuses(url).values()} == {"parked"}
        with psycopg.connect(url, autocommit=True) as conn:
            assert redrive(conn, [second]) == [second]
        assert effects.drain() == 1

    assert statuses(url) == {first: ("parked", 1), second: ("done", 1)}
    assert "ValueError" in (_parked(url)[0].last_error or "")


def test_an_effect_whose_reason_went_away_is_skipped_when_it_fires(url: str, clock: Clock) -> None:
    kept, dropped = uuid4(), uuid4()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO bookings VALUES (%s, 'confirmed'), (%s, 'confirmed')", (kept, dropped)
        )
    reminders = {remind(url, clock, kept): kept, remind(url, clock, dropped): dropped}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE bookings SET status = 'cancelled' WHERE id = %s", (dropped,))
    provider = RecordingProvider(url)
    handler = EffectHandler(REMINDER, provider, recheck=booking_is_confirmed)
    with EffectDispatcher(url, [handler], clock=clock) as effects:
        assert effects.drain() == 2

    assert {reminders[call[0]] for call in calls(url)} == {kept}
    assert {reminders[id_]: status for id_, (status, _) in statuses(url).items()} == {
        kept: Status.DONE.value,
        dropped: Status.SKIPPED.value,
    }


def test_cancelling_a_reason_drops_its_effects_of_that_kind_prefix(url: str, clock: Clock) -> None:
    reminder_24h = EffectKind("test.reminder.24h", Reminder)
    reminder_1h = EffectKind("test.reminder.1h", Reminder)
    receipt = EffectKind("test.receipt", Reminder)
    cancelled_booking, other_booking = uuid4(), uuid4()
    recorded: dict[UUID, tuple[str, UUID]] = {}
    with psycopg.connect(url) as conn, conn.transaction():
        for kind in (reminder_24h, reminder_1h, receipt):
            for booking_id in (cancelled_booking, other_booking):
                id_ = record_effect(
                    conn,
                    kind,
                    Reminder(booking_id=booking_id, minutes_before=0),
                    key=str(booking_id),
                    reason=f"booking:{booking_id}",
                    due_at=clock.now + timedelta(hours=1),
                )
                recorded[id_] = (kind.name, booking_id)
    with psycopg.connect(url) as conn, conn.transaction():
        assert cancel_effects(conn, f"booking:{cancelled_booking}", "test.reminder") == 2
    performed: list[UUID] = []
    handlers = [
        EffectHandler(kind, lambda effect: performed.append(effect.id))
        for kind in (reminder_24h, reminder_1h, receipt)
    ]
    clock.advance(timedelta(hours=1))
    with EffectDispatcher(url, handlers, clock=clock) as effects:
        assert effects.drain() == 4

    assert sorted(recorded[id_] for id_ in performed) == sorted(
        [
            ("test.reminder.24h", other_booking),
            ("test.reminder.1h", other_booking),
            ("test.receipt", cancelled_booking),
            ("test.receipt", other_booking),
        ]
    )
    assert sorted(s for s, _ in statuses(url).values()) == ["cancelled"] * 2 + ["done"] * 4


def test_two_dispatchers_perform_each_effect_exactly_once(url: str, clock: Clock) -> None:
    recorded = {remind(url, clock) for _ in range(200)}
    second_has_worked = threading.Event()
    first_provider = RecordingProvider(url, caller="first")
    second_provider = RecordingProvider(url, caller="second")

    def first(effect: Effect[Reminder]) -> None:
        # Holding its first batch until the second dispatcher has performed an effect
        # proves the second one skipped the rows leased to the first.
        assert second_has_worked.wait(60)
        first_provider(effect)

    def second(effect: Effect[Reminder]) -> None:
        second_provider(effect)
        second_has_worked.set()

    counts: dict[str, int] = {}
    with (
        dispatcher(url, clock, first, batch_size=10, concurrency=2) as one,
        dispatcher(url, clock, second, batch_size=10) as two,
    ):
        threads = [
            threading.Thread(target=lambda d=d, n=n: counts.__setitem__(n, d.drain()))
            for d, n in ((one, "first"), (two, "second"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    performed = calls(url)
    assert sorted(call[0] for call in performed) == sorted(recorded)
    assert {call[2] for call in performed} == {"first", "second"}
    assert counts["first"] + counts["second"] == 200
    assert {status for status, _ in statuses(url).values()} == {"done"}


# A dispatcher killed (SIGKILL) mid-effect: the doomed dispatcher runs in a subprocess
# (tests/shared/effects_worker.py) whose re-check or provider hangs at the chosen point
# once it has noted reaching it; the test kills it there and a successor takes over.


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

    _take_over_after_the_lease(url, clock)

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

    _take_over_after_the_lease(url, clock)

    assert calls(url) == [(reminder, str(reminder), "successor", 2)]
    assert statuses(url)[reminder] == ("done", 2)


def _take_over_after_the_lease(url: str, clock: Clock) -> None:
    """A successor dispatcher leaves the effect alone until the dead one's lease ends."""
    provider = RecordingProvider(url, caller="successor")
    handler = EffectHandler(REMINDER, provider)
    with EffectDispatcher(url, [handler], "successor", clock=clock) as successor:
        assert successor.drain() == 0, "taken while the dead dispatcher's lease still ran"
        clock.advance(LEASE + timedelta(minutes=5))
        assert successor.drain() == 1


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


def test_an_operator_lists_and_redrives_parked_effects_from_the_command_line(
    url: str, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = RecordingProvider(url, failures_left=2, failure=ValueError)
    first, second = remind(url, clock), remind(url, clock)
    with dispatcher(url, clock, provider) as effects:
        effects.drain()

        assert main(["effects", "parked", "--database", url]) == 0
        listed = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
        assert sorted(UUID(row[0]) for row in listed) == sorted([first, second])
        assert {(row[1], row[3], row[4]) for row in listed} == {
            (REMINDER.name, "1", "ValueError: the provider answered 503")
        }

        unknown = uuid4()
        assert main(["effects", "redrive", str(first), str(unknown), "--database", url]) == 1
        out, err = capsys.readouterr()
        assert out.split() == [str(first)]
        assert f"{unknown} is not parked" in err
        assert main(["effects", "redrive", "--all", "--database", url]) == 0
        assert capsys.readouterr().out.split() == [str(second)]
        assert effects.drain() == 2

    assert statuses(url) == {first: ("done", 1), second: ("done", 1)}


def test_finished_effects_lose_their_data_after_a_week_but_never_run_again(
    url: str, clock: Clock
) -> None:
    booking_id = uuid4()
    provider = RecordingProvider(url, failures_left=1, failure=ValueError)
    # the earlier one is tried first, and fails
    parked = remind(url, clock, due_in=-timedelta(seconds=1))
    done = remind(url, clock, booking_id)
    with dispatcher(url, clock, provider) as effects:
        assert effects.drain() == 2
        later = remind(url, clock, due_in=timedelta(days=30))
        clock.advance(timedelta(days=7))
        assert effects.forget_finished_data() == 0
        clock.advance(timedelta(seconds=1))
        assert effects.forget_finished_data() == 1

        assert remind(url, clock, booking_id) == done  # the same event, replayed
        assert effects.drain() == 0
    with psycopg.connect(url) as conn:
        data = dict(conn.execute("SELECT id, data FROM effects").fetchall())
    assert data[done] == {}
    assert data[parked] != {} and data[later] != {}
    assert len(calls(url)) == 2


def test_a_due_time_without_a_time_zone_is_refused(url: str) -> None:
    with psycopg.connect(url) as conn, pytest.raises(ValueError, match="timezone-aware"):
        record_effect(
            conn,
            REMINDER,
            Reminder(booking_id=uuid4(), minutes_before=5),
            key="naive",
            reason="r",
            due_at=datetime(2026, 3, 1, 9, 0),
        )


def _due_at(url: str, id_: UUID) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT due_at FROM effects WHERE id = %s", (id_,)).fetchone()
    assert row is not None
    return row[0]


def _parked(url: str) -> list[Any]:
    with psycopg.connect(url) as conn:
        return parked_effects(conn)


async def test_a_hanging_provider_call_holds_one_thread_not_the_other_effects(
    url: str, clock: Clock
) -> None:
    """With several threads, the running dispatcher claims as threads come free: effects
    due after a call that hangs are performed meanwhile, not once it returns."""
    entered, release = threading.Event(), threading.Event()
    hanging, done = uuid4(), []

    def perform(effect: Effect[Reminder]) -> None:
        if effect.data.booking_id == hanging:
            entered.set()
            release.wait(30)
        done.append(effect.data.booking_id)

    remind(url, clock, hanging)
    running = dispatcher(url, clock, perform, concurrency=2)
    task = asyncio.create_task(running.run())
    try:
        await eventually(entered.is_set, "the hanging call is under way")
        later = [remind(url, clock) for _ in range(5)]
        # Well before the hanging call gives up (30 s), after which they would go anyway.
        await eventually(
            lambda: len(done) == len(later), "the later effects are performed", timeout=10
        )
        assert hanging not in done
        assert [statuses(url)[effect] for effect in later] == [("done", 1)] * len(later)
    finally:
        release.set()
        running.stop()
        await asyncio.wait_for(task, 30)
    assert hanging in done


async def test_a_recorded_effect_wakes_an_idle_dispatcher_before_its_next_poll(
    url: str, clock: Clock
) -> None:
    """The consumer's commit notifies the dispatcher (LISTEN/NOTIFY): with a poll of an
    hour, the effect is still performed at once; the poll only stays as the fallback."""
    done: list[UUID] = []
    running = dispatcher(url, clock, lambda e: done.append(e.data.booking_id), poll_interval=3600)
    task = asyncio.create_task(running.run())
    try:
        await eventually(lambda: _listening(url), "the dispatcher listens")
        await asyncio.sleep(0.5)  # its first claims are over: it now waits, idle
        for performed in range(1, 4):  # and again once it has gone idle after each
            await asyncio.to_thread(remind, url, clock)
            await eventually(
                lambda n=performed: len(done) == n, "performed without a poll", timeout=10
            )
    finally:
        running.stop()
        await asyncio.wait_for(task, 30)


def test_only_an_effect_due_now_notifies_and_only_once_committed(url: str, clock: Clock) -> None:
    """A reminder for later wakes no one (the poll finds it when due); a redelivered
    event that records nothing new does not notify again."""
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        remind(url, clock, due_in=timedelta(hours=1))
        assert list(listener.notifies(timeout=0.5)) == []
        booking_id = uuid4()
        remind(url, clock, booking_id)
        heard = [n.payload for n in listener.notifies(timeout=2, stop_after=1)]
        remind(url, clock, booking_id)
        again = list(listener.notifies(timeout=0.5))
    assert heard == [REMINDER.name]
    assert again == []


def _listening(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND query = %s",
            (f"LISTEN {CHANNEL}",),
        ).fetchone()
    return row is not None and row[0] > 0
