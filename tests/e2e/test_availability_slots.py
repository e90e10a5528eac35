"""Slots end to end through Kafka: real processes, real PostgreSQL, Redis and a tansu broker.

HTTP → booking API → event store → relay → booking.events.v1 → availability projector
→ read model (+ NOTIFY) → availability API's cache → GET /v1/slots.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kairos_dev.infra import KafkaHandle
from kairos_dev.testing.services import TEST_SECRETS, ServiceProcess, service_env

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ADMIN = {"Authorization": f"Bearer {TEST_SECRETS['ADMIN_API_KEY']}"}
ROUND_THE_CLOCK = [{"day": d, "start": "00:00", "end": "24:00"} for d in range(7)]


@dataclass
class Stack:
    booking: httpx.Client
    slots: httpx.Client
    projector: ServiceProcess


@pytest.fixture
def stack(
    own_kafka: KafkaHandle, fresh_database: Callable[[], str], redis_url: str
) -> Iterator[Stack]:
    env = service_env(fresh_database(), redis_url, own_kafka.bootstrap)
    processes = [
        ServiceProcess.api("booking.main:app", env),
        ServiceProcess.worker("booking.relay", env, port_env="RELAY_OPS_PORT"),
        ServiceProcess.worker("availability.projector", env, port_env="PROJECTOR_OPS_PORT"),
        ServiceProcess.api("availability.main:app", env),
    ]
    started: list[ServiceProcess] = []
    try:
        for process in processes:
            started.append(process.start())
        booking, _, projector, availability = processes
        with (
            httpx.Client(base_url=booking.url, timeout=10) as booking_http,
            httpx.Client(base_url=availability.url, timeout=10) as slots_http,
        ):
            yield Stack(booking_http, slots_http, projector)
    finally:
        for process in reversed(started):
            process.stop()


def created(response: httpx.Response, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def offered(stack: Stack, service_id: str, day: str, **params: Any) -> list[str]:
    response = stack.slots.get(
        "/v1/slots",
        params={"service_id": service_id, "from": day, "to": day, "timezone": "UTC", **params},
    )
    return [slot["start"] for slot in created(response, 200)["slots"]]


def eventually(check: Callable[[], bool], what: str, timeout: float = 20.0) -> float:
    """Seconds until `check()` holds; fails after `timeout`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"timed out waiting until {what}"
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_booked_slot_disappears_from_the_slots_and_comes_back_when_cancelled(
    stack: Stack,
) -> None:
    # A specialist working round the clock, in UTC, with an hour-long service.
    specialist = created(
        stack.booking.post(
            "/v1/specialists",
            json={"name": "Dr. Lin", "email": "lin@example.org", "timezone": "UTC"},
            headers=ADMIN,
        )
    )
    created(
        stack.booking.put(
            f"/v1/specialists/{specialist['id']}/schedule",
            json={"weekly": ROUND_THE_CLOCK},
            headers=ADMIN,
        ),
        200,
    )
    service = created(
        stack.booking.post(
            "/v1/services",
            json={"specialist_id": specialist["id"], "name": "Consult", "duration_minutes": 60},
            headers=ADMIN,
        )
    )
    day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    wanted = f"{day}T10:00:00Z"

    # The catalog reaches the read model through the topic: until then the service is
    # unknown there (422); then the day fills with hourly slots.
    def whole_day_offered() -> bool:
        response = stack.slots.get(
            "/v1/slots",
            params={"service_id": service["id"], "from": day, "to": day, "timezone": "UTC"},
        )
        if response.status_code == 422:
            assert response.json()["error"]["code"] == "unknown_service"
            return False
        return len(created(response, 200)["slots"]) == 24

    eventually(whole_day_offered, "the day is offered")
    assert wanted in offered(stack, service["id"], day)

    # Book it. With the response's notification id as min_position, the very next query
    # already leaves the slot out.
    booking = created(
        stack.booking.post(
            "/v1/bookings",
            json={
                "service_id": service["id"],
                "starts_at": wanted,
                "client": {"name": "Kim", "email": "kim@example.org", "timezone": "UTC"},
            },
        )
    )
    assert booking["notification_id"] >= 1
    after = offered(stack, service["id"], day, min_position=booking["notification_id"])
    assert wanted not in after
    assert len(after) == 23

    # Cancel it: with the cancellation's notification id, the slot is offered again at once.
    cancelled = created(
        stack.booking.post(
            f"/v1/bookings/{booking['id']}/cancel",
            json={"reason": "changed plans"},
            headers={"Authorization": f"Bearer {booking['manage_token']}"},
        ),
        200,
    )
    assert cancelled["status"] == "cancelled"
    assert cancelled["notification_id"] > booking["notification_id"]
    back = offered(stack, service["id"], day, min_position=cancelled["notification_id"])
    assert wanted in back
    assert len(back) == 24

    # The projector reports itself caught up, with its lag on /metrics.
    projector_ops = httpx.get(stack.projector.url + "/readyz", timeout=5)
    assert projector_ops.status_code == 200, projector_ops.text

    def lag_zero() -> bool:
        metrics = httpx.get(stack.projector.url + "/metrics", timeout=5).text
        return 'kairos_consumer_lag_events{consumer="availability"} 0.0' in metrics

    eventually(lag_zero, "the projector's lag, from the relay's heartbeats, is 0")
    metrics = httpx.get(stack.projector.url + "/metrics", timeout=5).text
    assert 'kairos_consumer_lag_seconds{consumer="availability"}' in metrics
