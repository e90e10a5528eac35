"""GET /v1/slots: the offered slots of a service, in the viewer's time zone."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BeforeValidator

from availability.cache import AvailabilityCache
from availability.freshness import STALENESS_HEADER, ProjectionFreshness
from availability.readmodel import day_bounds
from availability.schemas import SlotsPublic
from kairos.slots import Interval
from kairos.text import SingleLine
from kairos.timezones import iso_utc, zone
from kairos.web import ApiError

MAX_RANGE_DAYS = 62


def _calendar_date(value: object) -> object:
    # pydantic alone would also take datetimes and Unix timestamps for a date.
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_calendar_date)]
# Dates whose day bounds stay inside what datetime can represent in every zone.
_EARLIEST, _LATEST = date(1970, 1, 2), date(9000, 12, 31)


def slots_body(service_id: UUID, tz: ZoneInfo, slots: Iterable[Interval]) -> dict[str, Any]:
    """The JSON body of GET /v1/slots (the shape of SlotsPublic), built without validation."""
    return {
        "service_id": str(service_id),
        "timezone": tz.key,
        "slots": [
            {
                "start": iso_utc(slot.start),
                "end": iso_utc(slot.end),
                "local_start": slot.start.astimezone(tz).isoformat(),
            }
            for slot in slots
        ],
    }


@dataclass(frozen=True)
class SlotsContext:
    cache: AvailabilityCache
    clock: Callable[[], datetime]
    min_position_wait: float
    freshness: ProjectionFreshness


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
    if to < from_:
        raise ApiError(
            422, "invalid_range", "`to` is before `from`", {"from": str(from_), "to": str(to)}
        )
    if (to - from_).days + 1 > MAX_RANGE_DAYS:
        raise ApiError(
            422,
            "invalid_range",
            f"a range covers at most {MAX_RANGE_DAYS} days",
            {"from": str(from_), "to": str(to), "max_days": MAX_RANGE_DAYS},
        )
    if from_ < _EARLIEST or to > _LATEST:
        raise ApiError(
            422,
            "invalid_range",
            f"dates must lie between {_EARLIEST} and {_LATEST}",
            {"from": str(from_), "to": str(to), "earliest": str(_EARLIEST), "latest": str(_LATEST)},
        )
    viewer = zone(timezone) if timezone is not None else None
    specialist_id = await ctx.cache.owner_of(service_id)
    if specialist_id is None:
        raise ApiError(
            422,
            "unknown_service",
            f"no service with id {service_id}",
            {"service_id": str(service_id)},
        )
    if min_position is not None:
        await ctx.cache.wait_for(min_position, ctx.min_position_wait, specialist_id)
    availability = await ctx.cache.availability(specialist_id)
    if availability is None or service_id not in availability.services:
        raise ApiError(
            422,
            "unknown_service",
            f"no service with id {service_id}",
            {"service_id": str(service_id)},
        )
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
