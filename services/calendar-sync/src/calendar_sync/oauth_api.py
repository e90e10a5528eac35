"""The OAuth connect and callback routes, and the providers' push webhooks (API.md,
Calendars). Google here; Microsoft answers 422 provider_not_configured until its
provider lands (see the issue's report)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import psycopg
from fastapi import APIRouter, Cookie, Header, Query, Response
from fastapi.responses import RedirectResponse
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from calendar_sync import schemas as s
from calendar_sync.access import require_owner
from calendar_sync.api import public
from calendar_sync.context import Ctx
from calendar_sync.domain import Connection, Provider
from calendar_sync.google_calendar import SCOPES, GoogleCalendars
from calendar_sync.oauth import STATE_COOKIE, StateRefused, begin, finish
from kairos.web import ApiError
from kairos.web.security import StaffCredential

oauth = APIRouter(prefix="/v1", tags=["calendars"])

REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"description": "The notification does not carry its channel's token"}
}


def _redirect_uri(ctx: Ctx, provider: str) -> str:
    return (
        f"{ctx.service.settings.calendar_public_url.rstrip('/')}/v1/calendars/{provider}/callback"
    )


def _google_flow(ctx: Ctx, verifier: str) -> Flow:
    app = ctx.service.google
    if app is None:
        raise ApiError(422, "provider_not_configured", "Google calendars are not configured")
    redirect = _redirect_uri(ctx, "google")
    return Flow.from_client_config(
        app.client_config(redirect), scopes=SCOPES, redirect_uri=redirect, code_verifier=verifier
    )


@oauth.get("/calendars/{provider}/connect", status_code=302)
def connect(
    provider: Provider,
    ctx: Ctx,
    authorization: StaffCredential,
    specialist_id: Annotated[UUID, Query()],
) -> Response:
    """302 to the provider's consent, with a state bound to the specialist and this browser."""
    require_owner(ctx, authorization, specialist_id)
    if provider != "google":
        raise ApiError(422, "provider_not_configured", f"{provider} calendars are not configured")
    with psycopg.connect(ctx.service.settings.database_url) as conn:
        state, verifier = begin(conn, provider, specialist_id, ctx.clock())
    url, _ = _google_flow(ctx, verifier).authorization_url(
        state=state, access_type="offline", include_granted_scopes="true", prompt="consent"
    )
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(STATE_COOKIE, state, max_age=600, httponly=True, samesite="lax")
    return response


@oauth.get("/calendars/{provider}/callback", response_model=s.CalendarPublic)
def callback(
    provider: Provider,
    ctx: Ctx,
    code: Annotated[str, Query()],
    state: Annotated[str, Query()],
    cookie: Annotated[str | None, Cookie(alias=STATE_COOKIE)] = None,
) -> Any:
    """The consent's answer: checks the state, stores the tokens sealed, connects."""
    service = ctx.service
    try:
        with psycopg.connect(service.settings.database_url) as conn:
            pending = finish(conn, provider, state, cookie, ctx.clock())
    except StateRefused as refused:
        raise ApiError(403, "invalid_state", str(refused)) from None
    flow = _google_flow(ctx, pending.code_verifier)
    try:
        flow.fetch_token(code=code)
    except OAuth2Error as refused:
        raise ApiError(
            422, "consent_failed", f"the provider refused the code: {refused.error}"
        ) from None
    tokens = {"token": flow.credentials.token, "refresh_token": flow.credentials.refresh_token}
    google = service.providers["google"]
    assert isinstance(google, GoogleCalendars)
    account, name = google.account(tokens)
    connection_id = Connection.create_id(pending.specialist_id, "google", account)
    service.credentials.put(connection_id, tokens)
    connection = service.connections.connect(pending.specialist_id, "google", account, name)
    service.watches.start(connection.id)
    service.reconciler.sync(connection.id, full=True)
    return public(ctx, service.connections.connection(connection.id))


@oauth.post("/webhooks/google", status_code=200, responses=REFUSED)
def google_webhook(
    ctx: Ctx,
    channel_id: Annotated[str, Header(alias="X-Goog-Channel-ID")] = "",
    token: Annotated[str, Header(alias="X-Goog-Channel-Token")] = "",
    state: Annotated[str, Header(alias="X-Goog-Resource-State")] = "",
) -> Response:
    """A channel's notification: its token is checked, then the calendar is read."""
    connection_id = ctx.service.watches.verify(channel_id, token)
    if connection_id is None:
        raise ApiError(401, "unauthorized", "unknown channel or wrong channel token")
    if state != "sync":  # "sync" only says the channel works
        ctx.service.reconciler.sync(connection_id)
    return Response(status_code=200)
