"""The calendar-sync API's request and response bodies (API.md, Calendars)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field, SecretStr

from kairos.text import SingleLine


class CalDavConnect(BaseModel):
    specialist_id: UUID
    url: SingleLine = Field(description="The CalDAV server's or calendar's URL")
    username: SingleLine
    password: SecretStr = Field(description="An app password; stored encrypted, never shown")


class CalendarPublic(BaseModel):
    id: UUID
    specialist_id: UUID
    provider: Literal["google", "microsoft", "caldav"]
    status: Literal["active", "failed", "disconnected"]
    calendar_name: str | None
    account: str = Field(description="The CalDAV URL, or the account the grant is for")
    last_sync_at: datetime | None
    error: str | None = Field(description="Why the connection failed, when it did")


class CalendarList(BaseModel):
    calendars: list[CalendarPublic]


class ConsentUrl(BaseModel):
    url: str = Field(description="Open it in the browser that asked: the state is bound to it")
