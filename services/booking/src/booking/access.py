"""Who may call what, as FastAPI dependencies: a route names the caller it needs by a
parameter's type (`caller: AdminDep`) and runs only if the credential proves it.

Each dependency reads the Authorization header through a kairos.web.security
credential type, so the route's OpenAPI operation still lists the schemes it accepts
(and, from them, its 401 and 403). Refusals are 401 when the request proves no
identity (no credential, or one that is invalid, expired, or for another issuer,
audience, or a revoked manage token) and 403 when it does but that caller may not do
this (a manage token outside its own booking's endpoints). Credentials
are checked before a resource's existence is revealed.

The dependencies are plain `def`: those that load an aggregate call the synchronous
event store, so FastAPI runs them in its thread pool like the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends

from booking.context import Ctx
from booking.domain import Booking, Service
from kairos.auth import Caller
from kairos.web.security import AdminCredential, AnyCredential, StaffCredential, refused


def _caller(ctx: Ctx, authorization: str | None) -> Caller | None:
    # A genuine manage token proves its booking's holder everywhere: refused where it
    # has no business (403), like any known caller.
    return ctx.auth.caller(authorization, ctx.tokens.generation)


def _admin(ctx: Ctx, authorization: AdminCredential) -> Caller:
    caller = _caller(ctx, authorization)
    if caller is None or not caller.is_admin:
        raise refused(caller)
    return caller


def _staff(ctx: Ctx, authorization: StaffCredential) -> Caller:
    caller = _caller(ctx, authorization)
    if caller is None or caller.role == "client":
        raise refused(caller)
    return caller


AdminDep = Annotated[Caller, Depends(_admin)]
# An admin or any specialist; what each may then see is the route's query to narrow.
StaffDep = Annotated[Caller, Depends(_staff)]


def _specialist(specialist_id: UUID, caller: StaffDep) -> Caller:
    if not (caller.is_admin or caller.is_specialist(specialist_id)):
        raise refused(caller)
    return caller


# An admin, or the specialist the path's `specialist_id` names.
SpecialistDep = Annotated[Caller, Depends(_specialist)]


def _own_service(service_id: UUID, ctx: Ctx, caller: StaffDep) -> Service:
    service = ctx.app.service(service_id)
    # A team's service is the admin's to change: no one member owns it.
    owner = service.specialist_id
    if not (caller.is_admin or (owner is not None and caller.is_specialist(owner))):
        raise refused(caller)
    return service


# The path's service, if the caller is an admin or the specialist who offers it.
ServiceOwnerDep = Annotated[Service, Depends(_own_service)]


def _visible_specialist(caller: StaffDep, specialist_id: UUID | None = None) -> UUID | None:
    if caller.role == "specialist":
        if specialist_id not in (None, caller.specialist_id):
            raise refused(caller)
        return caller.specialist_id
    return specialist_id


# The `specialist_id` a booking list may filter on: an admin's as asked (None: everyone's),
# a specialist's always their own.
VisibleSpecialistDep = Annotated[UUID | None, Depends(_visible_specialist)]


@dataclass(frozen=True)
class BookingAccess:
    caller: Caller
    booking: Booking


def _booking_access(
    ctx: Ctx, booking_id: UUID, authorization: str | None, allow_client: bool
) -> BookingAccess:
    caller = _caller(ctx, authorization)
    if caller is None:
        raise refused(caller)
    if caller.role == "client" and not (allow_client and caller.holds_token_for(booking_id)):
        raise refused(caller)
    booking = ctx.app.booking(booking_id)
    # Every specialist whose time it holds: a collective booking's members all see it.
    if caller.role == "specialist" and not any(map(caller.is_specialist, booking.specialist_ids)):
        raise refused(caller)
    return BookingAccess(caller, booking)


def _any_party(booking_id: UUID, ctx: Ctx, authorization: AnyCredential) -> BookingAccess:
    return _booking_access(ctx, booking_id, authorization, allow_client=True)


def _staff_party(booking_id: UUID, ctx: Ctx, authorization: StaffCredential) -> BookingAccess:
    return _booking_access(ctx, booking_id, authorization, allow_client=False)


# The path's booking, for its manage-token holder, its specialist or an admin.
BookingAccessDep = Annotated[BookingAccess, Depends(_any_party)]
# The path's booking, for its specialist or an admin (decisions a client may not take).
BookingStaffDep = Annotated[BookingAccess, Depends(_staff_party)]
