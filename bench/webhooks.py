"""Webhooks: delivery latency and throughput into the dev receiver.

Everything real: PostgreSQL, a Kafka broker of its own, the webhooks API and consumer as
processes (uvicorn; `python -m webhooks.consumer`, 8 deliveries in flight), and the dev
receiver (`python -m kairos_dev.fakes.webhook_sink`) as a process, subscribed to every
event through the API. Booking events are produced on booking.events.v1 as booking's
relay would, their personal values sealed in the key store.

- `latency`: one event at a time, every 50 ms; per event, from its production on the
  topic to its arrival at the receiver (the receiver's clock: same machine). That is:
  consumed, delivery recorded with its effect, claimed by the dispatcher (woken by the
  consumer's commit through LISTEN/NOTIFY; its 0.5 s idle poll is only the fallback),
  revealed, signed, POSTed.
- `throughput`: 2,000 events produced at once, one per booking, and 2,000 more as 200
  bookings of 10 events (each booking's go out in order, one after the other); from
  the first produced to the last received. The baseline, in the same run: the same
  number of POSTs of the same bodies straight into the receiver by 8 threads.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
from psycopg_pool import ConnectionPool

from bench.booking import _percentiles
from kairos.events import BOOKING_TOPIC, Envelope
from kairos.events import booking as contract
from kairos.messaging import ensure_topics, make_producer
from kairos.privacy import KeyStore, PersonalData
from kairos_dev.infra import ensure_kafka, ensure_postgres, ensure_redis
from kairos_dev.infra.postgres import database_name
from kairos_dev.infra.process import free_port
from kairos_dev.testing import ServiceProcess, service_env
from kairos_dev.testing.booking_events import BookingEvents
from kairos_dev.testing.services import TEST_SECRETS

LATENCY_SAMPLES = 200
SINGLE_EVENTS = 2_000
BOOKINGS, EVENTS_PER_BOOKING = 200, 10
CONCURRENCY = 8
SPECIALIST, SERVICE = uuid4(), uuid4()
ADMIN = {"Authorization": f"Bearer {TEST_SECRETS['ADMIN_API_KEY']}"}


def contact(personal: PersonalData) -> contract.PersonalContact:
    """A client's name and address, sealed in the key store as booking seals them."""
    sealer = personal.sealer("bench-client@example.com")
    return contract.PersonalContact(
        name=sealer.seal("Ada Lovelace"), email=sealer.seal("bench-client@example.com")
    )


def confirmations(client: contract.PersonalContact, bookings: int, each: int = 1) -> list[Envelope]:
    """`each` BookingConfirmed of each of `bookings` bookings, round-robin."""
    made = [BookingEvents(client, SPECIALIST, SERVICE) for _ in range(bookings)]
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    return [booking.confirmed(starts) for _ in range(each) for booking in made]


class Sink:
    """The dev receiver as a process."""

    def __init__(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        argv = ["kairos_dev.fakes.webhook_sink", "--port", str(port)]
        self._process = ServiceProcess("webhook-sink", argv, os.environ, port, "/healthz")

    def __enter__(self) -> Sink:
        self._process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._process.stop()

    def received(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/dev/webhooks/messages", timeout=30)
        messages: list[dict[str, Any]] = answer.json()["messages"]
        return messages

    def clear(self) -> None:
        httpx.delete(f"{self.url}/dev/webhooks/messages", timeout=30)

    def wait_for(self, count: int, timeout: float = 600) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(got := self.received()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the receiver got {len(got)} of {count}")
            time.sleep(0.2)
        return got


def _arrival(message: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(message["received_at"])


async def _produce(bootstrap: str, envelopes: list[Envelope], gap: float = 0.0) -> None:
    producer = make_producer(bootstrap, client_id="bench-webhooks")
    await producer.start()
    try:
        for envelope in envelopes:
            if gap:
                envelope = envelope.model_copy(update={"occurred_at": datetime.now(UTC)})
            value = envelope.model_dump_json().encode()
            await producer.send_and_wait(BOOKING_TOPIC, value, key=str(SPECIALIST).encode())
            if gap:
                await asyncio.sleep(gap)
    finally:
        await producer.stop()


def _latency(bootstrap: str, sink: Sink, client: contract.PersonalContact) -> dict[str, Any]:
    sink.clear()
    asyncio.run(_produce(bootstrap, confirmations(client, LATENCY_SAMPLES), 0.05))
    got = sink.wait_for(LATENCY_SAMPLES)
    seconds = [
        (_arrival(m) - datetime.fromisoformat(json.loads(m["body"])["occurred_at"])).total_seconds()
        for m in got
    ]
    return {"samples": LATENCY_SAMPLES, "produced_every_ms": 50, "ms": _percentiles(seconds)}


def _throughput(bootstrap: str, sink: Sink, envelopes: list[Envelope]) -> dict[str, Any]:
    sink.clear()
    started = datetime.now(UTC)
    asyncio.run(_produce(bootstrap, envelopes))
    got = sink.wait_for(len(envelopes))
    seconds = (max(_arrival(m) for m in got) - started).total_seconds()
    ids = [m["delivery"] for m in got]
    return {
        "events": len(envelopes),
        "seconds": round(seconds, 2),
        "deliveries_per_second": round(len(envelopes) / seconds, 1),
        "none_twice": len(set(ids)) == len(ids),
    }


def _baseline(sink: Sink, bodies: list[bytes]) -> dict[str, Any]:
    """The receiver's own pace: the same POSTs straight into it, 8 at a time."""
    sink.clear()
    url = f"{sink.url}/dev/webhooks/in"
    with httpx.Client(limits=httpx.Limits(max_connections=CONCURRENCY)) as http:
        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(lambda body: http.post(url, content=body), bodies))
        seconds = time.perf_counter() - started
    sink.wait_for(len(bodies))
    per_second = round(len(bodies) / seconds, 1)
    return {"posts": len(bodies), "seconds": round(seconds, 2), "posts_per_second": per_second}


def run() -> dict[str, Any]:
    with (
        ensure_postgres() as postgres,
        ensure_redis(db=2) as redis,
        ensure_kafka(prefer_own_process=True) as kafka,
        Sink() as sink,
    ):
        database_url = postgres.create_database(prefix="kairos_bench_webhooks")
        env = service_env(
            database_url,
            redis.url,
            kafka.bootstrap,
            WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
            WEBHOOK_REQUIRE_HTTPS="false",
            WEBHOOK_CONCURRENCY=str(CONCURRENCY),
            DB_POOL_SIZE="4",
        )
        asyncio.run(ensure_topics(kafka.bootstrap, [BOOKING_TOPIC]))
        pool = ConnectionPool(database_url, min_size=1, max_size=2, open=True)
        keys = KeyStore(pool, TEST_SECRETS["PRIVACY_MASTER_KEY"], TEST_SECRETS["PRIVACY_INDEX_KEY"])
        keys.create_tables()
        client = contact(PersonalData(keys))
        try:
            with (
                ServiceProcess.api("webhooks.main:app", env) as api,
                ServiceProcess.worker("webhooks.consumer", env, port_env="CONSUMER_OPS_PORT"),
            ):
                subscribed = httpx.post(
                    f"{api.url}/v1/webhooks/subscriptions",
                    json={"url": f"{sink.url}/dev/webhooks/in", "events": ["*"]},
                    headers=ADMIN,
                )
                subscribed.raise_for_status()
                # Made in the order they are produced: the consumer takes each position
                # of booking's log once, and skips one older than it has seen.
                latency = _latency(kafka.bootstrap, sink, client)
                single = confirmations(client, SINGLE_EVENTS)
                one_each = _throughput(kafka.bootstrap, sink, single)
                ordered = confirmations(client, BOOKINGS, EVENTS_PER_BOOKING)
                ten_each = _throughput(kafka.bootstrap, sink, ordered)
                baseline = _baseline(sink, [e.model_dump_json().encode() for e in single])
                return {
                    "latency": latency,
                    "throughput_one_event_per_booking": one_each,
                    "throughput_ten_events_per_booking": ten_each,
                    "baseline_direct_posts": baseline,
                    "ratio_to_baseline": round(
                        one_each["deliveries_per_second"] / baseline["posts_per_second"], 3
                    ),
                }
        finally:
            pool.close()
            postgres.drop_database(database_name(database_url))
