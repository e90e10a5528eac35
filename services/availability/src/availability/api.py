"""GET /v1/slots: the offered slots of a service, in the viewer's time zone."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from availability.cache import AvailabilityCache
from availability.freshness import STALENESS_HEADER, ProjectionFreshness
from availability.readmodel import day_bounds, team_slots
from kairos.auth import bearer_credential, is_admin_key
from kairos.events.booking import NO_SPECIALIST
from kairos.text import SingleLine
from kairos.timezones import zone
from kairos.web import ApiError
from kairos.web.slots import IsoDate, SlotsPublic, check_range, slots_body

UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class SlotsContext:
    cache: AvailabilityCache
    clock: Callable[[], datetime]
    min_position_wait: float
    freshness: ProjectionFreshness
    admin_key: bytes | None  # None: no caller is an admin here

    def is_admin(self, request: Request) -> bool:
        credential = bearer_credential(request.headers.get("authorization"))
        return bool(self.admin_key and credential and is_admin_key(credential, self.admin_key))


async def _context(request: Request) -> SlotsContext:
    # async: a plain def dependency would cost every query a trip through the thread pool
    context: SlotsContext = request.app.state.slots
    return context


ContextDep = Annotated[SlotsContext, Depends(_context)]
router = APIRouter(prefix="/v1", tags=["slots"])
ROUTERS = (router,)


@router.get(
    "/slots",
    response_model=SlotsPublic,
    responses={
        200: {
            "headers": {
                STALENESS_HEADER: {
                    "description": "Seconds the slots may be behind the booking log"
                    " (`unknown` before the projection was ever known current)",
                    "schema": {"type": "string"},
                }
            }
        },
        422: {
            "description": "unknown_service, unknown_timezone, invalid_range or validation_error"
        },
    },
)
async def get_slots(
    request: Request,
    ctx: ContextDep,
    service_id: UUID,
    from_: Annotated[
        IsoDate, Query(alias="from", description="First date (YYYY-MM-DD), in `timezone`")
    ],
    to: Annotated[IsoDate, Query(description="Last date (YYYY-MM-DD, inclusive), in `timezone`")],
    timezone: Annotated[
        SingleLine | None, Query(description="IANA zone of the viewer; default: the specialist's")
    ] = None,
    min_position: Annotated[
        int | None,
        Query(
            ge=1,
            description="A booking response's notification_id: wait (up to 1 s)"
            " until the slots reflect it",
        ),
    ] = None,
) -> Response:
    started = time.perf_counter()
    check_range(from_, to)
    viewer = zone(timezone) if timezone is not None else None
    specialist_id = await ctx.cache.owner_of(service_id)
    if specialist_id == NO_SPECIALIST:
        body = await _team_slots(request, ctx, service_id, from_, to, viewer, min_position)
    else:
        if specialist_id is not None and min_position is not None:
            await ctx.cache.wait_for(min_position, ctx.min_position_wait, specialist_id)
        availability = await ctx.cache.availability(specialist_id) if specialist_id else None
        if availability is None or service_id not in availability.services:
            raise _unknown(service_id)
        tz = viewer or availability.timezone
        start, end = day_bounds(from_, to, tz)
        body = slots_body(service_id, tz, availability.slots(service_id, start, end, ctx.clock()))
    elapsed_ms = (time.perf_counter() - started) * 1000
    # Pre-serialised: the body is built from trusted values, validating it again
    # would double the cost of a query.
    return Response(
        json.dumps(body, separators=(",", ":")),
        media_type="application/json",
        headers={
            "Server-Timing": f"app;dur={elapsed_ms:.3f}",
            STALENESS_HEADER: ctx.freshness.header(),
        },
    )


def _unknown(service_id: UUID) -> ApiError:
    return ApiError(
        422, "unknown_service", f"no service with id {service_id}", {"service_id": str(service_id)}
    )


async def _team_slots(
    request: Request,
    ctx: SlotsContext,
    service_id: UUID,
    from_: date,
    to: date,
    viewer: ZoneInfo | None,
    min_position: int | None,
) -> dict[str, Any]:
    """A team's service: its members' slots, combined (readmodel.team_slots), in the
    viewer's zone or else its first member's; who is free at each, to an admin."""
    if min_position is not None:
        # The booking a position comes from sits on its member's partition: any will do.
        await ctx.cache.wait_for(min_position, ctx.min_position_wait)
    team = await ctx.cache.team_service(service_id)
    if team is None or not team.members:
        raise _unknown(service_id)
    found = [await ctx.cache.availability(member) for member in team.members]
    members = {m: a for m, a in zip(team.members, found, strict=True)}
    first = found[0]
    tz = viewer or (first.timezone if first else UTC_ZONE)
    start, end = day_bounds(from_, to, tz)
    now = ctx.clock()
    # A member this read model doesn't know yet offers nothing.
    offered = {
        member: a.slots(service_id, start, end, now, team.rules) if a else []
        for member, a in members.items()
    }
    combined = team_slots(offered, team.collective)
    who = [free for _, free in combined] if ctx.is_admin(request) else None
    return slots_body(service_id, tz, [slot for slot, _ in combined], who)
