"""HTTP routes of the booking service (API.md, Catalog and Bookings).

Routes are plain `def`: the eventsourcing library is synchronous, so FastAPI
runs them in its thread pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Query, Response

from booking import schemas as s
from booking.access import (
    AdminDep,
    BookingAccessDep,
    BookingStaffDep,
    ServiceOwnerDep,
    SpecialistDep,
    VisibleSpecialistDep,
)
from booking.context import BookingContext, Ctx
from booking.directory import After, decode_cursor, encode_cursor
from booking.domain import Booking, DomainError, Service, Specialist, Team, WindowPair
from booking.history import BookingFilter
from booking.idempotency import KeyReused, canonical
from booking.manage_token_api import manage_tokens
from booking.privacy_api import privacy
from booking.sign_in_api import sign_in
from booking.store_reads import notification_id_of
from kairos.privacy import Revealer
from kairos.text import SingleLine
from kairos.web import ApiError
from kairos.web.slots import SlotsPublic, check_range, slots_body

# Errors beyond those kairos.web.openapi derives from each route's parameters and credential.
INVALID_STATE = "invalid_state: the booking's status does not allow this"
SLOT_TAKEN = "slot_unavailable or day_full: that start is no longer free"
# A command that could not be decided in time against concurrent writers (booking.contention).
BUSY: dict[int | str, dict[str, Any]] = {
    503: {"description": "busy: too many concurrent changes; retry after Retry-After seconds"}
}
STATE_CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": INVALID_STATE}, **BUSY}
# complete and no-show only once the consultation has started (no-show: after a grace).
NOT_YET: dict[int | str, dict[str, Any]] = {
    **STATE_CONFLICT,
    425: {"description": "too_early: not before details.allowed_from"},
}
RESCHEDULE_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": f"{INVALID_STATE}; {SLOT_TAKEN}"},
    **BUSY,
}
BOOKING_CONFLICT: dict[int | str, dict[str, Any]] = {
    404: {"description": "not_found: no service has that service_id"},
    409: {"description": SLOT_TAKEN},
    **BUSY,
}
UNKNOWN_SPECIALIST: dict[int | str, dict[str, Any]] = {
    404: {"description": "not_found: no specialist has that specialist_id"}
}
UNKNOWN_OWNER: dict[int | str, dict[str, Any]] = {
    404: {"description": "not_found: no specialist has that specialist_id, or no team team_id"}
}
UNKNOWN_TEAM: dict[int | str, dict[str, Any]] = {404: {"description": "not_found: no such team"}}
TEAM_REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "invalid_team: no members, a member twice, or an unknown specialist"}
}
REASSIGN_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": f"slot_unavailable: that member does not offer the time; {INVALID_STATE}"},
    422: {"description": "invalid_team: not a team booking, or not a member of its team"},
    **BUSY,
}

catalog = APIRouter(prefix="/v1", tags=["catalog"])
teams = APIRouter(prefix="/v1/teams", tags=["teams"])
bookings = APIRouter(prefix="/v1/bookings", tags=["bookings"])


# --- views --------------------------------------------------------------------


def profile_view(
    id: UUID,
    name: str,
    timezone: str,
    specialty: str | None,
    bio: str | None,
    weekly: Mapping[Any, list[WindowPair]],
    overrides: Mapping[str, list[WindowPair]],
) -> s.SpecialistPublic:
    """The public profile, from an aggregate or a directory row (whose weekday keys are
    strings: JSON object keys)."""
    return s.SpecialistPublic(
        id=id,
        name=name,
        timezone=timezone,
        specialty=specialty,
        bio=bio,
        weekly=[
            s.WeeklyWindowOut(day=int(day), **s.WindowOut.of(w).model_dump())
            for day in sorted(weekly, key=int)
            for w in weekly[day]
        ],
        overrides=[
            s.OverrideOut(
                date=date.fromisoformat(d), blocked=not ws, windows=[s.WindowOut.of(w) for w in ws]
            )
            for d, ws in sorted(overrides.items())
        ],
    )


def specialist_view(sp: Specialist, r: Revealer) -> s.SpecialistPublic:
    """The public profile; the name and bio read as erased once the specialist is."""
    return profile_view(
        sp.id,
        r.reveal(sp.name),
        sp.timezone,
        sp.specialty,
        r.reveal_optional(sp.bio),
        sp.weekly,
        sp.overrides,
    )


def service_view(sv: Service) -> s.ServicePublic:
    return s.ServicePublic(
        id=sv.id,
        specialist_id=sv.specialist_id,
        team_id=sv.team_id,
        assignment=sv.assignment,
        **asdict(sv.terms),
    )


def team_view(team: Team) -> s.TeamPublic:
    return s.TeamPublic(id=team.id, name=team.name, members=[s.MemberIn(**m) for m in team.members])


def booking_view(
    b: Booking, r: Revealer, model: type[s.BookingPublic] = s.BookingPublic, **extra: Any
) -> Response:
    """A booking as JSON, its personal fields revealed (or erased). Built without
    validation: the aggregate's state was validated on the way in, and validating it
    again (emails above all) was a tenth of a booking's CPU."""
    r.prefetch([b.client, b.answers, b.notes])
    client = {
        **b.client,
        "name": r.reveal(b.client["name"]),
        "email": r.reveal(b.client["email"]),
        "phone": r.reveal_optional(b.client.get("phone")),
    }
    view = model.model_construct(
        id=b.id,
        status=b.status,
        service_id=b.service_id,
        specialist_id=b.specialist_id,
        team_id=b.team_id,
        specialist_ids=b.specialist_ids if b.team_id else [],
        starts_at=b.starts_at,
        ends_at=b.ends_at,
        client=s.ClientIn.model_construct(**client),
        answers={key: r.reveal(value) for key, value in b.answers.items()},
        notes=r.reveal_optional(b.notes),
        history=[s.HistoryEntry.model_construct(status=st, at=at) for st, at in b.history],
        refund_eligible=b.refund_eligible,
        cancellation_reason=b.cancel_reason,
        no_show_party=b.no_show_party,
        **extra,
    )
    return Response(view.model_dump_json(), media_type="application/json")


# --- catalog ------------------------------------------------------------------


@catalog.post("/specialists", status_code=201)
def register_specialist(body: s.SpecialistCreate, ctx: Ctx, _: AdminDep) -> s.SpecialistCreated:
    specialist = ctx.app.specialist(ctx.app.register_specialist(**body.model_dump()))
    r = ctx.personal.revealer()
    return s.SpecialistCreated(
        **specialist_view(specialist, r).model_dump(),
        email=r.reveal(specialist.email),
        notification_id=_position(ctx, specialist),
    )


@catalog.get("/specialists")
def list_specialists(
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[SingleLine | None, Query(max_length=512)] = None,
) -> s.SpecialistPage:
    """Public profiles by name, a page at a time."""
    page, next_cursor = _paged(ctx.directory.specialists(limit + 1, _after(cursor)), limit)
    return s.SpecialistPage(
        specialists=[profile_view(**row) for row in page], next_cursor=next_cursor
    )


def _after(cursor: str | None) -> After | None:
    """Where a page given `cursor` starts; a 422 for a cursor this API did not give."""
    try:
        return decode_cursor(cursor) if cursor is not None else None
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc), {"cursor": cursor}) from None


def _paged(rows: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """A page of rows in (name, id) order, read as `limit` + 1 (the extra one says that
    more follow), and the cursor of the next page, if any."""
    page = rows[:limit]
    more = len(rows) > limit
    return page, encode_cursor((page[-1]["name"], page[-1]["id"])) if more else None


@catalog.get("/specialists/{specialist_id}")
def get_specialist(specialist_id: UUID, ctx: Ctx) -> s.SpecialistPublic:
    return specialist_view(ctx.app.specialist(specialist_id), ctx.personal.revealer())


@catalog.post("/specialists/{specialist_id}/token", tags=["ops"])
def mint_specialist_token(specialist_id: UUID, ctx: Ctx, _: AdminDep) -> dict[str, str]:
    """Admin: a signed JWT for the specialist (until an identity provider issues them)."""
    ctx.app.specialist(specialist_id)
    return {"token": ctx.auth.specialist_token(specialist_id, ctx.clock())}


@catalog.put("/specialists/{specialist_id}/schedule")
def set_schedule(
    specialist_id: UUID, body: s.ScheduleIn, ctx: Ctx, _: SpecialistDep
) -> s.SpecialistChanged:
    specialist = ctx.app.set_schedule(specialist_id, body.timezone, body.by_day())
    return s.SpecialistChanged(
        **specialist_view(specialist, ctx.personal.revealer()).model_dump(),
        notification_id=_position(ctx, specialist),
    )


@catalog.post(
    "/specialists/{specialist_id}/schedule/preview",
    response_model=SlotsPublic,
    responses={
        404: {"description": "not_found: no such specialist, or no such service of theirs"},
        422: {"description": "invalid_schedule, invalid_range or validation_error"},
    },
)
def preview_schedule(
    specialist_id: UUID, body: s.SchedulePreviewIn, ctx: Ctx, _: SpecialistDep
) -> dict[str, Any]:
    """The free slots a service would offer under a schedule before it is saved: the body
    of PUT …/schedule plus the service and dates, answered as GET /v1/slots answers (in
    the proposed zone). A schedule that PUT would refuse is refused with the same error."""
    check_range(body.from_, body.to)
    tz, slots = ctx.app.preview_slots(
        specialist_id,
        (body.timezone, body.by_day()),
        body.service_id,
        (body.from_, body.to),
        ctx.clock(),
    )
    return slots_body(body.service_id, tz, slots)


@catalog.put("/specialists/{specialist_id}/overrides/{day}")
def set_override(
    specialist_id: UUID,
    day: date,
    body: s.OverrideIn,
    ctx: Ctx,
    _: SpecialistDep,
) -> s.OverrideChanged:
    windows = [w.minutes() for w in body.windows]
    specialist = ctx.app.set_override(specialist_id, day, windows)
    return s.OverrideChanged(
        date=day,
        blocked=not windows,
        windows=[s.WindowOut.of(w) for w in windows],
        notification_id=_position(ctx, specialist),
    )


@catalog.delete("/specialists/{specialist_id}/overrides/{day}", status_code=204)
def clear_override(specialist_id: UUID, day: date, ctx: Ctx, _: SpecialistDep) -> Response:
    """204; the change's notification id is in the Kairos-Notification-Id header."""
    specialist = ctx.app.clear_override(specialist_id, day)
    position = _position(ctx, specialist)
    headers = {s.NOTIFICATION_ID_HEADER: str(position)} if position is not None else None
    return Response(status_code=204, headers=headers)


@catalog.post("/services", status_code=201, responses=UNKNOWN_OWNER)
def define_service(body: s.ServiceCreate, ctx: Ctx, _: AdminDep) -> s.ServiceChanged:
    """A specialist's service, or a team's (`team_id` and `assignment` instead)."""
    if body.team_id is not None and body.assignment is not None:
        service = ctx.app.define_team_service(body.team_id, body.assignment, body.terms())
    else:
        assert body.specialist_id is not None  # the body's validator requires one owner
        service = ctx.app.define_service(body.specialist_id, body.terms())
    return _service_changed(ctx, service)


@catalog.get("/services", responses=UNKNOWN_SPECIALIST)
def list_services(specialist_id: UUID, ctx: Ctx) -> s.ServiceList:
    """A specialist's services by name: where a booking page starts."""
    rows = ctx.directory.services_of(specialist_id)
    if rows is None:
        raise ApiError(
            404, "not_found", f"no specialist with id {specialist_id}", {"id": str(specialist_id)}
        )
    return s.ServiceList(
        services=[
            s.ServicePublic(id=row["id"], specialist_id=row["specialist_id"], **row["definition"])
            for row in rows
        ]
    )


@catalog.get("/services/{service_id}")
def get_service(service_id: UUID, ctx: Ctx) -> s.ServicePublic:
    return service_view(ctx.app.service(service_id))


@catalog.patch("/services/{service_id}")
def update_service(
    service_id: UUID, body: s.ServiceUpdate, ctx: Ctx, _: ServiceOwnerDep
) -> s.ServiceChanged:
    try:
        changes = body.changes()
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc)) from None
    return _service_changed(ctx, ctx.app.update_service(service_id, changes))


def _service_changed(ctx: BookingContext, service: Service) -> s.ServiceChanged:
    return s.ServiceChanged(
        **service_view(service).model_dump(), notification_id=_position(ctx, service)
    )


# --- teams --------------------------------------------------------------------


@teams.post("", status_code=201, responses=TEAM_REFUSED)
def form_team(body: s.TeamCreate, ctx: Ctx, _: AdminDep) -> s.TeamChanged:
    team = ctx.app.form_team(body.name, [m.model_dump(mode="json") for m in body.members])
    return _team_changed(ctx, team)


@teams.get("")
def list_teams(
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[SingleLine | None, Query(max_length=512)] = None,
) -> s.TeamPage:
    """Public: the teams by name, each with its members and services, a page at a time."""
    page, next_cursor = _paged(ctx.team_directory.teams(limit + 1, _after(cursor)), limit)
    return s.TeamPage(teams=[s.TeamListing(**row) for row in page], next_cursor=next_cursor)


@teams.get("/{team_id}/profile", responses=UNKNOWN_TEAM)
def get_team_profile(team_id: UUID, ctx: Ctx) -> s.TeamListing:
    """Public: a team's booking page, its members and services."""
    row = ctx.team_directory.team(team_id)
    if row is None:
        raise ApiError(404, "not_found", f"no team with id {team_id}", {"id": str(team_id)})
    return s.TeamListing(**row)


@teams.get("/{team_id}")
def get_team(team_id: UUID, ctx: Ctx, _: AdminDep) -> s.TeamPublic:
    return team_view(ctx.app.team(team_id))


@teams.patch("/{team_id}", responses=TEAM_REFUSED)
def change_team(team_id: UUID, body: s.TeamUpdate, ctx: Ctx, _: AdminDep) -> s.TeamChanged:
    members = None if body.members is None else [m.model_dump(mode="json") for m in body.members]
    return _team_changed(ctx, ctx.app.change_team(team_id, body.name, members))


def _team_changed(ctx: BookingContext, team: Team) -> s.TeamChanged:
    return s.TeamChanged(**team_view(team).model_dump(), notification_id=_position(ctx, team))


# --- bookings -----------------------------------------------------------------


@bookings.post("", status_code=201, response_model=s.BookingCreated, responses=BOOKING_CONFLICT)
def request_booking(
    body: s.BookingCreate, ctx: Ctx, idempotency_key: Annotated[str | None, Header()] = None
) -> Response:
    # One key read, if any, for the fingerprint, the sealing and the answer's view: a
    # request refused before it is sealed (the slot is taken) reads none.
    seal = ctx.personal.sealer(body.client.email)
    request = body.model_dump(mode="json")
    text = canonical(request)
    if idempotency_key:
        booking_id = ctx.idempotency.reserve(idempotency_key, seal.digest(text))
    else:
        booking_id = None
    try:
        placed = ctx.app.request_booking(
            body.service_id,
            body.starts_at,
            request["client"],
            body.answers,
            body.notes,
            now=ctx.clock(),
            request=text,
            booking_id=booking_id,
            sealer=seal,
        )
    except DomainError:
        if idempotency_key:
            ctx.idempotency.forget(idempotency_key)
        raise
    booking, position = placed
    if position is None:  # a retry: answer as the first request was answered
        if booking.fingerprint != seal.digest(text):
            raise KeyReused("this Idempotency-Key was used with a different request body")
        booking, position = ctx.app.booking_as_requested(booking.id)
    response = booking_view(
        booking,
        ctx.personal.revealer(seal),
        s.BookingCreated,
        manage_token=ctx.auth.manage_token(booking.id),
        notification_id=position,
    )
    response.status_code = 201
    return response


@bookings.get("")
def list_bookings(
    ctx: Ctx,
    specialist_id: VisibleSpecialistDep,
    client_email: SingleLine | None = None,
    from_: Annotated[SingleLine | None, Query(alias="from", examples=["2026-12-01"])] = None,
    to: Annotated[SingleLine | None, Query(examples=["2026-12-31", "2026-12-31T18:00:00Z"])] = None,
    status_: Annotated[
        Literal[
            "pending", "confirmed", "in_progress", "completed", "cancelled", "declined", "no_show"
        ]
        | None,
        Query(alias="status"),
    ] = None,
    changed_after: Annotated[
        int | None,
        Query(ge=0, description="Only bookings whose latest change is after this position"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> s.BookingList:
    """Consultation history: an admin sees all; a specialist sees only their own. The list
    is current as of the request (it catches up with the event store when read), so a
    page that follows changes polls it, with `changed_after` for only what changed."""
    rows = ctx.index.bookings(
        BookingFilter(
            specialist_id=specialist_id,
            client_email=client_email,
            starts_from=_instant(from_, end=False),
            starts_before=_instant(to, end=True),
            status=status_,
            changed_after=changed_after,
            limit=limit,
        )
    )
    r = ctx.personal.revealer()
    r.prefetch(
        [[row["client_name"], row["client_email"], row["answers"], row["notes"]] for row in rows]
    )
    return s.BookingList(
        bookings=[
            s.BookingSummary(
                **{
                    **row,
                    "client_name": r.reveal(row["client_name"]),
                    "client_email": r.reveal(row["client_email"]),
                    "answers": {key: r.reveal(value) for key, value in row["answers"].items()},
                    "notes": r.reveal_optional(row["notes"]),
                }
            )
            for row in rows
        ]
    )


def _instant(value: str | None, end: bool) -> datetime | None:
    """A query bound: an instant (UTC if it has no offset), or a date meaning that whole
    UTC day, inclusive. Parsed by hand: a union type would read a date as its midnight."""
    if value is None:
        return None
    try:
        if len(value) == len("YYYY-MM-DD"):
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=UTC)
        instant = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        raise ApiError(
            422,
            "validation_error",
            f"not a date or an ISO 8601 instant: {value!r}",
            {"value": value},
        ) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


@bookings.get("/{booking_id}", response_model=s.BookingPublic)
def get_booking(booking_id: UUID, ctx: Ctx, access: BookingAccessDep) -> Response:
    return booking_view(access.booking, ctx.personal.revealer())


@bookings.post("/{booking_id}/cancel", responses=STATE_CONFLICT)
def cancel_booking(
    booking_id: UUID, ctx: Ctx, access: BookingAccessDep, body: s.CancelIn | None = None
) -> s.CancelOut:
    booking = ctx.app.cancel(
        booking_id, body.reason if body else None, by=access.caller.role, now=ctx.clock()
    )
    return s.CancelOut(
        status="cancelled",
        refund_eligible=bool(booking.refund_eligible),
        notification_id=_position(ctx, booking),
    )


@bookings.post(
    "/{booking_id}/reschedule", response_model=s.BookingPublic, responses=RESCHEDULE_CONFLICT
)
def reschedule_booking(
    booking_id: UUID, body: s.RescheduleIn, ctx: Ctx, _: BookingAccessDep
) -> Response:
    return _changed_view(ctx, ctx.app.reschedule(booking_id, body.starts_at, now=ctx.clock()))


@bookings.post(
    "/{booking_id}/reassign", response_model=s.BookingPublic, responses=REASSIGN_CONFLICT
)
def reassign_booking(booking_id: UUID, body: s.ReassignIn, ctx: Ctx, _: AdminDep) -> Response:
    """Admin: give a round-robin booking to another member of its team who is free then."""
    return _changed_view(ctx, ctx.app.reassign(booking_id, body.specialist_id, now=ctx.clock()))


@bookings.post("/{booking_id}/approve", response_model=s.BookingPublic, responses=STATE_CONFLICT)
def approve_booking(booking_id: UUID, ctx: Ctx, _: BookingStaffDep) -> Response:
    return _changed_view(ctx, ctx.app.approve(booking_id, now=ctx.clock()))


@bookings.post("/{booking_id}/decline", response_model=s.BookingPublic, responses=STATE_CONFLICT)
def decline_booking(
    booking_id: UUID, ctx: Ctx, _: BookingStaffDep, body: s.DeclineIn | None = None
) -> Response:
    return _changed_view(
        ctx, ctx.app.decline(booking_id, body.reason if body else None, now=ctx.clock())
    )


@bookings.post("/{booking_id}/complete", response_model=s.BookingPublic, responses=NOT_YET)
def complete_booking(booking_id: UUID, ctx: Ctx, _: BookingStaffDep) -> Response:
    return _changed_view(ctx, ctx.app.complete(booking_id, now=ctx.clock()))


@bookings.post("/{booking_id}/no-show", response_model=s.BookingPublic, responses=NOT_YET)
def mark_no_show(booking_id: UUID, body: s.NoShowIn, ctx: Ctx, _: BookingStaffDep) -> Response:
    return _changed_view(ctx, ctx.app.mark_no_show(booking_id, body.party, now=ctx.clock()))


def _position(ctx: BookingContext, aggregate: Booking | Specialist | Service | Team) -> int | None:
    """The notification id of the aggregate's latest event: its read-your-writes hint."""
    return notification_id_of(ctx.app, aggregate.id, aggregate.version)


def _changed_view(ctx: BookingContext, booking: Booking) -> Response:
    return booking_view(booking, ctx.personal.revealer(), notification_id=_position(ctx, booking))


# Bookings first: a request is matched against the routes in order, and POST /v1/bookings
# is the hot path (#14).
ROUTERS = (bookings, catalog, teams, privacy, manage_tokens, sign_in)
