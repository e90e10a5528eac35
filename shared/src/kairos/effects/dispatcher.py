"""The effect dispatcher: performs due effects after the handlers' transactions commit.

Run one or several per service (`await dispatcher.run()` beside the consumer, or
`drain()` in a test or a job): each claims a batch of due effects under a lease
(see `kairos.effects.store`), re-checks each against current state, calls its
provider outside any transaction, and records the outcome. Scheduling needs
nothing more: an effect due tomorrow is simply not claimed before tomorrow.
A `BatchEffectHandler` gets all the effects of its kind in a claimed batch at once,
and re-checks and performs them together.

An idle `run()` does not wait for its next poll when an effect is recorded: it
listens on the channel `record_effect` notifies (PostgreSQL LISTEN/NOTIFY), so an
effect due at once is claimed as soon as the consumer that recorded it commits, in
whichever process. The poll stays, as the fallback for what no notification tells
(an effect whose due time comes, a lease that runs out, a lost listening connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import groupby
from typing import Any
from uuid import uuid4

import psycopg
from psycopg_pool import ConnectionPool

from kairos.effects.backoff import DEFAULT_BACKOFF, Backoff
from kairos.effects.metrics import (
    EFFECTS_DUE,
    EFFECTS_FINISHED,
    EFFECTS_PARKED,
    EFFECTS_PERFORM_SECONDS,
)
from kairos.effects.model import (
    AnyEffectHandler,
    BatchEffectHandler,
    BatchOutcome,
    EffectHandler,
    Status,
    StoredEffect,
    TransientEffectError,
)
from kairos.effects.store import (
    CHANNEL,
    Outcome,
    claim_due,
    count_by_status,
    create_effects_table,
    finish,
    forget_finished_data,
    retry_at,
)

log = logging.getLogger("kairos.effects")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class EffectDispatcher:
    """Performs the due effects of the kinds in `handlers`, from `database` (a psycopg
    pool or a connection string, then the dispatcher owns a pool).

    `lease` must outlast the slowest provider call (give providers a shorter
    timeout): an effect still running when its lease ends may be taken again by
    another dispatcher. `concurrency` threads perform one claimed batch at once
    (the effects of a `BatchEffectHandler` go together, in one of them).
    Once an effect has finished for `keep_data_for`, its data is emptied (it often
    holds personal data); its row stays, so a replay never performs it again.
    `clock` and `rng` are injectable so tests control time and jitter. `run()` wakes
    when an effect of its kinds is recorded, else polls every `poll_interval`.
    """

    def __init__(
        self,
        database: ConnectionPool | str,
        handlers: Sequence[AnyEffectHandler],
        name: str = "effects",
        *,
        batch_size: int = 100,
        concurrency: int = 1,
        lease: timedelta = timedelta(minutes=5),
        backoff: Backoff = DEFAULT_BACKOFF,
        poll_interval: float = 0.5,
        metrics_interval: float = 5.0,
        keep_data_for: timedelta = timedelta(days=7),
        forget_interval: float = 3600.0,
        retry_delay: float = 1.0,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self._handlers = {handler.kind.name: handler for handler in handlers}
        if len(self._handlers) != len(handlers):
            raise ValueError("two handlers for the same effect kind")
        self._database = database
        self._pool: ConnectionPool | None = None
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._lease = lease
        self._backoff = backoff
        self._poll_interval = poll_interval
        self._metrics_interval = metrics_interval
        self._keep_data_for = keep_data_for
        self._forget_interval = forget_interval
        self._retry_delay = retry_delay
        self._clock = clock
        self._rng = rng or random.Random()
        self._claimant = f"{name}@{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:8]}"
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = asyncio.Event()
        # Set by a notification of a recorded effect (and by stop()): ends an idle wait.
        self._wake = asyncio.Event()

    def open(self) -> None:
        """Open the pool (if owned) and create the effects table if missing."""
        if self._executor is None and self._concurrency > 1:
            self._executor = ThreadPoolExecutor(self._concurrency, f"effects-{self.name}")
        if self._pool is None:
            if isinstance(self._database, ConnectionPool):
                self._pool = self._database
            else:
                self._pool = ConnectionPool(
                    self._database,
                    min_size=1,
                    max_size=self._concurrency + 1,
                    open=False,
                    name=f"effects-{self.name}",
                    # Losing a dispatcher's write in a database crash only repeats
                    # an effect (see kairos.effects.store): no need to wait for fsync.
                    kwargs={"autocommit": True, "options": "-c synchronous_commit=off"},
                )
                self._pool.open(True, 30.0)
        with self._connection() as conn:
            create_effects_table(conn)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        if self._pool is not None and isinstance(self._database, str):
            self._pool.close()
        self._pool = None

    def __enter__(self) -> EffectDispatcher:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def dispatch_due(self) -> int:
        """Claim one batch of due effects and perform it; returns how many were claimed."""
        batch = self._claim(self._batch_size)
        parts = self._parts(batch)
        if self._executor is None:
            outcomes = [outcome for part in parts for outcome in self._dispatch_part(part)]
        else:
            outcomes = [o for done in self._executor.map(self._dispatch_part, parts) for o in done]
        # One write for the whole batch, not one per effect: a crash before it only
        # repeats the batch's effects once each, as a crash before one effect's write did.
        self._finish([outcome for outcome in outcomes if outcome is not None])
        return len(batch)

    def _parts(self, batch: list[StoredEffect]) -> list[list[StoredEffect]]:
        """The claimed batch in the pieces performed apart: an effect alone, or all the
        effects of a kind whose handler takes them together."""

        def together(row: StoredEffect) -> bool:
            return isinstance(self._handlers[row.kind], BatchEffectHandler)

        by_kind = sorted(filter(together, batch), key=lambda row: row.kind)
        parts = [list(rows) for _, rows in groupby(by_kind, key=lambda row: row.kind)]
        return parts + [[row] for row in batch if not together(row)]

    def _dispatch_part(self, part: list[StoredEffect]) -> list[Outcome | None]:
        handler = self._handlers[part[0].kind]
        if isinstance(handler, BatchEffectHandler):
            return self._dispatch_together(handler, part)
        return [self._dispatch(handler, part[0])]

    def _claim(self, limit: int) -> list[StoredEffect]:
        now = self._clock()
        with self._connection() as conn:
            return claim_due(
                conn,
                list(self._handlers),
                now=now,
                leased_until=now + self._lease,
                limit=limit,
                claimant=self._claimant,
            )

    def drain(self) -> int:
        """Dispatch until nothing is due; returns how many effects were claimed."""
        total = 0
        while claimed := self.dispatch_due():
            total += claimed
        return total

    def report_metrics(self) -> None:
        with self._connection() as conn:
            counts = count_by_status(conn, now=self._clock())
        EFFECTS_PARKED.labels(self.name).set(counts["parked"])
        EFFECTS_DUE.labels(self.name).set(counts["due"])

    def forget_finished_data(self) -> int:
        """Empty the data of effects finished more than `keep_data_for` ago."""
        with self._connection() as conn:
            return forget_finished_data(conn, self._clock() - self._keep_data_for)

    def stop(self) -> None:
        """Finish the current batch; `run()` then returns."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Dispatch until `stop()`, waiting `poll_interval` whenever nothing is due.

        With `concurrency` > 1 it claims as threads come free rather than batch after
        batch, so one slow provider call (a webhook receiver that hangs until its
        timeout) holds one thread, not the claiming of everything else.
        """
        await asyncio.to_thread(self._open_retrying)
        listener = asyncio.create_task(self._listen(), name=f"{self.name}-listen")
        next_report = next_forget = 0.0
        running: set[asyncio.Future[None]] = set()
        try:
            while not self._stopping.is_set():
                # Cleared before claiming: a notification during the claim is not lost.
                self._wake.clear()
                try:
                    idle = await self._dispatch_some(running)
                    if time.monotonic() >= next_report:
                        await asyncio.to_thread(self.report_metrics)
                        next_report = time.monotonic() + self._metrics_interval
                    if time.monotonic() >= next_forget:
                        await asyncio.to_thread(self.forget_finished_data)
                        next_forget = time.monotonic() + self._forget_interval
                except psycopg.OperationalError as exc:
                    log.warning("%s: database unavailable (%s); retrying", self.name, exc)
                    await self._sleep(self._retry_delay)
                    continue
                if idle:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            if running:
                await asyncio.wait(running)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await asyncio.to_thread(self.close)

    async def _listen(self) -> None:
        """Wake the idle loop whenever an effect of its kinds is recorded; on a lost
        connection, listen again after `retry_delay` (the poll covers the gap)."""
        while not self._stopping.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo(), autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    # What was recorded before the LISTEN took effect: look once more.
                    self._wake.set()
                    async for notification in conn.notifies():
                        if notification.payload in self._handlers:
                            self._wake.set()
            except psycopg.Error as exc:
                log.warning("%s: not listening for new effects (%s); polling", self.name, exc)
            await self._sleep(self._retry_delay)

    def _conninfo(self) -> str:
        if isinstance(self._database, str):
            return self._database
        conninfo = self._database.conninfo
        return conninfo() if callable(conninfo) else conninfo

    async def _dispatch_some(self, running: set[asyncio.Future[None]]) -> bool:
        """Claim and start what the free threads can take (in one thread: one batch, done
        before returning); True when nothing more was due."""
        if self._executor is None:
            return await asyncio.to_thread(self.dispatch_due) < self._batch_size
        free = min(self._batch_size, self._concurrency - len(running))
        if free <= 0:
            await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            return False
        batch = await asyncio.to_thread(self._claim, free)
        loop = asyncio.get_running_loop()
        for part in self._parts(batch):
            task = loop.run_in_executor(self._executor, self._dispatch_alone, part)
            running.add(task)
            task.add_done_callback(self._finished_in_thread(running))
        return len(batch) < free

    def _finished_in_thread(
        self, running: set[asyncio.Future[None]]
    ) -> Callable[[asyncio.Future[None]], None]:
        def done(task: asyncio.Future[None]) -> None:
            running.discard(task)
            if not task.cancelled() and (failed := task.exception()) is not None:
                # Its outcome was not recorded (the database went away): its lease runs
                # out and a dispatcher takes it again.
                log.warning("%s: an effect's outcome was not recorded: %s", self.name, failed)

        return done

    def _open_retrying(self) -> None:
        while True:
            try:
                self.open()
                return
            except psycopg.OperationalError as exc:
                log.warning("%s: database unavailable (%s); retrying", self.name, exc)
                time.sleep(self._retry_delay)

    def _dispatch(self, handler: EffectHandler[Any], row: StoredEffect) -> Outcome | None:
        """Perform one effect; its outcome to record, or None if it was given back."""
        started = time.perf_counter()
        try:
            wanted = self._perform(handler, row)
        except Exception as exc:
            self._observe(row, started)
            return self._fail(handler, row, exc)
        self._observe(row, started)
        return Outcome(row, Status.DONE if wanted else Status.SKIPPED)

    def _dispatch_together(
        self, handler: BatchEffectHandler[Any], rows: list[StoredEffect]
    ) -> list[Outcome | None]:
        """Perform the effects of one batch handler's kind in one call; their outcomes."""
        started = time.perf_counter()
        results: list[BatchOutcome] = []
        try:
            results = list(handler.perform_batch([handler.effect(row) for row in rows]))
            if len(results) != len(rows):
                raise RuntimeError(f"{handler.kind.name}: {len(results)} outcomes of {len(rows)}")
        except Exception as exc:
            # Unreadable data, or the batch failed as a whole (the database went away).
            results = [exc] * len(rows)
        for row in rows:
            # Each effect of the batch took as long as the batch.
            self._observe(row, started)
        return [
            self._outcome(handler, row, result) for row, result in zip(rows, results, strict=True)
        ]

    def _outcome(
        self, handler: BatchEffectHandler[Any], row: StoredEffect, result: BatchOutcome
    ) -> Outcome | None:
        if isinstance(result, Exception):
            return self._fail(handler, row, result)
        return Outcome(row, Status.DONE if result else Status.SKIPPED)

    def _dispatch_alone(self, part: list[StoredEffect]) -> None:
        """Perform one effect (or a batch handler's part) and record its outcome at
        once: a thread of `run()` that finishes while others still run has no batch to
        wait for."""
        outcomes = [outcome for outcome in self._dispatch_part(part) if outcome is not None]
        self._finish(outcomes)

    def _perform(self, handler: EffectHandler[Any], row: StoredEffect) -> bool:
        """Re-check, then call the provider; False if the re-check said no."""
        effect = handler.effect(row)
        if handler.recheck is not None:
            with self._connection() as conn, conn.transaction():
                if not handler.recheck(conn, effect):
                    return False
        handler.perform(effect)
        return True

    def _fail(self, handler: AnyEffectHandler, row: StoredEffect, exc: Exception) -> Outcome | None:
        """Retry a transient failure after a backoff (given back at once: None); park a
        permanent one, or the last attempt. An unreachable database counts as transient."""
        transient = isinstance(exc, (TransientEffectError, psycopg.OperationalError))
        if not transient or row.attempts >= handler.max_attempts:
            return self._park(row, exc)
        delay = (handler.backoff or self._backoff).delay(row.attempts, self._rng)
        asked = exc.retry_after if isinstance(exc, TransientEffectError) else None
        due_at = self._clock() + max(delay, asked or delay)
        with self._connection() as conn:
            kept = retry_at(conn, row, due_at, _describe(exc))
        self._count(row, "retried" if kept else "lease_lost")
        return None

    def _park(self, row: StoredEffect, exc: Exception) -> Outcome:
        # The error text may quote personal data (an address a provider rejected):
        # it is stored with the effect for the operator, never logged.
        log.warning(
            "%s: parked effect %s (%s) after %d attempts: %s",
            self.name,
            row.id,
            row.kind,
            row.attempts,
            type(exc).__name__,
        )
        return Outcome(row, Status.PARKED, _describe(exc))

    def _finish(self, outcomes: Sequence[Outcome]) -> None:
        if not outcomes:
            return
        with self._connection() as conn:
            closed = finish(conn, outcomes, now=self._clock())
        for outcome in outcomes:
            kept = outcome.effect.id in closed
            self._count(outcome.effect, outcome.status.value if kept else "lease_lost")

    def _count(self, row: StoredEffect, outcome: str) -> None:
        EFFECTS_FINISHED.labels(self.name, row.kind, outcome).inc()

    def _observe(self, row: StoredEffect, started: float) -> None:
        EFFECTS_PERFORM_SECONDS.labels(self.name, row.kind).observe(time.perf_counter() - started)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        if self._pool is None:
            raise RuntimeError("open() the dispatcher first")
        with self._pool.connection() as conn:
            yield conn

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
