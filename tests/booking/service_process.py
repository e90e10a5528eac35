"""A booking service in a uvicorn process of its own, for tests that need real HTTP and processes.

    with booking_process(database_url, redis_url) as service:
        httpx.get(service.url + "/readyz")

It is kairos_dev.testing.ServiceProcess running `booking.main:app` with the test credentials of
tests/booking/helpers.py, so `Catalog(httpx.Client(base_url=service.url))` drives it.
`service.stop(); service.start()` restarts it on the same port, database and Redis.
"""

from __future__ import annotations

from kairos_dev.testing import ServiceProcess, service_env


def booking_process(database_url: str, redis_url: str, **env: str) -> ServiceProcess:
    """A booking service process (not started yet) on `database_url` and `redis_url`."""
    return ServiceProcess.api("booking.main:app", service_env(database_url, redis_url, **env))
