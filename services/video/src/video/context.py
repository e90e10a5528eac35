"""What every request handler of the video service reads: the context main.py builds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg_pool import ConnectionPool

from kairos.auth import Authenticator
from kairos.booking_client import BookingClient
from kairos.privacy import PersonalData
from kairos.providers.video import VideoRooms
from video.application import Sessions
from video.recordings import RecordingLinks
from video.webhooks import LiveKitWebhooks


@dataclass
class VideoContext:
    app: Sessions
    auth: Authenticator
    booking: BookingClient
    rooms: VideoRooms
    webhooks: LiveKitWebhooks
    links: RecordingLinks
    personal: PersonalData
    pool: ConnectionPool[Any]
    join_ttl: timedelta
    no_show_grace: timedelta
    recordings_base_url: str
    clock: Callable[[], datetime]


def _context(request: Request) -> VideoContext:
    ctx: VideoContext = request.app.state.video
    return ctx


Ctx = Annotated[VideoContext, Depends(_context)]
