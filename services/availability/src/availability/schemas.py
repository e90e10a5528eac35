"""The HTTP shapes of GET /v1/slots (API.md, "Slots")."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field


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
