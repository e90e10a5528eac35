"""Booking throughput over HTTP, a popular specialist, and a 200-way storm on one slot.

A real booking service (uvicorn, one worker per core) on a fresh database; 1,000
specialists with round-the-clock schedules; every throughput request asks for a free
slot, so every answer should be 201. The popular specialist gets 300 requests for
300 distinct free slots, 20 in flight: all on a few days' ledgers, so they contend,
and every answer should still be 201 (booking.contention). The load generator runs
in this process, so it competes with the service and PostgreSQL for the same cores:
the figures are a floor, not a ceiling.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from uuid import UUID

import aiohttp
import psutil  # type: ignore[import-untyped]

from booking.application import Bookings
from booking.schemas import ServiceFields
from kairos.eventstore import postgres_env
from kairos_dev.infra import ensure_postgres, ensure_redis
from kairos_dev.testing import ServiceProcess, service_env

SPECIALISTS = 1_000
SEQUENTIAL_REQUESTS = 2_000
CONCURRENT_CLIENTS = 20
CONCURRENT_REQUESTS = 6_000
STORM = 200
POPULAR_REQUESTS = 300
SLOT_MINUTES = 30


def _seed(database_url: str, count: int) -> list[UUID]:
    app = Bookings(env=postgres_env(database_url))
    services = []
    for i in range(count):
        specialist_id = app.register_specialist(f"Bench {i}", f"bench{i}@example.com", "UTC")
        app.set_schedule(specialist_id, None, {day: [[0, 24 * 60]] for day in range(7)})
        session = ServiceFields(name="Session", duration_minutes=SLOT_MINUTES)
        service = app.define_service(specialist_id, session.terms())
        services.append(service.id)
    app.close()
    return services


def _requests(services: list[UUID], first_day: datetime) -> Iterator[dict[str, Any]]:
    """Distinct free slots, round-robin over the specialists."""
    slot = 0
    while True:
        starts = first_day + timedelta(minutes=SLOT_MINUTES * slot)
        for service_id in services:
            yield {
                "service_id": str(service_id),
                "starts_at": starts.isoformat(),
                "client": {
                    "name": "Bench Client",
                    "email": "client@example.com",
                    "timezone": "Europe/Paris",
                },
            }
        slot += 1


def _cpu_seconds(pid: int | None) -> float:
    """CPU time used so far by a process and its children (uvicorn's workers)."""
    if pid is None:
        return 0.0
    root = psutil.Process(pid)
    total = 0.0
    for process in (root, *root.children(recursive=True)):
        times = process.cpu_times()
        total += times.user + times.system
    return total


async def _load(
    base: str, bodies: Iterator[dict[str, Any]], total: int, clients: int
) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    remaining = total

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            body = next(bodies)
            started = time.perf_counter()
            async with http.post(base + "/v1/bookings", json=body) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            statuses[response.status] = statuses.get(response.status, 0) + 1

    async with _session(clients) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "requests": total,
        "clients": clients,
        "seconds": round(elapsed, 3),
        "confirmed_per_second": round(statuses.get(201, 0) / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms": _percentiles(latencies),
    }


async def _storm(base: str, service_id: UUID, starts: datetime) -> dict[str, Any]:
    body = {
        "service_id": str(service_id),
        "starts_at": starts.isoformat(),
        "client": {"name": "Storm", "email": "storm@example.com", "timezone": "UTC"},
    }
    async with _session(STORM) as http:
        # Open the connections first, so the storm measures booking, not TCP set-up.
        await asyncio.gather(*(_get(http, base + "/healthz") for _ in range(STORM)))

        async def one() -> tuple[int, float]:
            started = time.perf_counter()
            async with http.post(base + "/v1/bookings", json=body) as response:
                await response.read()
            return response.status, time.perf_counter() - started

        results = await asyncio.gather(*(one() for _ in range(STORM)))
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "requests": STORM,
        "statuses": statuses,
        "exactly_one_confirmed": statuses.get("201") == 1,
        "latency_ms": _percentiles([latency for _, latency in results]),
    }


def _session(connections: int) -> aiohttp.ClientSession:
    # aiohttp rather than httpx: the load generator shares the machine's two cores with
    # the service, and aiohttp spends a fraction of httpx's CPU per request.
    connector = aiohttp.TCPConnector(limit=connections)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


async def _get(http: aiohttp.ClientSession, url: str) -> None:
    async with http.get(url) as response:
        await response.read()


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {}
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "p50": round(q[49] * 1000, 2),
        "p90": round(q[89] * 1000, 2),
        "p99": round(q[98] * 1000, 2),
        "max": round(ordered[-1] * 1000, 2),
    }


def run() -> dict[str, Any]:
    workers = len(os.sched_getaffinity(0))
    with ensure_postgres() as postgres, ensure_redis(db=2) as redis:
        database_url = postgres.create_database(prefix="kairos_bench")
        try:
            seed_started = time.perf_counter()
            services = _seed(database_url, SPECIALISTS + 2)
            storm_service, popular_service, services = services[0], services[1], services[2:]
            seed_seconds = time.perf_counter() - seed_started
            tomorrow = datetime.combine(
                datetime.now(UTC).date() + timedelta(days=1), clock_time(), tzinfo=UTC
            )
            bodies = _requests(services, tomorrow)
            env = service_env(database_url, redis.url)
            with ServiceProcess.api("booking.main:app", env, workers=workers) as service:
                base = service.url
                cpu_before = _cpu_seconds(service.pid)
                sequential = asyncio.run(_load(base, bodies, SEQUENTIAL_REQUESTS, 1))
                cpu_between = _cpu_seconds(service.pid)
                concurrent = asyncio.run(
                    _load(base, bodies, CONCURRENT_REQUESTS, CONCURRENT_CLIENTS)
                )
                cpu_after = _cpu_seconds(service.pid)
                sequential["service_cpu_ms_per_request"] = round(
                    (cpu_between - cpu_before) * 1000 / SEQUENTIAL_REQUESTS, 2
                )
                concurrent["service_cpu_ms_per_request"] = round(
                    (cpu_after - cpu_between) * 1000 / CONCURRENT_REQUESTS, 2
                )
                popular = asyncio.run(
                    _load(
                        base,
                        _requests([popular_service], tomorrow),
                        POPULAR_REQUESTS,
                        CONCURRENT_CLIENTS,
                    )
                )
                popular["all_confirmed"] = popular["statuses"] == {"201": POPULAR_REQUESTS}
                storm = asyncio.run(_storm(base, storm_service, tomorrow + timedelta(hours=9)))
        finally:
            postgres.drop_database(database_url.rsplit("/", 1)[-1])
    return {
        "description": __doc__.strip().splitlines()[0],
        "service_workers": workers,
        "specialists": SPECIALISTS,
        "seed_seconds": round(seed_seconds, 1),
        "throughput_sequential": sequential,
        "throughput_concurrent": concurrent,
        "popular_specialist": popular,
        "same_slot_storm": storm,
        "targets": {"confirmed_per_second": 1000, "storm_p99_ms": 500},
    }
