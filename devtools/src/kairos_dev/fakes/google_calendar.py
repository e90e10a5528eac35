"""A local fake of Google's OAuth endpoints and the Calendar v3 endpoints calendar-sync
uses, for `make dev` and the tests; google-auth-oauthlib and google-api-python-client
talk to it as they talk to Google (`api_endpoint`, `token_uri`, `auth_uri` point here).

Real semantics where they matter to calendar-sync:
- OAuth: the consent screen approves at once (302 to the redirect URI with `code` and
  the caller's `state`); the token endpoint checks the PKCE verifier (S256), hands out
  a refresh token for offline access, refreshes, and answers `invalid_grant` for a
  revoked grant;
- events: `insert` with a given id (409 when it exists), `patch`, `delete` (410 when
  already deleted), `list` with `syncToken` (changes since, deleted ones as
  `cancelled`; `410 Gone` once tokens are expired) or `timeMin`/`timeMax`, paged;
- push: `events.watch` registers a channel; every change of the calendar POSTs a
  notification to its address with X-Goog-Channel-ID, X-Goog-Channel-Token,
  X-Goog-Resource-ID, X-Goog-Resource-State and X-Goog-Message-Number (a `sync`
  message first); `channels.stop` ends it;
- quotas: on demand, the next N API calls answer 429 or 403 rateLimitExceeded with
  Retry-After.
Recurring events are not modelled (the CalDAV path covers recurrence): every event
here is a single one, as `singleEvents=true` returns them.

Test controls under /_fake: write or delete an event as the calendar's owner, revoke
a grant, expire sync tokens, throttle.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

PAGE_SIZE = 250


def _error(status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> Any:
    body = {
        "error": {"code": status, "message": message, "errors": [{"reason": reason}]},
    }
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class Channel:
    id: str
    resource_id: str
    address: str
    token: str
    expiration: datetime
    messages: int = 0


@dataclass
class Calendar:
    owner: str
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed_at: dict[str, int] = field(default_factory=dict)  # event id → change number
    channels: dict[str, Channel] = field(default_factory=dict)


class FakeGoogle:
    """The fake's state; `app` serves it."""

    def __init__(self, channel_lifetime: timedelta = timedelta(days=7)) -> None:
        self.lock = threading.RLock()
        self.calendars: dict[str, Calendar] = {}
        self.codes: dict[str, tuple[str, str]] = {}  # code → (user, PKCE challenge)
        self.refresh_tokens: dict[str, str] = {}  # refresh token → user
        self.access_tokens: dict[str, str] = {}  # access token → user
        self.changes = 0
        self.token_epoch = 0
        self.throttle: list[tuple[int, str, int]] = []  # (status, reason, retry after)
        self.calls: dict[str, int] = {}  # API calls by method, for benchmarks
        self.channel_lifetime = channel_lifetime
        self.next_user = "owner@example.org"
        self.app = self._routes()

    # --- owner-side changes ------------------------------------------------------------

    def calendar(self, user: str) -> Calendar:
        with self.lock:
            return self.calendars.setdefault(user, Calendar(user))

    def write(self, user: str, event: dict[str, Any]) -> None:
        """The owner creates or changes an event in their calendar."""
        with self.lock:
            calendar = self.calendar(user)
            event = {"status": "confirmed", **event}
            calendar.events[event["id"]] = event
            self._changed(calendar, event["id"])

    def remove(self, user: str, event_id: str) -> None:
        with self.lock:
            calendar = self.calendar(user)
            calendar.events[event_id]["status"] = "cancelled"
            self._changed(calendar, event_id)

    def _changed(self, calendar: Calendar, event_id: str) -> None:
        self.changes += 1
        calendar.changed_at[event_id] = self.changes
        for channel in list(calendar.channels.values()):
            self._notify(channel, "exists")

    def _notify(self, channel: Channel, state: str) -> None:
        channel.messages += 1
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Token": channel.token,
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(channel.messages),
            "X-Goog-Channel-Expiration": channel.expiration.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        }

        def send() -> None:
            # Google drops a notification nobody takes.
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(channel.address, headers=headers, timeout=10)

        threading.Thread(target=send, daemon=True).start()

    # --- the HTTP app ------------------------------------------------------------------

    def _user(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        return self.access_tokens.get(header.removeprefix("Bearer ").strip())

    def _sync_token(self) -> str:
        return f"{self.token_epoch}-{self.changes}"

    def _routes(self) -> FastAPI:
        app = FastAPI(title="Fake Google Calendar")
        fake = self

        @app.middleware("http")
        async def api_guard(request: Request, call_next: Any) -> Any:
            path = request.url.path
            if path.startswith("/calendar/v3/"):
                key = f"{request.method} {path.split('/')[-1]}"
                fake.calls[key] = fake.calls.get(key, 0) + 1
                if fake.throttle:
                    status, reason, retry = fake.throttle.pop(0)
                    return _error(
                        status, reason, "Rate Limit Exceeded", {"Retry-After": str(retry)}
                    )
                if fake._user(request) is None:
                    return _error(401, "authError", "Invalid Credentials")
            return await call_next(request)

        @app.get("/o/oauth2/auth")
        def consent(
            redirect_uri: str, state: str, code_challenge: str = "", access_type: str = ""
        ) -> Any:
            code = secrets.token_urlsafe(16)
            fake.codes[code] = (fake.next_user, code_challenge)
            return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}")

        @app.post("/token")
        async def token(request: Request) -> Any:
            # The token endpoint takes a form; parsed here so the fake needs no multipart library.
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            grant = form.get("grant_type")
            if grant == "authorization_code":
                user, challenge = fake.codes.pop(str(form.get("code")), (None, ""))
                verifier = str(form.get("code_verifier") or "")
                digest = hashlib.sha256(verifier.encode()).digest()
                if (
                    user is None
                    or base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge
                ):
                    return JSONResponse({"error": "invalid_grant"}, status_code=400)
                refresh = secrets.token_urlsafe(24)
                fake.refresh_tokens[refresh] = user
            elif grant == "refresh_token":
                refresh = str(form.get("refresh_token"))
                user = fake.refresh_tokens.get(refresh)
                if user is None:
                    return JSONResponse(
                        {
                            "error": "invalid_grant",
                            "error_description": "Token has been expired or revoked.",
                        },
                        status_code=400,
                    )
            else:
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            access = secrets.token_urlsafe(24)
            fake.access_tokens[access] = user
            body = {
                "access_token": access,
                "expires_in": 3599,
                "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/calendar.events",
            }
            if grant == "authorization_code":
                body["refresh_token"] = refresh
            return body

        @app.get("/calendar/v3/calendars/{calendar_id}")
        def calendar_get(calendar_id: str, request: Request) -> Any:
            user = fake._user(request)
            return {"kind": "calendar#calendar", "id": user, "summary": user, "timeZone": "UTC"}

        @app.post("/calendar/v3/calendars/{calendar_id}/events")
        async def insert(calendar_id: str, request: Request) -> Any:
            user = fake._user(request) or ""
            body = await request.json()
            with fake.lock:
                calendar = fake.calendar(user)
                event_id = body.get("id") or secrets.token_hex(16)
                existing = calendar.events.get(event_id)
                if existing is not None and existing["status"] != "cancelled":
                    return _error(409, "duplicate", "The requested identifier already exists.")
                fake.write(user, {**body, "id": event_id})
                return calendar.events[event_id]

        @app.patch("/calendar/v3/calendars/{calendar_id}/events/{event_id}")
        async def patch(calendar_id: str, event_id: str, request: Request) -> Any:
            user = fake._user(request) or ""
            body = await request.json()
            with fake.lock:
                calendar = fake.calendar(user)
                if event_id not in calendar.events:
                    return _error(404, "notFound", "Not Found")
                fake.write(user, {**calendar.events[event_id], **body, "status": "confirmed"})
                return calendar.events[event_id]

        @app.delete("/calendar/v3/calendars/{calendar_id}/events/{event_id}")
        def delete(calendar_id: str, event_id: str, request: Request) -> Any:
            user = fake._user(request) or ""
            with fake.lock:
                event = fake.calendar(user).events.get(event_id)
                if event is None:
                    return _error(404, "notFound", "Not Found")
                if event["status"] == "cancelled":
                    return _error(410, "deleted", "Resource has been deleted")
                fake.remove(user, event_id)
            return Response(status_code=204)

        @app.get("/calendar/v3/calendars/{calendar_id}/events")
        def list_events(
            calendar_id: str,
            request: Request,
            syncToken: str | None = None,
            timeMin: str | None = None,
            timeMax: str | None = None,
            pageToken: str | None = None,
            showDeleted: bool = False,
        ) -> Any:
            user = fake._user(request) or ""
            with fake.lock:
                calendar = fake.calendar(user)
                if syncToken is not None:
                    epoch, _, since = syncToken.partition("-")
                    if int(epoch) != fake.token_epoch:
                        return _error(410, "fullSyncRequired", "Sync token is no longer valid")
                    ids = [i for i, n in calendar.changed_at.items() if n > int(since)]
                else:
                    ids = [
                        i
                        for i, e in calendar.events.items()
                        if (showDeleted or e["status"] != "cancelled")
                        and _within(e, timeMin, timeMax)
                    ]
                start = int(pageToken or 0)
                page = [calendar.events[i] for i in sorted(ids)[start : start + PAGE_SIZE]]
                body: dict[str, Any] = {"kind": "calendar#events", "items": page}
                if start + PAGE_SIZE < len(ids):
                    body["nextPageToken"] = str(start + PAGE_SIZE)
                else:
                    body["nextSyncToken"] = fake._sync_token()
                return body

        @app.post("/calendar/v3/calendars/{calendar_id}/events/watch")
        async def watch(calendar_id: str, request: Request) -> Any:
            user = fake._user(request) or ""
            body = await request.json()
            expiration = datetime.now(UTC) + fake.channel_lifetime
            channel = Channel(
                body["id"], secrets.token_hex(8), body["address"], body.get("token", ""), expiration
            )
            with fake.lock:
                fake.calendar(user).channels[channel.id] = channel
            fake._notify(channel, "sync")
            return {
                "kind": "api#channel",
                "id": channel.id,
                "resourceId": channel.resource_id,
                "resourceUri": f"/calendar/v3/calendars/{calendar_id}/events",
                "token": channel.token,
                "expiration": str(int(expiration.timestamp() * 1000)),
            }

        @app.post("/calendar/v3/channels/stop")
        async def stop(request: Request) -> Any:
            body = await request.json()
            with fake.lock:
                for calendar in fake.calendars.values():
                    calendar.channels.pop(body["id"], None)
            return Response(status_code=204)

        # --- test controls ---

        @app.post("/_fake/users/{user}/events")
        async def owner_writes(user: str, request: Request) -> Any:
            fake.write(user, await request.json())
            return Response(status_code=204)

        @app.delete("/_fake/users/{user}/events/{event_id}")
        def owner_removes(user: str, event_id: str) -> Any:
            fake.remove(user, event_id)
            return Response(status_code=204)

        @app.post("/_fake/users/{user}/revoke")
        def revoke(user: str) -> Any:
            with fake.lock:
                for token, owner in list(fake.refresh_tokens.items()):
                    if owner == user:
                        del fake.refresh_tokens[token]
                for token, owner in list(fake.access_tokens.items()):
                    if owner == user:
                        del fake.access_tokens[token]
            return Response(status_code=204)

        @app.post("/_fake/expire-sync-tokens")
        def expire() -> Any:
            fake.token_epoch += 1
            return Response(status_code=204)

        @app.post("/_fake/throttle")
        def throttle(count: int = 1, status: int = 429, retry_after: int = 1) -> Any:
            reason = "rateLimitExceeded"  # Google says so on 429 and on 403 alike
            fake.throttle.extend([(status, reason, retry_after)] * count)
            return Response(status_code=204)

        @app.post("/_fake/next-user")
        def next_user(user: str) -> Any:
            fake.next_user = user
            return Response(status_code=204)

        @app.get("/healthz")
        def healthz() -> Any:
            return {"status": "ok"}

        return app


def _instant(value: dict[str, Any]) -> datetime:
    if "dateTime" in value:
        return datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
    return datetime.fromisoformat(value["date"]).replace(tzinfo=UTC)


def _within(event: dict[str, Any], time_min: str | None, time_max: str | None) -> bool:
    start, end = _instant(event["start"]), _instant(event["end"])
    low = datetime.fromisoformat(time_min.replace("Z", "+00:00")) if time_min else None
    high = datetime.fromisoformat(time_max.replace("Z", "+00:00")) if time_max else None
    return (low is None or end > low - timedelta(days=1)) and (high is None or start < high)


#: `make dev`'s fake Google: its port, and the client calendar-sync registers with it.
DEV_PORT = 8091
DEV_CLIENT_ID = "kairos-dev.apps.googleusercontent.example"


def dev_settings() -> dict[str, str]:
    """The environment that points calendar-sync's Google client at `make dev`'s fake."""
    url = f"http://127.0.0.1:{DEV_PORT}"
    return {
        "GOOGLE_CLIENT_ID": DEV_CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": "dev-only-not-a-secret",
        "GOOGLE_AUTH_URI": f"{url}/o/oauth2/auth",
        "GOOGLE_TOKEN_URI": f"{url}/token",
        "GOOGLE_API_URL": f"{url}/calendar/v3/",
        # oauthlib refuses plain-HTTP token endpoints unless told: the fake is local.
        "OAUTHLIB_INSECURE_TRANSPORT": "1",
    }


def main() -> None:
    """`python -m kairos_dev.fakes.google_calendar PORT`: the fake, until stopped."""
    import sys

    import uvicorn

    uvicorn.run(FakeGoogle().app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")


if __name__ == "__main__":
    main()
