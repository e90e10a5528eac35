"""Who may call the notifications API, as FastAPI dependencies (the routes of
notifications.api name the caller they need by a parameter's type).

Every credential is checked by kairos.auth; a manage token must also be of its
booking's current generation, which the booking service tells
(kairos.booking_client): a token replaced there opens nothing here either. Refusals
are 401 without a proven identity and 403 with one that may not do this, as in
booking.access.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from psycopg_pool import ConnectionPool

from kairos.auth import Authenticator, Caller
from kairos.booking_client import BookingClient, request_generations
from kairos.privacy import PersonalData
from kairos.web import ApiError
from kairos.web.security import MANAGE_TOKEN, SPECIALIST_JWT, AnyCredential, bearer, refused
from notifications.links import BookingLinks
from notifications.tables import BookingRow, booking_row


@dataclass
class NotificationsContext:
    """Everything a request handler needs, built once in main.py."""

    pool: ConnectionPool[Any]
    auth: Authenticator
    booking: BookingClient
    links: BookingLinks
    personal: PersonalData
    vapid_public_key: str | None  # None: web push is not configured
    twilio_auth_token: str | None  # None: SMS is not configured
    twilio_status_callback_url: str | None


def _context(request: Request) -> NotificationsContext:
    ctx: NotificationsContext = request.app.state.notifications
    return ctx


Ctx = Annotated[NotificationsContext, Depends(_context)]

#: A browser's subscriber: the client (their booking's manage token) or a specialist.
SubscriberCredential = Annotated[str | None, bearer(SPECIALIST_JWT, MANAGE_TOKEN)]


def caller_of(ctx: NotificationsContext, authorization: str | None) -> Caller | None:
    """The caller the credential proves: an admin, a specialist, or the holder of a
    booking's current manage token."""
    return ctx.auth.caller(authorization, request_generations(ctx.booking))


@dataclass(frozen=True)
class BookingAccess:
    caller: Caller
    booking: BookingRow


def _any_party(booking_id: UUID, ctx: Ctx, authorization: AnyCredential) -> BookingAccess:
    caller = caller_of(ctx, authorization)
    if caller is None or (caller.role == "client" and not caller.holds_token_for(booking_id)):
        raise refused(caller)
    with ctx.pool.connection() as conn:
        row = booking_row(conn, booking_id)
    if row is None:
        raise ApiError(
            404, "not_found", f"no booking with id {booking_id}", {"id": str(booking_id)}
        )
    if caller.role == "specialist" and not caller.is_specialist(
        row.snapshot.specialist.specialist_id
    ):
        raise refused(caller)
    return BookingAccess(caller, row)


# The path's booking, for its manage-token holder, its specialist or an admin.
BookingAccessDep = Annotated[BookingAccess, Depends(_any_party)]
