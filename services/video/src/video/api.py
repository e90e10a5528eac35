"""The video API (API.md, Video): join, session, recording consent, notes, the recording
link and LiveKit's webhook."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import RedirectResponse

from kairos.web import ApiError
from video import schemas as s
from video.access import ClientDep, PartyDep, SessionAccess, SpecialistDep, ViewerDep
from video.context import Ctx, VideoContext
from video.domain import Session
from video.effects import record_recording_start, record_recording_stop
from video.webhooks import identity

JOIN_REFUSALS: dict[int | str, dict[str, Any]] = {
    410: {"description": "gone: the booking was cancelled or declined, or its session ended"},
    404: {"description": "not_found: the booking has no video session"},
    409: {"description": "recording_consent_required: the service records; consent first"},
    425: {"description": "too_early: the waiting room opens at details.opens_at"},
}

sessions = APIRouter(prefix="/v1/bookings", tags=["video"])
webhooks = APIRouter(prefix="/v1/webhooks", tags=["video"])


def session_view(ctx: VideoContext, access: SessionAccess) -> s.SessionPublic:
    session, now = access.session, ctx.clock()
    file = session.recording_file
    notes = None
    if access.party == "specialist" and session.notes is not None:
        notes = ctx.personal.reveal(session.notes)
    duration = None
    if session.started_at is not None and session.ended_at is not None:
        duration = int((session.ended_at - session.started_at).total_seconds())
    return s.SessionPublic(
        booking_id=session.id,
        state=session.state,
        opens_at=session.opens_at,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        participants=session.participants,
        joined=session.joined,
        started_at=session.started_at,
        ended_at=session.ended_at,
        duration_seconds=duration,
        recording=session.recording,
        recording_consent=session.consent,
        recording_url=ctx.links.link(session.id, now) if file is not None else None,
        no_show_suggested=session.no_show_at(now, ctx.no_show_grace),
        notes=notes,
        notes_written_at=session.notes_at if access.party == "specialist" else None,
    )


@sessions.post("/{booking_id}/join", response_model=s.JoinGrantPublic, responses=JOIN_REFUSALS)
def join(ctx: Ctx, access: PartyDep) -> s.JoinGrantPublic:
    """A token to join the consultation's room: the specialist as host, the client as
    guest; from the waiting room's opening (`opens_at`) until the session ends."""
    session, party = access.session, access.party
    assert party is not None  # PartyDep
    session.check_can_join(party, ctx.clock())
    # A host by their own id: a collective booking's members are as many hosts.
    owner = access.caller.specialist_id if party == "specialist" else session.id
    assert owner is not None  # a specialist caller has their id
    grant = ctx.rooms.join_grant(
        session.room,
        identity(party, owner),
        party.capitalize(),
        "host" if party == "specialist" else "guest",
        ctx.join_ttl,
    )
    return s.JoinGrantPublic(
        room=grant.room,
        token=grant.token,
        url=grant.url,
        role=grant.role,
        expires_at=grant.expires_at,
    )


@sessions.get("/{booking_id}/session", response_model=s.SessionPublic)
def get_session(ctx: Ctx, access: ViewerDep) -> s.SessionPublic:
    """The session's state, countdown data and history; notes only for the specialist."""
    return session_view(ctx, access)


@sessions.post(
    "/{booking_id}/recording-consent",
    response_model=s.SessionPublic,
    responses={409: {"description": "invalid_state: the service does not record"}},
)
def recording_consent(ctx: Ctx, access: ClientDep, body: s.ConsentBody) -> s.SessionPublic:
    """The client's consent to recording, or its withdrawal (a running recording stops)."""
    session = ctx.app.give_consent(access.session.id, body.consent, ctx.clock())
    if not body.consent:
        with ctx.pool.connection() as conn, conn.transaction():
            record_recording_stop(conn, session)
    elif session.state == "live" and session.may_record:
        with ctx.pool.connection() as conn, conn.transaction():
            record_recording_start(conn, session)
    return session_view(ctx, SessionAccess(access.caller, session))


@sessions.put(
    "/{booking_id}/notes",
    response_model=s.NotesPublic,
    responses={410: {"description": "erased: the client's data was erased"}},
)
def write_notes(ctx: Ctx, access: SpecialistDep, body: s.NotesBody) -> s.NotesPublic:
    """The specialist's consultation notes, replacing earlier ones: sealed under the
    client's key (health content about them), so erasing the client erases them."""
    subject = access.session.client_subject
    sealer = ctx.personal.subject_sealer(subject) if subject is not None else None
    if sealer is None:
        raise ApiError(410, "erased", "the client's data was erased: no notes can be kept")
    sealed = sealer.seal(body.notes)
    session: Session = ctx.app.write_notes(access.session.id, sealed, ctx.clock())
    assert session.notes_at is not None
    return s.NotesPublic(booking_id=session.id, notes=body.notes, written_at=session.notes_at)


@sessions.get(
    "/{booking_id}/recording",
    status_code=307,
    response_class=RedirectResponse,
    responses={
        403: {"description": "invalid_link: the signature does not match"},
        404: {"description": "not_found: no recording (yet)"},
        410: {"description": "link_expired: open the session again for a fresh link"},
    },
)
def recording(
    ctx: Ctx,
    booking_id: UUID,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query(max_length=128)],
) -> RedirectResponse:
    """The recording, through the signed, expiring link the session gives."""
    ctx.links.check(booking_id, expires, signature, ctx.clock())
    file = ctx.app.session(booking_id).recording_file
    if file is None:
        raise ApiError(404, "not_found", "this session has no recording (yet)")
    return RedirectResponse(ctx.recordings_base_url.rstrip("/") + "/" + file["filename"], 307)


@webhooks.post(
    "/livekit",
    responses={401: {"description": "invalid_signature: not signed by our LiveKit"}},
)
async def livekit_webhook(
    request: Request, ctx: Ctx, authorization: Annotated[str | None, Header()] = None
) -> dict[str, bool]:
    """LiveKit's webhook (signed with its API key; `application/webhook+json`)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    applied = await asyncio.to_thread(ctx.webhooks.receive, body, authorization)
    return {"applied": applied}


ROUTERS = (sessions, webhooks)
