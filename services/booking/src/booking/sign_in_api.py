"""HTTP routes of the specialists' sign-in by e-mail link (booking.sign_in)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request

from booking import schemas as s
from booking.context import Ctx

sign_in = APIRouter(prefix="/v1/auth", tags=["auth"])

RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"description": "too_many_requests: retry after Retry-After seconds"}
}


@sign_in.post("/sign-in", status_code=202, responses=RATE_LIMITED)
def request_sign_in(
    body: s.SignInRequest, request: Request, tasks: BackgroundTasks, ctx: Ctx
) -> s.SignInAccepted:
    """If a specialist has this address, mail them a link that signs them in once, within
    15 minutes. The answer is the same for any address."""
    email = str(body.email)
    ctx.sign_ins.admit(email, request.client.host if request.client else "")
    tasks.add_task(ctx.sign_ins.send_link, email, ctx.clock())
    return s.SignInAccepted()


@sign_in.post(
    "/sign-in/verify",
    responses={401: {"description": "invalid_code: unknown, already used or expired"}},
)
def verify_sign_in(body: s.SignInVerify, ctx: Ctx) -> s.SignInToken:
    """Trade a sign-in link's code for the specialist's JWT; a code works once."""
    signed_in = ctx.sign_ins.verify(body.code, ctx.clock())
    return s.SignInToken(token=signed_in.token, expires_at=signed_in.expires_at)
