"""`kairos tail TOPIC`: print a topic's messages from the earliest offset, as they arrive."""

from __future__ import annotations

import asyncio
import json
from typing import TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition


def render(key: bytes | None, value: bytes | None) -> str:
    """`key value` with the value as compact JSON when it parses, else as text."""
    shown_key = key.decode("utf-8", "replace") if key is not None else "-"
    if value is None:
        return f"{shown_key} null"
    try:
        shown_value = json.dumps(json.loads(value), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        shown_value = value.decode("utf-8", "replace")
    return f"{shown_key} {shown_value}"


async def tail(bootstrap: str, topic: str, *, out: TextIO, max_messages: int | None = None) -> None:
    """Print every message of `topic` from its beginning, without a consumer group.

    Waits for the topic to exist. Partitions are assigned by hand and read from the
    beginning; nothing relies on seek_to_end (the tansu broker does not need it).
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="kairos-tail",
    )
    try:
        await consumer.start()
        waiting_said = False
        while topic not in await consumer.topics():
            if not waiting_said:
                out.write(f"waiting for topic {topic} on {bootstrap}…\n")
                out.flush()
                waiting_said = True
            await asyncio.sleep(1)
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen = 0
        async for message in consumer:
            out.write(
                f"{message.partition}:{message.offset} {render(message.key, message.value)}\n"
            )
            out.flush()
            seen += 1
            if max_messages is not None and seen >= max_messages:
                return
    finally:
        await consumer.stop()
