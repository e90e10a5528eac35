"""What every request handler of the booking service reads: the context main.py builds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from booking.application import Bookings
from booking.directory import Directory
from booking.erasure import Erasures
from booking.history import HistoryIndex
from booking.idempotency import IdempotencyKeys
from booking.manage_tokens import ManageTokens
from booking.sign_in import SignIns
from booking.team_directory import TeamDirectory
from kairos.auth import Authenticator
from kairos.privacy import PersonalData


@dataclass
class BookingContext:
    """Everything a request handler needs, built once in main.py."""

    app: Bookings
    auth: Authenticator
    index: HistoryIndex
    directory: Directory
    team_directory: TeamDirectory
    idempotency: IdempotencyKeys
    personal: PersonalData
    erasures: Erasures
    tokens: ManageTokens
    sign_ins: SignIns
    clock: Any


async def _context(request: Request) -> BookingContext:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a second thread
    # hand-off per request beside the route's own (#14).
    ctx: BookingContext = request.app.state.booking
    return ctx


Ctx = Annotated[BookingContext, Depends(_context)]
