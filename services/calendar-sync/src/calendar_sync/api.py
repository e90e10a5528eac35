"""The Calendars API (API.md): connect, list and disconnect a specialist's calendars.

Routes are plain `def`: they call the synchronous event store and providers, so
FastAPI runs them in its thread pool.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from fastapi import APIRouter, BackgroundTasks, Response

from calendar_sync import schemas as s
from calendar_sync.access import known_caller, require_owner
from calendar_sync.caldav_calendar import CalDavAccount, open_calendar
from calendar_sync.consumers import write_upcoming
from calendar_sync.context import Ctx
from calendar_sync.domain import Connection
from calendar_sync.tables import last_sync, live_bookings
from kairos.effects import TransientEffectError, create_effects_table
from kairos.providers.calendar import CalendarAccessLost
from kairos.web import ApiError
from kairos.web.security import StaffCredential

calendars = APIRouter(prefix="/v1", tags=["calendars"])

UNPROCESSABLE: dict[int | str, dict[str, Any]] = {
    422: {"description": "The server refused the credentials, or could not be reached"}
}


def read_first(ctx: Ctx, after: BackgroundTasks, connection_id: UUID) -> None:
    """Read a new connection's busy time in full once the answer is sent, not before it: a
    big calendar's first read can take long (Radicale: 23 s over 5,000 events it had not
    indexed yet) and the specialist waits for the page meanwhile. A read that fails is the
    poller's next round's (calendar_sync.poller)."""
    after.add_task(ctx.service.reconciler.sync, connection_id, full=True)


def write_upcoming_bookings(ctx: Ctx, connection: Connection) -> None:
    """Record the puts of the specialist's upcoming bookings into a new connection."""
    now = ctx.clock()
    with psycopg.connect(ctx.service.settings.database_url) as conn:
        create_effects_table(conn)
        upcoming = [b.booking_id for b in live_bookings(conn, connection.specialist_id, now)]
        write_upcoming(conn, connection.id, connection.version, upcoming, now)


def public(ctx: Ctx, connection: Connection) -> s.CalendarPublic:
    with psycopg.connect(ctx.service.settings.database_url) as conn:
        synced = last_sync(conn, connection.id)
    return s.CalendarPublic(
        id=connection.id,
        specialist_id=connection.specialist_id,
        provider=connection.provider,
        status=connection.status,
        calendar_name=connection.calendar_name,
        account=connection.account,
        last_sync_at=synced,
        error=connection.error,
    )


@calendars.post(
    "/calendars/caldav", status_code=201, response_model=s.CalendarPublic, responses=UNPROCESSABLE
)
def connect_caldav(
    body: s.CalDavConnect, ctx: Ctx, authorization: StaffCredential, after: BackgroundTasks
) -> Any:
    """Connect a CalDAV calendar; the credentials are checked against the server first.
    Its busy time is read once the answer is sent: until then `last_sync_at` is null."""
    require_owner(ctx, authorization, body.specialist_id)
    account = CalDavAccount(body.url, body.username, body.password.get_secret_value())
    try:
        calendar = open_calendar(account, timeout=10)
    except CalendarAccessLost as refused:
        raise ApiError(422, "invalid_credentials", str(refused)) from None
    except TransientEffectError:
        raise ApiError(422, "calendar_unreachable", "the CalDAV server did not answer") from None
    service = ctx.service
    connection_id = Connection.create_id(body.specialist_id, "caldav", body.url)
    service.credentials.put(connection_id, account.as_dict())
    connection = service.connections.connect(
        body.specialist_id, "caldav", body.url, calendar.get_display_name()
    )
    write_upcoming_bookings(ctx, connection)
    read_first(ctx, after, connection.id)
    return public(ctx, service.connections.connection(connection.id))


@calendars.get("/specialists/{specialist_id}/calendars", response_model=s.CalendarList)
def list_calendars(specialist_id: UUID, ctx: Ctx, authorization: StaffCredential) -> Any:
    """The specialist's connections, with their last sync and errors."""
    require_owner(ctx, authorization, specialist_id)
    found = ctx.service.connections.connections_of(specialist_id)
    return s.CalendarList(calendars=[public(ctx, c) for c in found])


@calendars.delete("/calendars/{connection_id}", status_code=204)
def disconnect(connection_id: UUID, ctx: Ctx, authorization: StaffCredential) -> Response:
    """Disconnect: its busy time stops blocking, its credentials are forgotten."""
    known_caller(ctx, authorization)  # 401 before the connection's existence is revealed
    connection = ctx.service.connections.connection(connection_id)
    require_owner(ctx, authorization, connection.specialist_id)
    ctx.service.watches.stop(connection_id)
    ctx.service.connections.disconnect(connection_id)
    ctx.service.credentials.forget(connection_id)
    return Response(status_code=204)
