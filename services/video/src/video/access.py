"""Who may call what, as FastAPI dependencies (as booking.access): 401 without a proven
identity, 403 with one that may not do this; credentials are checked before the
session's existence is revealed.

A booking's parties are its client (its manage token, while it is the booking's
current one: booking answers which, kairos.booking_client) and its specialist (their JWT);
an admin may read a session but is no party: only the two join, consent or write notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends

from kairos.auth import Caller
from kairos.booking_client import request_generations
from kairos.web.security import AnyCredential, StaffCredential, refused
from video.context import Ctx
from video.domain import Party, Session


@dataclass(frozen=True)
class SessionAccess:
    caller: Caller
    session: Session

    @property
    def party(self) -> Party | None:
        if self.caller.role == "client":
            return "client"
        return "specialist" if self.caller.role == "specialist" else None


def _access(ctx: Ctx, booking_id: UUID, authorization: str | None) -> SessionAccess:
    caller = ctx.auth.caller(authorization, request_generations(ctx.booking))
    if caller is None:
        raise refused(caller)
    if caller.role == "client" and not caller.holds_token_for(booking_id):
        raise refused(caller)  # another booking's holder: known, not a party here
    session = ctx.app.session(booking_id)
    if caller.role == "specialist" and not any(map(caller.is_specialist, session.hosts)):
        raise refused(caller)
    return SessionAccess(caller, session)


def _viewer(booking_id: UUID, ctx: Ctx, authorization: AnyCredential) -> SessionAccess:
    return _access(ctx, booking_id, authorization)


def _party(booking_id: UUID, ctx: Ctx, authorization: AnyCredential) -> SessionAccess:
    access = _access(ctx, booking_id, authorization)
    if access.party is None:
        raise refused(access.caller)
    return access


def _client(booking_id: UUID, ctx: Ctx, authorization: AnyCredential) -> SessionAccess:
    access = _access(ctx, booking_id, authorization)
    if access.party != "client":
        raise refused(access.caller)
    return access


def _specialist(booking_id: UUID, ctx: Ctx, authorization: StaffCredential) -> SessionAccess:
    access = _access(ctx, booking_id, authorization)
    if access.party != "specialist":
        raise refused(access.caller)
    return access


# The path's session, for its client, its specialist or an admin.
ViewerDep = Annotated[SessionAccess, Depends(_viewer)]
# The path's session, for one of its two parties.
PartyDep = Annotated[SessionAccess, Depends(_party)]
# ... for its client only (manage token).
ClientDep = Annotated[SessionAccess, Depends(_client)]
# ... for its specialist only.
SpecialistDep = Annotated[SessionAccess, Depends(_specialist)]
