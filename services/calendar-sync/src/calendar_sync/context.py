"""What every request handler of calendar-sync reads: the context main.py builds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from calendar_sync.wiring import CalendarSync
from kairos.auth import Authenticator
from kairos.booking_client import BookingClient


@dataclass
class CalendarContext:
    service: CalendarSync
    auth: Authenticator
    booking: BookingClient
    clock: Callable[[], datetime]


def _context(request: Request) -> CalendarContext:
    ctx: CalendarContext = request.app.state.calendar_sync
    return ctx


Ctx = Annotated[CalendarContext, Depends(_context)]
