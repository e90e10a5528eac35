"""`run_consumer` as a service runs it: tests/shared/consumer_example.py as its own process,
with the real broker and PostgreSQL.

It serves /healthz, /readyz and /metrics, applies events through its typed handlers
(a redelivery once), records an effect that its dispatcher performs once after the
commit, reports its lag from the relay's heartbeats, and exits 0 on SIGTERM.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from uuid import uuid4

import httpx
import psycopg
import pytest

from kairos.effects import effect_id
from kairos.messaging import applied_position
from kairos_dev.infra import KafkaHandle
from kairos_dev.testing.services import ServiceProcess, service_env
from tests.shared.effects_fakes import ROOT
from tests.shared.test_messaging_consumer import (
    PARTITION,
    PARTITIONS,
    PRODUCER,
    SPECIALIST,
    beat,
    cleared,
    eventually,
    produce,
    registered,
)

pytestmark = [pytest.mark.integration]


def consumer_process(
    database_url: str, redis_url: str, kafka: KafkaHandle, topic: str
) -> ServiceProcess:
    env = service_env(
        database_url,
        redis_url,
        kafka.bootstrap,
        EXAMPLE_TOPIC=topic,
        KAFKA_PARTITIONS=str(PARTITIONS),
        KAFKA_TOPIC_MANAGEMENT="dev",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    return ServiceProcess.worker("tests.shared.consumer_example", env, port_env="OPS_PORT")


async def test_a_consumer_run_by_run_consumer_applies_performs_its_effects_reports_and_stops(
    kafka: KafkaHandle, fresh_database: Callable[[], str], redis_url: str
) -> None:
    url = fresh_database()
    topic = f"test.{uuid4().hex[:10]}.events.v1"
    ada = registered(1)
    # Ada's registration is redelivered; the override event has no handler here.
    await produce(kafka.bootstrap, topic, ada, ada, cleared(2))
    process = consumer_process(url, redis_url, kafka, topic).start()  # /readyz answered 200
    try:
        assert httpx.get(process.url + "/healthz").json() == {"status": "ok"}
        ready = httpx.get(process.url + "/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"postgres": "ok", "consumer": "ok"}

        welcome = effect_id("example.welcome", str(ada.event_id))

        def welcomed() -> bool:
            with psycopg.connect(url) as conn:
                row = conn.execute(
                    "SELECT status FROM effects WHERE id = %s", (welcome,)
                ).fetchone()
            return row is not None and row[0] == "done"

        await eventually(welcomed, what="the dispatcher performed the welcome")
        with psycopg.connect(url) as conn:
            # Performed once, for the one registration, after the handler's commit (its
            # re-check, in a transaction of its own, saw the specialist's row).
            assert conn.execute(
                "SELECT effect_id, specialist_id, calls FROM example_welcomes"
            ).fetchall() == [(welcome, SPECIALIST, 1)]
            assert conn.execute("SELECT id, timezone FROM example_specialists").fetchall() == [
                (SPECIALIST, "Europe/Paris")
            ]
            assert applied_position(conn, "example", PRODUCER, PARTITION) == 2

        # The relay's heartbeat says the log ends where the consumer is: lag 0 on /metrics.
        await beat(kafka.bootstrap, topic, top=2, published=2, ends={PARTITION: 3})

        def lag_zero() -> bool:
            metrics = httpx.get(process.url + "/metrics").text
            return 'kairos_consumer_lag_events{consumer="example"} 0.0' in metrics

        await eventually(lag_zero, what="the consumer's lag is 0 on /metrics")
        metrics = httpx.get(process.url + "/metrics").text
        assert (
            'kairos_effects_finished_total{dispatcher="example",kind="example.welcome",'
            'outcome="done"} 1.0'
        ) in metrics
        assert 'kairos_consumer_messages_total{consumer="example",outcome="redelivered"} 1.0' in (
            metrics
        )
    finally:
        code = process.stop()  # SIGTERM; SIGKILL (-9) if it did not stop in time
    assert code == 0, "the consumer did not stop cleanly on SIGTERM"
