"""Ops commands behind `kairos replay` and `kairos republish`: they read a service's
event store (the source of truth), never Kafka, which may have lost data.

They wire the services' own pieces together, so they need the services' packages
installed (they are, in the dev virtualenv and in the service images).
"""

from __future__ import annotations

import asyncio
import time
from typing import TextIO

from tqdm import tqdm

from kairos.messaging.kafka import TopicMismatch, close_quietly, ensure_topics, make_producer
from kairos.settings import TopicSettings


def replay_availability(
    database_url: str,
    booking_database_url: str,
    *,
    page_size: int,
    topics: TopicSettings,
    out: TextIO,
) -> int:
    """Rebuild the availability read model from the booking event store; print the rate."""
    from availability.projector import CONSUMER, PRODUCER
    from availability.rebuild import RebuildRunning, rebuild
    from booking.integration import booking_log

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
    from booking.integration import booking_log
    from kairos.messaging.notification_log import republish

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
