"""Where the time of bench/availability.py goes: python -m bench.availability_profile.

cProfile, top functions by own time, written to bench/results/availability_profile.json:
- the slot query of part 1 in this process: cached (what a cache hit computes), cold
  (load from the read model, then the same), and the naive implementation of part 2;
- the rebuild of part 4 over the first PROFILE_EVENTS events of the cached store (run
  `python -m bench availability` once first).

The API process itself (FastAPI, uvicorn) is best sampled from outside while the
benchmark runs, e.g. `py-spy record --pid <uvicorn pid> --gil --format raw -o api.raw`.
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from availability.projector import CONSUMER, PRODUCER
from availability.readmodel import day_bounds, load
from availability.rebuild import rebuild
from availability.replay import replay_availability
from bench.availability import REPLAY_DATABASE, ZONE, World, _seed_world, naive_slots
from booking.integration import booking_log
from kairos.messaging.notification_log import LoggedEvent, NotificationLog
from kairos.settings import TopicSettings
from kairos.web.slots import slots_body
from kairos_dev.infra import ensure_postgres

PROFILE_EVENTS = 200_000
TOP = 18
OUTPUT = Path(__file__).parent / "results" / "availability_profile.json"


def _profile(title: str, function: Callable[[], Any], repeat: int = 1) -> tuple[str, str]:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        function()
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(TOP)
    return f"{title} (x{repeat})", text.getvalue().strip()


def _query_profiles(database_url: str, world: World) -> list[tuple[str, str]]:
    tz = ZoneInfo(ZONE)
    start, end = day_bounds(world.first_day, world.last_day, tz)

    def respond(entry: Any) -> str:
        slots = entry.slots(world.consultation, start, end, datetime.now(UTC))
        return json.dumps(slots_body(world.consultation, tz, slots), separators=(",", ":"))

    with psycopg.connect(database_url, autocommit=True) as conn:
        entry = load(conn, world.busy_specialist, datetime.now(UTC))
        return [
            _profile(
                "slot query, cached: SpecialistAvailability.slots + body",
                lambda: respond(entry),
                2000,
            ),
            _profile(
                "slot query, cold: readmodel.load + slots + body",
                lambda: respond(load(conn, world.busy_specialist, datetime.now(UTC))),
                300,
            ),
            _profile(
                "slot query, naive",
                lambda: naive_slots(conn, world.consultation, world.first_day, world.last_day),
                300,
            ),
        ]


class _FirstEvents:
    """The log cut at notification id `last`, so a profile of the rebuild stays short."""

    def __init__(self, log: NotificationLog, last: int) -> None:
        self._log = log
        self._last = last

    def top(self) -> int:
        return min(self._log.top(), self._last)

    def pages(
        self, after: int = 0, until: int | None = None, page_size: int = 5000
    ) -> Iterator[list[LoggedEvent]]:
        until = self._last if until is None else min(until, self._last)
        return self._log.pages(after, until, page_size)


def _replay_profile(postgres: Any) -> tuple[str, str]:
    store = postgres.database_url(REPLAY_DATABASE)
    target = postgres.create_database(prefix="kairos_bench_rm")
    try:
        with booking_log(store) as log:
            cut = _FirstEvents(log, PROFILE_EVENTS)
            return _profile(
                f"rebuild of the first {PROFILE_EVENTS:,} events",
                lambda: rebuild(cut, target, consumer=CONSUMER, producer=PRODUCER),  # type: ignore[arg-type]
            )
    finally:
        postgres.drop_database(target.rsplit("/", 1)[-1])


def main() -> None:
    sections: list[tuple[str, str]] = []
    with ensure_postgres() as postgres:
        database_url = postgres.create_database(prefix="kairos_bench")
        try:
            world = _seed_world(database_url)
            replay_availability(
                database_url,
                database_url,
                page_size=5000,
                topics=TopicSettings(),
                out=io.StringIO(),
            )
            sections += _query_profiles(database_url, world)
        finally:
            postgres.drop_database(database_url.rsplit("/", 1)[-1])
        sections.append(_replay_profile(postgres))
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps({"profiles": dict(sections)}, indent=2) + "\n")
    for title, text in sections:
        print(f"===== {title}\n{text}\n")
    print(f"wrote {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
