"""HTTP routes of a booking's manage token: read it, or those of many bookings at once
(admin: how the notifications service puts it in an e-mail's links without it
travelling on a topic; its worker asks for a claimed batch's bookings in one call), read its
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
    return ManageToken(manage_token=ctx.tokens.current([booking_id])[booking_id])


# The notifications dispatcher claims 100 effects at a time; room to spare, and a bound
# on what one request makes booking read.
MOST_TOKENS_AT_ONCE = 500


class ManageTokensWanted(BaseModel):
    booking_ids: list[UUID] = Field(
        min_length=1, max_length=MOST_TOKENS_AT_ONCE, description="Duplicates are answered once"
    )


class ManageTokensFound(BaseModel):
    manage_tokens: dict[UUID, str] = Field(
        description="Each known booking's manage token as it stands, by booking id; keep them"
        " secret"
    )
    not_found: list[UUID] = Field(description="The ids asked for that name no booking")


@manage_tokens.post("/manage-tokens")
def current_manage_tokens(wanted: ManageTokensWanted, ctx: Ctx, _: AdminDep) -> ManageTokensFound:
    """The manage tokens of many bookings as they stand, in one call (the notifications
    worker's links for a batch of messages): one read of the bookings and one of the
    generations, whatever their number. A POST only because the ids do not fit a URL:
    it changes nothing."""
    ids = list(dict.fromkeys(wanted.booking_ids))
    known = ctx.app.bookings(ids)
    return ManageTokensFound(
        manage_tokens=ctx.tokens.current(list(known)) if known else {},
        not_found=[booking_id for booking_id in ids if booking_id not in known],
    )


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
