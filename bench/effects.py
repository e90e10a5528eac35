"""Effects: 10,000 effects due at once, drained by dispatchers on a fresh database.

The effects are recorded in one transaction (as consumers' handlers would, in
bulk), then drained by one dispatcher, by two dispatchers side by side (threads
with their own connection pools, claiming with SKIP LOCKED), and by two
dispatchers of 16 threads each calling a provider that takes 20 ms (an SMTP or
HTTP call). The provider counts the calls per effect id: the run checks that
every effect was performed exactly once and is recorded as done.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from pydantic import BaseModel

from kairos.effects import Effect, EffectDispatcher, EffectHandler, EffectKind, record_effect
from kairos.effects.store import create_effects_table
from kairos_dev.infra import ensure_postgres
from kairos_dev.infra.postgres import database_name

EFFECTS = 10_000
SLOW_EFFECTS = 2_000
SLOW_CALL_SECONDS = 0.02


class Notice(BaseModel):
    booking_id: UUID
    to: str


NOTICE = EffectKind("bench.notice", Notice)


class CountingProvider:
    def __init__(self, seconds_per_call: float = 0.0) -> None:
        self.calls: Counter[UUID] = Counter()
        self._lock = threading.Lock()
        self._seconds = seconds_per_call

    def __call__(self, effect: Effect[Notice]) -> None:
        if self._seconds:
            time.sleep(self._seconds)
        with self._lock:
            self.calls[effect.id] += 1


def _record(url: str, count: int) -> float:
    now = datetime.now(UTC)
    started = time.perf_counter()
    with psycopg.connect(url) as conn, conn.transaction():
        create_effects_table(conn)
        for i in range(count):
            booking_id = UUID(int=i + 1)
            record_effect(
                conn,
                NOTICE,
                Notice(booking_id=booking_id, to="client@example.com"),
                key=str(booking_id),
                reason=f"booking:{booking_id}",
                due_at=now,
            )
    return time.perf_counter() - started


def _drain(url: str, dispatchers: int, concurrency: int, provider: CountingProvider) -> float:
    handler = EffectHandler(NOTICE, provider)
    instances = [
        EffectDispatcher(url, [handler], f"bench-{n}", concurrency=concurrency, batch_size=100)
        for n in range(dispatchers)
    ]
    for instance in instances:
        instance.open()
    threads = [threading.Thread(target=instance.drain) for instance in instances]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for instance in instances:
        instance.close()
    return elapsed


def _scenario(
    create_database: Callable[[], str],
    count: int,
    dispatchers: int,
    concurrency: int,
    seconds_per_call: float = 0.0,
) -> dict[str, Any]:
    url = create_database()
    record_seconds = _record(url, count)
    provider = CountingProvider(seconds_per_call)
    seconds = _drain(url, dispatchers, concurrency, provider)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FILTER (WHERE status = 'done') FROM effects").fetchone()
    done = int(row[0]) if row else 0
    twice = sum(1 for n in provider.calls.values() if n > 1)
    lost = count - len(provider.calls)
    if done != count or twice or lost:
        raise AssertionError(f"{done} done of {count}, {lost} never performed, {twice} twice")
    return {
        "effects": count,
        "dispatchers": dispatchers,
        "threads_per_dispatcher": concurrency,
        "provider_call_ms": seconds_per_call * 1000,
        "record_per_second": round(count / record_seconds),
        "drain_seconds": round(seconds, 2),
        "effects_per_second": round(count / seconds),
        "done": done,
        "lost": lost,
        "performed_twice": twice,
    }


def run() -> dict[str, Any]:
    with ensure_postgres() as server:
        created: list[str] = []

        def create_database() -> str:
            url = server.create_database(prefix="kairos_bench_effects")
            created.append(database_name(url))
            return url

        try:
            return {
                "one_dispatcher": _scenario(create_database, EFFECTS, 1, 1),
                "two_dispatchers": _scenario(create_database, EFFECTS, 2, 1),
                "slow_provider_two_dispatchers_16_threads": _scenario(
                    create_database, SLOW_EFFECTS, 2, 16, SLOW_CALL_SECONDS
                ),
            }
        finally:
            for name in created:
                server.drop_database(name)
