"""The HTTP shape of offered slots: GET /v1/slots (API.md, "Slots") answers it, and so does
the preview of a proposed schedule (POST /v1/specialists/{id}/schedule/preview)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, Field

from kairos.slots import Interval
from kairos.timezones import iso_utc
from kairos.web.errors import ApiError

MAX_RANGE_DAYS = 62


def _calendar_date(value: object) -> object:
    # pydantic alone would also take datetimes and Unix timestamps for a date.
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_calendar_date)]
# Dates whose day bounds stay inside what datetime can represent in every zone.
_EARLIEST, _LATEST = date(1970, 1, 2), date(9000, 12, 31)


def check_range(from_: date, to: date) -> None:
    """A range of dates slots are asked for: `from` to `to` inclusive, at most
    MAX_RANGE_DAYS, within what every zone can represent (422 invalid_range otherwise)."""
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


class SlotPublic(BaseModel):
    start: str = Field(description="UTC instant with a Z", examples=["2026-12-01T14:00:00Z"])
    end: str = Field(description="UTC instant with a Z", examples=["2026-12-01T14:50:00Z"])
    local_start: str = Field(
        description="The start in the viewer's zone, with its offset",
        examples=["2026-12-01T09:00:00-05:00"],
    )
    members: list[UUID] | None = Field(
        default=None,
        description="A team's service, to an admin only: the members free at this slot"
        " (collective: all of them)",
    )


class SlotsPublic(BaseModel):
    service_id: UUID
    timezone: str = Field(description="The zone of `from`, `to` and `local_start`")
    slots: list[SlotPublic] = Field(description="Ascending by start")


def slots_body(
    service_id: UUID,
    tz: ZoneInfo,
    slots: Iterable[Interval],
    members: Iterable[list[UUID]] | None = None,
) -> dict[str, Any]:
    """The JSON body of GET /v1/slots (the shape of SlotsPublic), built without validation;
    with `members`, each slot says who is free at it."""
    body: list[dict[str, Any]] = [
        {
            "start": iso_utc(slot.start),
            "end": iso_utc(slot.end),
            "local_start": slot.start.astimezone(tz).isoformat(),
        }
        for slot in slots
    ]
    if members is not None:
        for slot, who in zip(body, members, strict=True):
            slot["members"] = [str(m) for m in who]
    return {"service_id": str(service_id), "timezone": tz.key, "slots": body}
