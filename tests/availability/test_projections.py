"""Projections as the pure functions they are: one integration event in, row changes out."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

import pytest

from availability.projections import BOOKING_SOURCE, project
from availability.tables import BUSY, Patch
from kairos.events import booking as contract

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Origin:
    notification_id: int
    specialist_id: UUID


def test_a_started_booking_is_in_progress_and_keeps_its_time_busy() -> None:
    booking_id = uuid4()

    changes = project(Origin(42, uuid4()), contract.BookingStarted(booking_id=booking_id))

    assert changes == [
        Patch(BUSY, (BOOKING_SOURCE, booking_id), {"status": "in_progress", "active": True}, 42)
    ]
