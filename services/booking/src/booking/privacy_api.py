"""HTTP routes of personal-data erasure (API.md, Privacy): admin only."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from booking import schemas as s
from booking.access import AdminDep
from booking.context import Ctx
from kairos.web import ApiError

privacy = APIRouter(prefix="/v1/privacy", tags=["privacy"])

UNKNOWN_ERASURE: dict[int | str, dict[str, str]] = {
    404: {"description": "not_found: no erasure has that id"}
}


@privacy.post("/erasures", status_code=202)
def request_erasure(body: s.ErasureCreate, ctx: Ctx, _: AdminDep) -> s.ErasureCreated:
    """Forget a person (ARCHITECTURE.md rule 7): their personal data becomes unreadable in
    every store, topic and read model; follow the erasure's state at its id."""
    return s.ErasureCreated(id=ctx.erasures.erase(str(body.email), ctx.clock()))


@privacy.get("/erasures/{erasure_id}", responses=UNKNOWN_ERASURE)
def erasure_status(erasure_id: UUID, ctx: Ctx, _: AdminDep) -> s.ErasureStatusOut:
    status = ctx.erasures.status(erasure_id)
    if status is None:
        raise ApiError(
            404, "not_found", f"no erasure with id {erasure_id}", {"id": str(erasure_id)}
        )
    return s.ErasureStatusOut(state=status.state, services=status.services)
