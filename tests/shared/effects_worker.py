"""A dispatcher process that hangs at a chosen point, for the test to SIGKILL it there.

    python -m tests.shared.effects_worker DATABASE_URL before-call|after-call

`before-call`: the re-check notes that it was reached, then hangs (the provider is
never called). `after-call`: the provider records its call, then hangs before the
dispatcher can record the effect as done.
"""

from __future__ import annotations

import sys
import threading
from datetime import timedelta
from typing import Any

import psycopg

from kairos.effects import Effect, EffectDispatcher, EffectHandler
from tests.shared.effects_fakes import REMINDER, RecordingProvider, Reminder

LEASE = timedelta(hours=1)


def main() -> None:
    url, stop_at = sys.argv[1], sys.argv[2]
    provider = RecordingProvider(url, caller="doomed")

    def reach(point: str, effect: Effect[Reminder]) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO reached VALUES (%s, %s)", (effect.id, point))
        threading.Event().wait()  # until killed

    def recheck(conn: psycopg.Connection[Any], effect: Effect[Reminder]) -> bool:
        if stop_at == "before-call":
            reach(stop_at, effect)
        return True

    def perform(effect: Effect[Reminder]) -> None:
        provider(effect)
        if stop_at == "after-call":
            reach(stop_at, effect)

    handler = EffectHandler(REMINDER, perform, recheck)
    with EffectDispatcher(url, [handler], "doomed", lease=LEASE) as dispatcher:
        dispatcher.drain()


if __name__ == "__main__":
    main()
