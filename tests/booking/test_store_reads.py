"""The booking service's one-statement reads of the event store, on real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from booking.application import Bookings
from kairos.eventstore import postgres_env
from kairos.ordered_recorder import OrderedInsertRecorder
from tests.booking.helpers import service_terms

pytestmark = pytest.mark.integration

ALL_DAY = {day: [[0, 24 * 60]] for day in range(7)}
CLIENT = {"name": "Ada Lovelace", "email": "ada@example.org", "timezone": "UTC"}
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_booking_read_is_planned_once_not_on_every_request(
    fresh_database: Callable[[], str],
) -> None:
    # One connection, so the prepared statements seen below are the ones the bookings used.
    env = postgres_env(fresh_database(), POSTGRES_POOL_SIZE="1", POSTGRES_MAX_OVERFLOW="0")
    app = Bookings(env=env)
    try:
        specialist = app.register_specialist("Dr. Grey", "grey@example.org", "UTC")
        app.set_schedule(specialist, None, ALL_DAY)
        service = app.define_service(specialist, service_terms(duration_minutes=30))
        first = datetime(2026, 3, 2, 9, tzinfo=UTC)
        for i in range(8):
            app.request_booking(service.id, first + timedelta(hours=i), CLIENT, {}, None, now=NOW)
        recorder = app.recorder
        assert isinstance(recorder, OrderedInsertRecorder)
        with recorder.connection() as conn:
            plans = conn.execute(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE %s",
                ("%CROSS JOIN LATERAL%",),
            ).fetchall()
    finally:
        app.close()
    # Every request read its ledgers with the same prepared statement; a custom plan
    # (PostgreSQL's choice for it by default) would have planned it for each of them.
    assert len(plans) == 1
    assert plans[0]["custom_plans"] == 0
    assert plans[0]["generic_plans"] >= 8
