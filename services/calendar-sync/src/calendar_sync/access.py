"""Who may manage a specialist's calendars: that specialist, or an admin."""

from __future__ import annotations

from uuid import UUID

from calendar_sync.context import Ctx
from kairos.web import ApiError
from kairos.web.security import StaffCredential


def require_owner(ctx: Ctx, authorization: StaffCredential, specialist_id: UUID) -> None:
    """401 without a proven identity, 403 for a caller who is not that specialist or an admin."""
    caller = ctx.auth.caller(authorization)
    if caller is None:
        raise ApiError(401, "unauthorized", "send a valid credential: Authorization: Bearer …")
    if not (caller.is_admin or caller.is_specialist(specialist_id)):
        raise ApiError(403, "forbidden", "these credentials do not give access to these calendars")
