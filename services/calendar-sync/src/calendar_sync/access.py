"""Who may manage a specialist's calendars: that specialist, or an admin.

Refusals are 401 without a proven identity and 403 with one that may not do this, as
in the other services: a client's current manage token proves its holder (booking
answers which token is current, kairos.booking_client), who is refused with 403; a
revoked one proves no one (401).
"""

from __future__ import annotations

from uuid import UUID

from calendar_sync.context import Ctx
from kairos.auth import Caller
from kairos.booking_client import request_generations
from kairos.web.security import StaffCredential, refused


def known_caller(ctx: Ctx, authorization: StaffCredential) -> Caller:
    """The caller the credential proves; 401 when it proves no one."""
    caller = ctx.auth.caller(authorization, request_generations(ctx.booking))
    if caller is None:
        raise refused(caller)
    return caller


def require_owner(ctx: Ctx, authorization: StaffCredential, specialist_id: UUID) -> None:
    """401 without a proven identity, 403 for a caller who is not that specialist or an admin."""
    caller = known_caller(ctx, authorization)
    if not (caller.is_admin or caller.is_specialist(specialist_id)):
        raise refused(caller)
