"""`kairos tail TOPIC`: print a topic's messages from the earliest offset, as they arrive."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from kairos.commands import Command, setting
from kairos.settings import KAFKA_BOOTSTRAP_ENV


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


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic")
    parser.add_argument(
        "--bootstrap", help=f"default: ${KAFKA_BOOTSTRAP_ENV}, the running kairos dev, :9092"
    )
    parser.add_argument("--max-messages", type=int, help="exit after this many messages")


def _run(args: argparse.Namespace) -> int:
    bootstrap = args.bootstrap or setting(KAFKA_BOOTSTRAP_ENV) or "127.0.0.1:9092"
    try:
        asyncio.run(tail(bootstrap, args.topic, out=sys.stdout, max_messages=args.max_messages))
    except KeyboardInterrupt:
        pass
    except KafkaConnectionError:
        print(f"kairos tail: no Kafka broker answers at {bootstrap}", file=sys.stderr)
        return 1
    return 0


TAIL_COMMAND = Command("print a topic's messages from the beginning", _run, _arguments)
