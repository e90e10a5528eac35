"""Idempotency-Key across processes: two booking services on one database and one Redis
answer a repeated request with the same booking, whichever process gets it and when."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from kairos_dev.testing import ServiceProcess
from tests.booking.helpers import ALL_DAY_EVERY_DAY, Catalog, booking_body, expect
from tests.booking.service_process import booking_process
from tests.booking.stored import stored_bookings

pytestmark = pytest.mark.integration


def _without_position(body: dict[str, Any]) -> dict[str, Any]:
    """The 201 body but its read-your-writes hint, which a replay answers as null
    (see test_the_replayed_201_body_is_byte_for_byte_the_first_one)."""
    return {k: v for k, v in body.items() if k != "notification_id"}


class Pair:
    """Two booking processes sharing one database and one Redis, with a bookable service."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.database_url = database_url
        self.first = booking_process(database_url, redis_url)
        self.second = booking_process(database_url, redis_url)
        self._next_start = datetime.now(UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        ) + timedelta(days=3)
        self.service_id = ""

    def __enter__(self) -> Pair:
        self.first.start()
        self.second.start()
        with httpx.Client(base_url=self.first.url, timeout=30) as http:
            catalog = Catalog(http)
            specialist = catalog.specialist(weekly=ALL_DAY_EVERY_DAY)
            self.service_id = catalog.service(specialist["id"], duration_minutes=30)["id"]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.first.stop()
        self.second.stop()

    def new_body(self) -> dict[str, Any]:
        """A request for a start nobody asked for yet."""
        start, self._next_start = self._next_start, self._next_start + timedelta(minutes=30)
        return booking_body(self.service_id, start)

    def post(self, process: ServiceProcess, key: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            process.url + "/v1/bookings", json=body, headers={"Idempotency-Key": key}, timeout=30
        )

    def post_all_at_once(
        self, requests: list[tuple[ServiceProcess, str, dict[str, Any]]]
    ) -> list[httpx.Response]:
        async def send() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=30) as http:
                return list(
                    await asyncio.gather(
                        *(
                            http.post(
                                process.url + "/v1/bookings",
                                json=body,
                                headers={"Idempotency-Key": key},
                            )
                            for process, key, body in requests
                        )
                    )
                )

        return asyncio.run(send())

    def stored_at(self, body: dict[str, Any]) -> list[UUID]:
        """Ids of the stored bookings that start where `body` asked."""
        starts_at = datetime.fromisoformat(body["starts_at"].replace("Z", "+00:00"))
        return [
            b.id for b in stored_bookings(self.database_url).values() if b.starts_at == starts_at
        ]


@pytest.fixture(scope="module")
def pair(module_databases: Callable[[], str], redis_url: str) -> Iterator[Pair]:
    """Shared by the module: each test uses its own keys and its own start times."""
    with Pair(module_databases(), redis_url) as processes:
        yield processes


def test_one_key_sent_to_both_processes_at_once_never_makes_a_second_booking(
    pair: Pair,
) -> None:
    for _ in range(5):
        key, body = f"both-{uuid4()}", pair.new_body()

        responses = pair.post_all_at_once([(pair.first, key, body), (pair.second, key, body)])

        assert all(r.status_code < 500 for r in responses), [r.text for r in responses]
        created = [r.json() for r in responses if r.status_code == 201]
        assert created, [r.text for r in responses]
        assert {b["id"] for b in created} == {str(i) for i in pair.stored_at(body)}
        assert len(pair.stored_at(body)) == 1
        assert len({repr(_without_position(b)) for b in created}) == 1


def test_one_key_sent_to_both_processes_at_once_answers_201_to_every_request(
    pair: Pair,
) -> None:
    outcomes: Counter[int] = Counter()
    retried: Counter[int] = Counter()
    for _ in range(5):
        key, body = f"storm-{uuid4()}", pair.new_body()
        requests = [(pair.first if n % 2 else pair.second, key, body) for n in range(20)]

        responses = pair.post_all_at_once(requests)
        retry = pair.post(pair.second, key, body)

        outcomes.update(r.status_code for r in responses)
        retried[retry.status_code] += 1
    assert (dict(outcomes), dict(retried)) == ({201: 100}, {201: 5})


def test_one_key_sent_again_to_the_other_process_after_the_answer_gets_the_same_booking(
    pair: Pair,
) -> None:
    key, body = f"later-{uuid4()}", pair.new_body()

    first = expect(pair.post(pair.first, key, body), 201)
    again = expect(pair.post(pair.second, key, body), 201)
    once_more = expect(pair.post(pair.first, key, body), 201)

    assert again["id"] == once_more["id"] == first["id"]
    assert _without_position(again) == _without_position(once_more) == _without_position(first)
    assert pair.stored_at(body) == [UUID(first["id"])]


def test_one_key_sent_again_after_a_restart_gets_the_same_booking(pair: Pair) -> None:
    key, body = f"restart-{uuid4()}", pair.new_body()
    first = expect(pair.post(pair.first, key, body), 201)

    pair.first.stop()
    pair.first.start()
    pair.second.stop()
    try:
        again = expect(pair.post(pair.first, key, body), 201)
    finally:
        pair.second.start()

    assert _without_position(again) == _without_position(first)
    assert pair.stored_at(body) == [UUID(first["id"])]


def test_one_key_with_another_body_is_refused_by_the_other_process(pair: Pair) -> None:
    key, body = f"reused-{uuid4()}", pair.new_body()
    expect(pair.post(pair.first, key, body), 201)
    other = {**body, "notes": "something else"}

    refused = pair.post(pair.second, key, other)

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "idempotency_key_reused"
    assert len(pair.stored_at(body)) == 1


def test_the_replayed_201_body_is_byte_for_byte_the_first_one(pair: Pair) -> None:
    key, body = f"exact-{uuid4()}", pair.new_body()

    first = pair.post(pair.first, key, body)
    again = pair.post(pair.second, key, body)

    assert (again.status_code, again.json()) == (first.status_code, first.json())
