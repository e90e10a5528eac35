"""HTTP routes of a booking's manage token: read it (admin: how the notifications
service puts it in an e-mail's links without it travelling on a topic), read its
generation (admin: how the other services tell a current token from a revoked one,
kairos.booking_client) and replace it (its holder or an admin: every earlier token,
in any e-mail, stops working)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field

from booking.access import AdminDep, BookingAccessDep
from booking.context import Ctx
from kairos.web.security import refused

manage_tokens = APIRouter(prefix="/v1/bookings", tags=["bookings"])


class ManageToken(BaseModel):
    manage_token: str = Field(
        description="Bearer token for this booking's read, cancel, reschedule and join;"
        " keep it secret"
    )


@manage_tokens.get("/{booking_id}/manage-token")
def current_manage_token(booking_id: UUID, ctx: Ctx, _: AdminDep) -> ManageToken:
    """The booking's manage token as it stands (for the links of its e-mails)."""
    ctx.app.booking(booking_id)  # 404 for a booking that does not exist
    return ManageToken(manage_token=ctx.tokens.current(booking_id))


class TokenGeneration(BaseModel):
    generation: int = Field(
        ge=0, description="The generation a manage token must name to open the booking"
    )


@manage_tokens.get("/{booking_id}/manage-token/generation")
def manage_token_generation(booking_id: UUID, ctx: Ctx, _: AdminDep) -> TokenGeneration:
    """The generation of the booking's current manage token (for services that check a
    client's token themselves: video's join, among others). It answers for any id,
    without loading the booking: a booking never revoked is at 0, and a token of an id
    booking never issued cannot exist, since only booking has the key that signs them.
    Asked on every join, so it is one primary-key lookup."""
    return TokenGeneration(generation=ctx.tokens.generation(booking_id))


@manage_tokens.post("/{booking_id}/manage-token", status_code=201)
def replace_manage_token(access: BookingAccessDep, ctx: Ctx) -> ManageToken:
    """Revoke the booking's manage token (a link forwarded or leaked): every earlier
    token stops working; the new one is returned, and later e-mails carry it."""
    if access.caller.role == "specialist":
        raise refused(access.caller)
    return ManageToken(manage_token=ctx.tokens.revoke(access.booking.id, ctx.clock()))
