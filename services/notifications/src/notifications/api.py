"""The notifications service's HTTP API (API.md, Notifications): a booking's invite,
the Web Push key and subscriptions, and Twilio's delivery-status callback."""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import parse_qsl
from uuid import UUID, uuid4

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, Field

from kairos.auth import Caller
from kairos.providers.push import PushSubscription
from kairos.web import ApiError
from kairos.web.security import refused
from notifications.access import (
    BookingAccessDep,
    Ctx,
    NotificationsContext,
    SubscriberCredential,
    caller_of,
)
from notifications.appointment import appointment_of
from notifications.channels.sms import status_callback_is_genuine, status_callback_url
from notifications.invite import invite
from notifications.metrics import SMS_STATUSES
from notifications.tables import (
    add_push_subscription,
    push_subscription_owner,
    remove_push_subscription,
    terms_of,
)

log = logging.getLogger("notifications.api")

bookings = APIRouter(prefix="/v1/bookings", tags=["notifications"])
push = APIRouter(prefix="/v1/push", tags=["notifications"])
twilio = APIRouter(prefix="/v1/notifications", tags=["notifications"])

NOT_FOUND: dict[int | str, dict[str, str]] = {404: {"description": "not_found"}}
CALENDAR = "text/calendar; charset=utf-8"


@bookings.get(
    "/{booking_id}/invite.ics",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {}}, "description": "the booking's invite"},
        404: {"description": "not_found: no booking with that id"},
    },
)
def booking_invite(access: BookingAccessDep, ctx: Ctx) -> Response:
    """The booking as a calendar event (METHOD:PUBLISH; its UID and SEQUENCE those of the
    invites sent by e-mail), with the caller's links when they are the client."""
    row = access.booking
    with ctx.pool.connection() as conn:
        terms = terms_of(conn, row.snapshot.service.service_id)
    appointment = appointment_of(row.booking_id, row.snapshot, terms, ctx.personal.revealer())
    recipient = "client" if access.caller.role == "client" else "specialist"
    ended = row.status in ("cancelled", "declined")
    links = None if ended else ctx.links.links_for(row.booking_id, recipient)
    body = invite(
        appointment,
        "PUBLISH",
        sequence=row.sequence,
        stamp=row.updated_at,
        links=links,
        cancelled=ended,
    )
    return Response(
        body,
        media_type=CALENDAR,
        headers={"Content-Disposition": f'attachment; filename="booking-{row.booking_id}.ics"'},
    )


class VapidKey(BaseModel):
    key: str = Field(description="The applicationServerKey for PushManager.subscribe (base64url)")


@push.get("/vapid-public-key", responses=NOT_FOUND)
def vapid_public_key(ctx: Ctx) -> VapidKey:
    if ctx.vapid_public_key is None:
        raise ApiError(404, "not_found", "web push is not configured here")
    return VapidKey(key=ctx.vapid_public_key)


class SubscriptionKeys(BaseModel):
    # base64url, as the browser's PushSubscription.toJSON() gives them
    p256dh: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+=*$")
    auth: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+=*$")


class SubscriptionIn(BaseModel):
    # an https URL: no whitespace or control characters (a NUL can't even be stored)
    endpoint: str = Field(min_length=1, max_length=2000, pattern=r"^https://[^\s\x00-\x1f\x7f]+$")
    keys: SubscriptionKeys
    booking_id: UUID | None = Field(
        default=None, description="With a manage token: the booking it is for (required)"
    )


class SubscriptionCreated(BaseModel):
    id: UUID


def _subscriber(
    ctx: NotificationsContext, authorization: str | None, booking_id: UUID | None
) -> Caller:
    caller = caller_of(ctx, authorization)
    if caller is None or caller.role == "admin":
        raise refused(caller)
    if caller.role == "client" and not caller.holds_token_for(booking_id):
        raise refused(caller)
    return caller


def _owner(caller: Caller) -> str:
    if caller.role == "client":
        return f"booking:{caller.booking_id}"
    return f"specialist:{caller.specialist_id}"


@push.post("/subscriptions", status_code=201)
def subscribe(
    body: SubscriptionIn, ctx: Ctx, authorization: SubscriberCredential
) -> SubscriptionCreated:
    """Register a browser's push subscription: a client's for their booking (its manage
    token, and `booking_id`), a specialist's for all of theirs (their JWT)."""
    caller = _subscriber(ctx, authorization, body.booking_id)
    subscription_id = uuid4()
    subscription = PushSubscription(body.endpoint, body.keys.p256dh, body.keys.auth)
    with ctx.pool.connection() as conn:
        add_push_subscription(conn, subscription_id, _owner(caller), subscription)
    return SubscriptionCreated(id=subscription_id)


@push.delete("/subscriptions/{subscription_id}", status_code=204, responses=NOT_FOUND)
def unsubscribe(subscription_id: UUID, ctx: Ctx, authorization: SubscriberCredential) -> Response:
    """Forget a subscription: only its owner may."""
    if not authorization:
        raise refused(None)
    with ctx.pool.connection() as conn:
        owner = push_subscription_owner(conn, subscription_id)
    if owner is None:
        raise ApiError(404, "not_found", f"no subscription with id {subscription_id}")
    kind, _, owner_id = owner.partition(":")
    caller = _subscriber(ctx, authorization, UUID(owner_id) if kind == "booking" else None)
    if _owner(caller) != owner:
        raise refused(caller)
    with ctx.pool.connection() as conn:
        remove_push_subscription(conn, subscription_id)
    return Response(status_code=204)


@twilio.post(
    "/twilio/status",
    status_code=204,
    responses={403: {"description": "forbidden: not signed by Twilio"}, **NOT_FOUND},
)
async def twilio_status(
    request: Request,
    ctx: Ctx,
    effect: Annotated[str, Query(max_length=100)],
    signature: Annotated[str, Header(alias="X-Twilio-Signature")] = "",
) -> Response:
    """Twilio's delivery status of one SMS (its status callback), believed only when
    Twilio's signature over the URL it called and the form checks out."""
    if ctx.twilio_auth_token is None or ctx.twilio_status_callback_url is None:
        raise ApiError(404, "not_found", "SMS is not configured here")
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    url = status_callback_url(ctx.twilio_status_callback_url, effect)
    if not status_callback_is_genuine(ctx.twilio_auth_token, url, form, signature):
        raise ApiError(403, "forbidden", "the request is not signed by Twilio")
    status = form.get("MessageStatus", "unknown")
    SMS_STATUSES.labels(status if status in _STATUSES else "other").inc()
    if status in ("failed", "undelivered"):
        # The effect id and Twilio's error code only: never the number.
        log.warning("SMS of effect %s %s (error %s)", effect, status, form.get("ErrorCode"))
    return Response(status_code=204)


_STATUSES = frozenset(
    {"queued", "sending", "sent", "delivered", "undelivered", "failed", "accepted", "scheduled"}
)

ROUTERS = (bookings, push, twilio)
