"""The OAuth connect and callback routes, and the providers' push webhooks (API.md,
Calendars): Google (google-auth-oauthlib) and Microsoft (msal). A provider without a
configured app registration answers 422 provider_not_configured."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any
from uuid import UUID

import psycopg
from fastapi import APIRouter, BackgroundTasks, Cookie, Header, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from calendar_sync import schemas as s
from calendar_sync.access import require_owner
from calendar_sync.api import public, read_first, write_upcoming_bookings
from calendar_sync.context import Ctx
from calendar_sync.domain import Connection, Provider
from calendar_sync.google_calendar import SCOPES, GoogleCalendars
from calendar_sync.microsoft_calendar import SCOPES as MS_SCOPES
from calendar_sync.microsoft_calendar import MicrosoftApp, first_tokens
from calendar_sync.oauth import STATE_COOKIE, Pending, StateRefused, begin, finish, remember_flow
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


CONSENT_URL: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "With Accept: application/json, {url}: the consent's address, for a"
        " page that holds the specialist's JWT and so cannot follow a redirect with it",
        "content": {"application/json": {"schema": s.ConsentUrl.model_json_schema()}},
    }
}


@oauth.get("/calendars/{provider}/connect", status_code=302, responses=CONSENT_URL)
def connect(
    provider: Provider,
    ctx: Ctx,
    authorization: StaffCredential,
    specialist_id: Annotated[UUID, Query()],
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """302 to the provider's consent, with a state bound to the specialist and this browser."""
    require_owner(ctx, authorization, specialist_id)
    if provider == "caldav" or provider not in ctx.service.providers:
        raise ApiError(422, "provider_not_configured", f"{provider} calendars are not configured")
    with psycopg.connect(ctx.service.settings.database_url) as conn:
        state, verifier = begin(conn, provider, specialist_id, ctx.clock())
        if provider == "google":
            url, _ = _google_flow(ctx, verifier).authorization_url(
                state=state, access_type="offline", include_granted_scopes="true", prompt="consent"
            )
        else:
            flow = (
                _microsoft(ctx)
                .msal_app()
                .initiate_auth_code_flow(
                    MS_SCOPES, redirect_uri=_redirect_uri(ctx, provider), state=state
                )
            )
            remember_flow(conn, state, json.dumps(flow))
            url = flow["auth_uri"]
    response: Response = RedirectResponse(url, status_code=302)
    if accept is not None and "application/json" in accept:
        response = JSONResponse(s.ConsentUrl(url=url).model_dump())
    response.set_cookie(STATE_COOKIE, state, max_age=600, httponly=True, samesite="lax")
    return response


# Where a browser that went through the consent lands: the web app's calendars page
# (same origin), told which connection was made or why none was.
CALENDARS_PAGE = "/calendars"

CALLBACK: dict[int | str, dict[str, Any]] = {
    303: {
        "description": "To a browser (Accept: text/html): back to the web app's calendars"
        " page, `?connected=<connection id>`, or `?failed=<error code>` when the consent"
        " failed"
    },
    403: {"description": "invalid_state: unknown, used or expired state, or another browser"},
    422: {"description": "consent_failed: the provider refused, or gave no code"},
}


@oauth.get("/calendars/{provider}/callback", response_model=s.CalendarPublic, responses=CALLBACK)
def callback(
    provider: Provider,
    ctx: Ctx,
    after: BackgroundTasks,
    state: Annotated[str, Query()],
    code: Annotated[str | None, Query()] = None,
    error: Annotated[str | None, Query(description="The provider's, when consent failed")] = None,
    cookie: Annotated[str | None, Cookie(alias=STATE_COOKIE)] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """The consent's answer: checks the state, stores the tokens sealed, connects (the
    calendar is read once the answer is sent). A browser is sent back to the calendars
    page with the outcome; an API caller gets the connection, or the error."""
    browser = accept is not None and "text/html" in accept
    try:
        connected = _consented(ctx, provider, state, code, error, cookie)
    except ApiError as failed:
        if not browser:
            raise
        return RedirectResponse(f"{CALENDARS_PAGE}?failed={failed.code}", status_code=303)
    read_first(ctx, after, connected.id)
    if browser:
        return RedirectResponse(f"{CALENDARS_PAGE}?connected={connected.id}", status_code=303)
    return connected


def _consented(
    ctx: Ctx,
    provider: Provider,
    state: str,
    code: str | None,
    error: str | None,
    cookie: str | None,
) -> s.CalendarPublic:
    service = ctx.service
    try:
        with psycopg.connect(service.settings.database_url) as conn:
            pending = finish(conn, provider, state, cookie, ctx.clock())
    except StateRefused as refused:
        raise ApiError(403, "invalid_state", str(refused)) from None
    if code is None:
        raise ApiError(
            422, "consent_failed", f"the provider gave no code: {error or 'no reason given'}"
        )
    if provider == "microsoft":
        return _microsoft_callback(ctx, pending, code, state)
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
    return _connected(ctx, pending.specialist_id, "google", account, name, tokens)


def _connected(
    ctx: Ctx,
    specialist_id: UUID,
    provider: Provider,
    account: str,
    name: str | None,
    tokens: dict[str, Any],
) -> s.CalendarPublic:
    """Store a new grant's tokens sealed, connect, start its push channel."""
    service = ctx.service
    service.credentials.put(Connection.create_id(specialist_id, provider, account), tokens)
    connection = service.connections.connect(specialist_id, provider, account, name)
    write_upcoming_bookings(ctx, connection)
    service.watches.start(connection.id)
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


def _microsoft(ctx: Ctx) -> MicrosoftApp:
    app = ctx.service.microsoft
    if app is None:
        raise ApiError(422, "provider_not_configured", "Microsoft calendars are not configured")
    return app


def _microsoft_callback(ctx: Ctx, pending: Pending, code: str, state: str) -> s.CalendarPublic:
    flow = json.loads(pending.code_verifier)  # the whole msal flow, PKCE verifier included
    try:
        tokens = first_tokens(_microsoft(ctx), flow, {"code": code, "state": state})
    except ValueError as refused:
        raise ApiError(422, "consent_failed", f"the provider refused the code: {refused}") from None
    account = tokens.pop("address")
    return _connected(ctx, pending.specialist_id, "microsoft", account, None, tokens)


@oauth.post("/webhooks/microsoft", status_code=202, responses=REFUSED)
async def microsoft_webhook(ctx: Ctx, request: Request) -> Response:
    """Graph's validation handshake (echo the token), change notifications and lifecycle
    notifications; each must carry its subscription's clientState."""
    token = request.query_params.get("validationToken")
    if token is not None:
        return PlainTextResponse(token, status_code=200)
    try:
        notifications = (await request.json())["value"]
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "invalid_notification", "not a Graph notification") from None
    watches, reconciler = ctx.service.watches, ctx.service.reconciler
    verified = [
        (
            await asyncio.to_thread(
                watches.verify_subscription,
                str(n.get("subscriptionId", "")),
                str(n.get("clientState", "")),
            ),
            n,
        )
        for n in notifications
    ]
    if not verified or any(connection_id is None for connection_id, _ in verified):
        raise ApiError(401, "unauthorized", "unknown subscription or wrong clientState")
    for connection_id, notification in verified:
        assert connection_id is not None
        event = notification.get("lifecycleEvent")
        if event in ("reauthorizationRequired", "subscriptionRemoved"):
            await asyncio.to_thread(watches.replace, connection_id)
        else:  # a change, or "missed": read the calendar (in full after missed ones)
            await asyncio.to_thread(reconciler.sync, connection_id, full=event == "missed")
    return Response(status_code=202)
