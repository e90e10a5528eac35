"""`kairos republish booking`: send a range of the booking event store to Kafka again, for
downstream consumers. It reads the store (the source of truth), never Kafka, which may
have lost data."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TextIO

from booking.integration import booking_log
from kairos.commands import Command, setting, topic_settings
from kairos.events import BOOKING_TOPIC
from kairos.messaging.kafka import TopicMismatch, close_quietly, ensure_topics, make_producer
from kairos.messaging.notification_log import republish
from kairos.settings import DATABASE_URL_ENV, KAFKA_BOOTSTRAP_ENV, TopicSettings

#: Where the booking event store is, when the shell's DATABASE_URL is another service's.
BOOKING_DATABASE_ENV = "BOOKING_DATABASE_URL"


def republish_booking(
    booking_database_url: str,
    bootstrap: str,
    topic: str,
    after: int,
    until: int | None,
    *,
    topics: TopicSettings,
    out: TextIO,
) -> int:
    async def send() -> int:
        # A downstream consumer may want the range on a topic of its own (created only
        # on the dev broker; the platform's topics are only checked).
        try:
            await ensure_topics(
                bootstrap,
                [topic],
                partitions=topics.kafka_partitions,
                management=topics.kafka_topic_management,
                missing_ok=False,
            )
        except TopicMismatch as exc:
            raise SystemExit(f"republish: {exc}") from exc
        producer = make_producer(bootstrap, client_id="kairos-republish")
        await producer.start()
        try:
            return await republish(log, producer, topic, after, last, topics.kafka_partitions)
        finally:
            await close_quietly(producer.stop())

    started = time.perf_counter()
    with booking_log(booking_database_url) as log:
        last = until if until is not None else log.top()
        sent = asyncio.run(send())
    print(
        f"republished {sent:,} events ({after:,} < notification id <= {last:,}) to {topic}"
        f" in {time.perf_counter() - started:.1f} s",
        file=out,
    )
    return 0


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--after", type=int, default=0, help="notification id to start after")
    parser.add_argument("--until", type=int, help="last notification id (default: the newest)")
    parser.add_argument("--topic", default=BOOKING_TOPIC)
    parser.add_argument(
        "--booking-database", help=f"default: ${BOOKING_DATABASE_ENV}, ${DATABASE_URL_ENV}"
    )
    parser.add_argument("--bootstrap", help=f"default: ${KAFKA_BOOTSTRAP_ENV}")


def _run(args: argparse.Namespace) -> int:
    source = args.booking_database or setting(BOOKING_DATABASE_ENV) or setting(DATABASE_URL_ENV)
    bootstrap = args.bootstrap or setting(KAFKA_BOOTSTRAP_ENV)
    if not source or not bootstrap:
        needed = f"{DATABASE_URL_ENV} and {KAFKA_BOOTSTRAP_ENV}"
        print(f"kairos republish: set {needed} (or start `kairos dev`)", file=sys.stderr)
        return 2
    return republish_booking(
        source,
        bootstrap,
        args.topic,
        args.after,
        args.until,
        topics=topic_settings(),
        out=sys.stderr,
    )


REPUBLISH_COMMAND = Command(
    "send a range of the booking event store to Kafka again", _run, _arguments
)
