"""The API's credentials as OpenAPI security schemes, and the dependency routes read them by.

All three are `Authorization: Bearer …` (API.md, Auth); they differ in what the
token is. A dependency declares which of them it accepts by its parameter's type,

    def _any_party(booking_id: UUID, authorization: AnyCredential) -> BookingAccess: ...

and gets the raw header value to check (kairos.auth.Authenticator), while the
OpenAPI operation of every route using it lists those schemes as alternatives
(a service wraps them in caller dependencies such as `AdminDep`). kairos.web.openapi then
documents 401 and 403 for every operation that has a security requirement, so
neither is listed by hand.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer

from kairos.auth import Caller
from kairos.web.errors import ApiError


class BearerScheme(HTTPBearer):
    """An `http bearer` security scheme whose dependency value is the raw Authorization
    header: the route decides what the credential proves, not this class."""

    def __init__(self, name: str, format: str, description: str) -> None:
        super().__init__(
            scheme_name=name, bearerFormat=format, description=description, auto_error=False
        )

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return request.headers.get("authorization")


ADMIN_KEY = BearerScheme(
    "adminKey",
    "API key",
    "The admin API key (ADMIN_API_KEY) as `Authorization: Bearer <key>`: catalog and ops.",
)
SPECIALIST_JWT = BearerScheme(
    "specialistJwt",
    "JWT",
    "A specialist's signed JWT (`sub` = specialist id, `role` = `specialist`) as"
    " `Authorization: Bearer <jwt>`: that specialist's schedule, services and bookings.",
)
MANAGE_TOKEN = BearerScheme(
    "manageToken",
    "signed booking token",
    "A booking's `manage_token` (returned when it is requested) as"
    " `Authorization: Bearer <token>`: that one booking's read, cancel and reschedule."
    " It names its booking and is signed (`<booking id>.<generation>.<signature>`), so"
    " one of another booking is refused with 403, a forged or replaced one with 401.",
)


def bearer(*schemes: BearerScheme) -> Any:
    """A dependency giving the Authorization header (or None), documented as accepting
    any one of `schemes` (OpenAPI lists security requirements as alternatives)."""

    async def authorization(request: Request, **_: str | None) -> str | None:
        return request.headers.get("authorization")

    # FastAPI reads dependencies from the signature: one Security per scheme, so each
    # becomes a requirement of the operation.
    authorization.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
            ),
            *(
                inspect.Parameter(
                    f"_{scheme.scheme_name}",
                    inspect.Parameter.KEYWORD_ONLY,
                    default=Security(scheme),
                    annotation=str | None,
                )
                for scheme in schemes
            ),
        ]
    )
    return Depends(authorization)


AdminCredential = Annotated[str | None, bearer(ADMIN_KEY)]
StaffCredential = Annotated[str | None, bearer(ADMIN_KEY, SPECIALIST_JWT)]
AnyCredential = Annotated[str | None, bearer(ADMIN_KEY, SPECIALIST_JWT, MANAGE_TOKEN)]


def refused(caller: Caller | None) -> ApiError:
    """The refusal of a caller dependency: 401 when the request proves no identity (no
    credential, or one that is invalid, expired, or for another issuer, audience or
    booking), 403 when it does but that caller may not do this."""
    if caller is not None:
        return ApiError(403, "forbidden", "these credentials do not give access to this resource")
    return ApiError(
        401, "unauthorized", "send a valid credential: Authorization: Bearer <credential>"
    )
