"""`kairos replay availability`: rebuild the read model from the booking event store (the
source of truth), never from Kafka, which may have lost data (availability/rebuild.py).

The booking store is looked up by its topic (kairos.event_sources), not imported: the
booking package must be installed beside this one (the availability image is built
with EXTRA_SERVICES=booking), and without it the command says so.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from tqdm import tqdm

from availability.projector import CONSUMER, PRODUCER
from availability.rebuild import RebuildRunning, rebuild
from kairos.commands import Command, setting, topic_settings
from kairos.event_sources import EventSourceMissing, event_source
from kairos.events import BOOKING_TOPIC
from kairos.settings import DATABASE_URL_ENV, TopicSettings

#: Where the booking event store is, when not in the read model's database.
BOOKING_DATABASE_ENV = "BOOKING_DATABASE_URL"


def replay_availability(
    database_url: str,
    booking_database_url: str,
    *,
    page_size: int,
    topics: TopicSettings,
    out: TextIO,
) -> int:
    """Rebuild the availability read model from the booking event store; print the rate."""
    try:
        booking_log = event_source(BOOKING_TOPIC)
    except EventSourceMissing as exc:
        print(f"kairos replay: {exc}", file=out)
        return 2
    # Availability reads no booking snapshot: computing them would halve the rate.
    with booking_log(booking_database_url, snapshots=False) as log:
        top = log.top()
        with tqdm(total=top, unit="id", unit_scale=True, desc="replaying", file=out) as bar:

            def progress(done: int, _top: int) -> None:
                bar.update(max(0, min(done, top) - bar.n))

            try:
                report = rebuild(
                    log,
                    database_url,
                    consumer=CONSUMER,
                    producer=PRODUCER,
                    progress=progress,
                    page_size=page_size,
                    partitions=topics.kafka_partitions,
                )
            except RebuildRunning as exc:
                print(f"kairos replay: {exc}", file=out)
                return 1
    print(
        f"rebuilt availability from {report.events:,} events (up to notification"
        f" {report.top:,}) in {report.seconds:.1f} s: {report.events_per_second:,.0f} events/s;"
        " swapped in",
        file=out,
    )
    return 0


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", help="the read model's database (default: $DATABASE_URL)")
    parser.add_argument(
        "--booking-database",
        help=f"the booking event store (default: ${BOOKING_DATABASE_ENV}, else the read model's)",
    )
    parser.add_argument("--page-size", type=int, default=5000, help="events read per query")


def _run(args: argparse.Namespace) -> int:
    database = args.database or setting(DATABASE_URL_ENV)
    source = args.booking_database or setting(BOOKING_DATABASE_ENV) or database
    if not database or not source:
        print("kairos replay: set DATABASE_URL (or start `kairos dev`)", file=sys.stderr)
        return 2
    return replay_availability(
        database, source, page_size=args.page_size, topics=topic_settings(), out=sys.stderr
    )


REPLAY_COMMAND = Command(
    "rebuild the availability read model and swap it in while the service runs", _run, _arguments
)
