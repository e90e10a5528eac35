"""The webhooks API (API.md, Webhooks): subscriptions, their deliveries, resends. Admin
only. Routes are plain `def` (synchronous PostgreSQL and DNS), run in the thread pool."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID, uuid4

import psycopg
from fastapi import APIRouter, Depends, Query, Response

from kairos.auth import Caller
from kairos.effects import cancel_effects
from kairos.web import ApiError
from kairos.web.security import AdminCredential, refused
from webhooks import schemas as s
from webhooks import tables
from webhooks.context import Ctx
from webhooks.signing import new_secret
from webhooks.targets import TargetRefused, TargetUnresolved

webhooks = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
ROUTERS = (webhooks,)


def _admin(ctx: Ctx, authorization: AdminCredential) -> Caller:
    caller: Caller | None = ctx.auth.caller(authorization)
    if caller is None or not caller.is_admin:
        raise refused(caller)
    return caller


AdminDep = Annotated[Caller, Depends(_admin)]

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such subscription"}}
INVALID_URL: dict[int | str, dict[str, Any]] = {
    422: {"description": "invalid_url: not https, or not a public address"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such delivery"},
    409: {"description": "invalid_state: still being sent; subscription_disabled"},
}


def _public(found: tables.Subscription) -> s.SubscriptionPublic:
    return s.SubscriptionPublic.model_validate(found, from_attributes=True)


def _existing(conn: psycopg.Connection[Any], id_: UUID) -> tables.Subscription:
    found = tables.subscription(conn, id_)
    if found is None:
        raise ApiError(404, "not_found", "no such webhook subscription", {"id": str(id_)})
    return found


@webhooks.post(
    "/subscriptions", status_code=201, response_model=s.SubscriptionCreated, responses=INVALID_URL
)
def subscribe(body: s.SubscriptionCreate, ctx: Ctx, _: AdminDep) -> Any:
    """Register an endpoint. The answer holds its signing secret, which is never shown again."""
    try:
        ctx.policy.resolve(body.url)
    except (TargetRefused, TargetUnresolved) as refused_url:
        raise ApiError(422, "invalid_url", str(refused_url), {"url": body.url}) from None
    id_, secret = uuid4(), new_secret()
    ctx.secrets.put(id_, {"secret": secret})
    with ctx.pool.connection() as conn:
        conn.execute(
            "INSERT INTO webhook_subscriptions (id, url, events, description, created_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            (id_, body.url, body.events, body.description, ctx.clock()),
        )
        made = _existing(conn, id_)
    return s.SubscriptionCreated(**_public(made).model_dump(), secret=secret)


@webhooks.get("/subscriptions", response_model=s.SubscriptionList)
def list_subscriptions(ctx: Ctx, _: AdminDep) -> Any:
    """Every subscription, with its state (a disabled one says since when)."""
    with ctx.pool.connection() as conn:
        return s.SubscriptionList(subscriptions=[_public(f) for f in tables.subscriptions(conn)])


@webhooks.delete("/subscriptions/{subscription_id}", status_code=204, responses=NOT_FOUND)
def unsubscribe(subscription_id: UUID, ctx: Ctx, _: AdminDep) -> Response:
    """Stop sending to the endpoint: its unsent deliveries, log and secret go with it."""
    with ctx.pool.connection() as conn, conn.transaction():
        _existing(conn, subscription_id)
        cancel_effects(conn, tables.reason_of(subscription_id), tables.SEND.name)
        conn.execute("DELETE FROM webhook_subscriptions WHERE id = %s", (subscription_id,))
    ctx.secrets.forget(subscription_id)
    return Response(status_code=204)


@webhooks.post(
    "/subscriptions/{subscription_id}/enable",
    response_model=s.SubscriptionPublic,
    responses=NOT_FOUND,
)
def enable(subscription_id: UUID, ctx: Ctx, _: AdminDep) -> Any:
    """Send to a disabled endpoint again (once it is fixed): new events are delivered;
    resend the failed deliveries that matter."""
    with ctx.pool.connection() as conn, conn.transaction():
        _existing(conn, subscription_id)
        conn.execute(
            "UPDATE webhook_subscriptions SET state = 'active', disabled_at = NULL,"
            " failing_since = NULL WHERE id = %s",
            (subscription_id,),
        )
        return _public(_existing(conn, subscription_id))


@webhooks.get(
    "/subscriptions/{subscription_id}/deliveries",
    response_model=s.DeliveryList,
    responses=NOT_FOUND,
)
def list_deliveries(
    subscription_id: UUID,
    ctx: Ctx,
    _: AdminDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Any:
    """The subscription's newest deliveries first: state, attempts, last answer, next try."""
    with ctx.pool.connection() as conn:
        _existing(conn, subscription_id)
        found = tables.deliveries(conn, subscription_id, limit)
    return s.DeliveryList(
        deliveries=[s.DeliveryPublic.model_validate(d, from_attributes=True) for d in found]
    )


@webhooks.post(
    "/deliveries/{delivery_id}/resend", status_code=202, response_model=s.Resent, responses=CONFLICT
)
def resend(delivery_id: UUID, ctx: Ctx, _: AdminDep) -> Any:
    """Send a delivered or failed delivery again, now, with the same Kairos-Delivery id."""
    with ctx.pool.connection() as conn, conn.transaction():
        found = tables.delivery(conn, delivery_id, lock=True)
        if found is None:
            raise ApiError(404, "not_found", "no such delivery", {"id": str(delivery_id)})
        if found.state in ("queued", "pending"):
            raise ApiError(
                409, "invalid_state", "the delivery is still being sent", {"state": found.state}
            )
        owner = _existing(conn, found.subscription_id)
        if owner.state == "disabled":
            raise ApiError(
                409, "subscription_disabled", "enable the subscription first", {"id": str(owner.id)}
            )
        tables.resend(conn, delivery_id, now=ctx.clock())
    return s.Resent(id=delivery_id, state="pending")
