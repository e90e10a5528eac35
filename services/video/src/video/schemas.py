"""The video API's bodies and responses (API.md, Video)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from kairos.text import MultiLine

Party = Literal["client", "specialist"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JoinGrantPublic(BaseModel):
    room: str
    token: str = Field(description="LiveKit access token for this room only, short-lived")
    url: str = Field(description="The LiveKit server to connect to (WebSocket)")
    role: Literal["host", "guest"] = Field(description="host: the specialist (room admin)")
    expires_at: datetime


class SessionPublic(BaseModel):
    """The session, its countdown data and its history (what the waiting room, the call
    and the consultation's history page show)."""

    booking_id: UUID
    state: Literal["waiting", "live", "ended"]
    opens_at: datetime = Field(description="When joining opens (the waiting room)")
    starts_at: datetime
    ends_at: datetime
    participants: list[Party] = Field(description="Who is in the room now")
    joined: list[Party] = Field(description="Who was in the room at some point")
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None = Field(description="From start to end, once ended")
    recording: Literal["off", "optional", "required"]
    recording_consent: bool | None
    recording_url: str | None = Field(description="Signed, expiring link, once available")
    no_show_suggested: Party | None = Field(
        description="A party not in by the grace period after the start, for the"
        " specialist to confirm (POST /v1/bookings/{id}/no-show)"
    )
    notes: str | None = Field(description="The consultation notes: for the specialist only")
    notes_written_at: datetime | None


class ConsentBody(Strict):
    consent: bool


class NotesBody(Strict):
    notes: Annotated[MultiLine, Field(max_length=20_000)]


class NotesPublic(BaseModel):
    booking_id: UUID
    notes: str
    written_at: datetime
