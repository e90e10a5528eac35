"""`python -m notifications.worker` as k8s runs it: its /readyz covers the database,
the broker (the consumer is current) and the SMTP server, and its /metrics what is
still to send."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from kairos_dev.infra import KafkaHandle
from kairos_dev.testing.services import ServiceProcess, service_env
from tests.notifications.fakes import smtp_sink

pytestmark = [pytest.mark.integration]


def _worker(env: dict[str, str], smtp_port: int) -> ServiceProcess:
    env = {
        **env,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_SECURITY": "none",
        "MAIL_FROM": "Kairos <no-reply@kairos.example>",
        "BOOKING_API_URL": "http://127.0.0.1:9",
        "PUBLIC_URL": "https://kairos.example",
    }
    # Alive is enough to start: the test asks /readyz itself.
    return ServiceProcess.worker("notifications.worker", env, "OPS_PORT", ready_path="/healthz")


def test_the_worker_is_ready_only_while_its_smtp_server_answers(
    kafka: KafkaHandle, fresh_database: Callable[[], str], redis_url: str
) -> None:
    env = service_env(fresh_database(), redis_url, kafka.bootstrap)
    with smtp_sink() as sink, _worker(env, sink.port) as worker:
        ready = httpx.get(f"{worker.url}/readyz", timeout=10)
        for _ in range(100):
            if ready.status_code == 200:
                break
            time.sleep(0.2)  # the consumer catches up with its partitions first
            ready = httpx.get(f"{worker.url}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checks"]) == {"postgres", "consumer", "smtp"}
        metrics = httpx.get(f"{worker.url}/metrics", timeout=10).text
        assert "kairos_notifications_sent_total" in metrics

    with _worker(env, 9) as without_smtp:
        not_ready = httpx.get(f"{without_smtp.url}/readyz", timeout=10)
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["smtp"] != "ok"
