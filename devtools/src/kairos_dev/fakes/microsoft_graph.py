"""A local fake of the Microsoft identity platform (v2.0 authorize/token, OpenID discovery)
and of the Graph calendar endpoints calendar-sync uses, for `make dev` and the tests.
msal and calendar-sync's Graph client talk to it over HTTPS (kairos_dev.fakes.tls:
msal accepts only https authorities), trusting its certificate.

Real semantics where they matter to calendar-sync:
- sign-in: the consent approves at once; the token endpoint checks the PKCE verifier,
  answers with an id_token (carrying the flow's nonce) and client_info as msal expects,
  refreshes, and answers `invalid_grant` for a revoked grant;
- events: create with `transactionId` (a second create with the same one returns the
  first event, as Graph does), update, delete (404 when gone), the
  `singleValueExtendedProperties` filter calendar-sync finds its events by;
- `calendarView` (paged) and `calendarView/delta` (deltaLink; `410` once expired);
- subscriptions: creation first POSTs `?validationToken=` to the notification URL and
  needs it echoed as text/plain (else 400); each change POSTs a notification with the
  subscription's clientState; lifecycle notifications (reauthorizationRequired,
  subscriptionRemoved, missed) on demand; renewal by PATCH; DELETE;
- quotas: on demand, the next N Graph calls answer 429 with Retry-After.
Recurring series are not modelled (instances only, as calendarView returns them).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from kairos_dev.fakes.tls import self_signed

TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
PAGE_SIZE = 500


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> Any:
    return JSONResponse({"error": {"code": code, "message": code}}, status, headers=headers)


@dataclass
class Subscription:
    id: str
    user: str
    notification_url: str
    lifecycle_url: str | None
    client_state: str
    expiration: datetime


@dataclass
class Mailbox:
    user: str
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed_at: dict[str, int] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)


class FakeMicrosoft:
    def __init__(self, base_url: str = "", verify: Any = True) -> None:
        self.base_url = base_url  # https://127.0.0.1:<port>, set once served
        self.verify = verify  # how the fake trusts the webhook it posts to
        self.lock = threading.RLock()
        self.mailboxes: dict[str, Mailbox] = {}
        self.codes: dict[str, tuple[str, str, str]] = {}  # code → (user, challenge, nonce)
        self.refresh_tokens: dict[str, str] = {}
        self.access_tokens: dict[str, str] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.transactions: dict[str, str] = {}  # transactionId → event id
        self.changes = 0
        self.delta_epoch = 0
        self.throttle: list[int] = []  # Retry-After seconds of the next 429s
        self.calls: dict[str, int] = {}
        self.next_user = "owner@example.org"
        self.app = self._routes()

    # --- the owner's side -------------------------------------------------------------

    def mailbox(self, user: str) -> Mailbox:
        with self.lock:
            return self.mailboxes.setdefault(user, Mailbox(user))

    def write(self, user: str, event: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            box = self.mailbox(user)
            stored = {"showAs": "busy", "isCancelled": False, "isAllDay": False, **event}
            box.events[stored["id"]] = stored
            box.deleted.discard(stored["id"])
            self._changed(box, stored["id"], "updated")
            return stored

    def remove(self, user: str, event_id: str) -> None:
        with self.lock:
            box = self.mailbox(user)
            box.events.pop(event_id, None)
            box.deleted.add(event_id)
            self._changed(box, event_id, "deleted")

    def _changed(self, box: Mailbox, event_id: str, change: str) -> None:
        self.changes += 1
        box.changed_at[event_id] = self.changes
        for subscription in list(self.subscriptions.values()):
            if subscription.user == box.user:
                self._post(
                    subscription.notification_url,
                    {
                        "value": [
                            {
                                "subscriptionId": subscription.id,
                                "clientState": subscription.client_state,
                                "changeType": change,
                                "resource": f"Users/{box.user}/Events/{event_id}",
                                "tenantId": TENANT,
                            }
                        ]
                    },
                )

    def lifecycle(self, user: str, event: str) -> None:
        """Send a lifecycle notification (reauthorizationRequired, subscriptionRemoved,
        missed) for the user's subscriptions."""
        for subscription in list(self.subscriptions.values()):
            if subscription.user == user and subscription.lifecycle_url:
                if event == "subscriptionRemoved":
                    self.subscriptions.pop(subscription.id, None)
                self._post(
                    subscription.lifecycle_url,
                    {
                        "value": [
                            {
                                "subscriptionId": subscription.id,
                                "clientState": subscription.client_state,
                                "lifecycleEvent": event,
                                "tenantId": TENANT,
                            }
                        ]
                    },
                )

    def _post(self, url: str, body: dict[str, Any]) -> None:
        def send() -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(url, json=body, timeout=10)

        threading.Thread(target=send, daemon=True).start()

    # --- identity -----------------------------------------------------------------------

    def _id_token(self, user: str, client_id: str, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": f"{self.base_url}/{TENANT}/v2.0",
            "aud": client_id,
            "sub": hashlib.sha256(user.encode()).hexdigest()[:32],
            "oid": hashlib.md5(user.encode()).hexdigest(),
            "tid": TENANT,
            "preferred_username": user,
            "nonce": nonce,
            "iat": now,
            "exp": now + 3600,
        }
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."

    def _user(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        return self.access_tokens.get(header.removeprefix("Bearer ").strip())

    def _delta_link(self, user: str, start: str, end: str) -> str:
        query = urlencode(
            {
                "startDateTime": start,
                "endDateTime": end,
                "$deltatoken": f"{self.delta_epoch}-{self.changes}",
            }
        )
        return f"{self.base_url}/v1.0/me/calendarView/delta?{query}"

    def _routes(self) -> FastAPI:
        app = FastAPI(title="Fake Microsoft identity and Graph")
        fake = self

        @app.middleware("http")
        async def graph_guard(request: Request, call_next: Any) -> Any:
            if request.url.path.startswith("/v1.0/"):
                key = f"{request.method} {request.url.path.split('/')[-1]}"
                fake.calls[key] = fake.calls.get(key, 0) + 1
                if fake.throttle:
                    retry = fake.throttle.pop(0)
                    return _error(429, "TooManyRequests", {"Retry-After": str(retry)})
                if fake._user(request) is None:
                    return _error(401, "InvalidAuthenticationToken")
            return await call_next(request)

        @app.get("/{tenant}/v2.0/.well-known/openid-configuration")
        def openid(tenant: str) -> Any:
            base = f"{fake.base_url}/{tenant}"
            return {
                "issuer": f"{fake.base_url}/{TENANT}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
            }

        @app.get("/{tenant}/oauth2/v2.0/authorize")
        def authorize(
            tenant: str, redirect_uri: str, state: str, code_challenge: str = "", nonce: str = ""
        ) -> Any:
            code = secrets.token_urlsafe(16)
            fake.codes[code] = (fake.next_user, code_challenge, nonce)
            return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}")

        @app.post("/{tenant}/oauth2/v2.0/token")
        async def token(tenant: str, request: Request) -> Any:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
            client_id = form.get("client_id", "")
            nonce = ""
            if form.get("grant_type") == "authorization_code":
                user, challenge, nonce = fake.codes.pop(form.get("code", ""), (None, "", ""))
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                if user is None or expected != challenge:
                    return JSONResponse({"error": "invalid_grant"}, status_code=400)
            elif form.get("grant_type") == "refresh_token":
                user = fake.refresh_tokens.get(form.get("refresh_token", ""))
                if user is None:
                    return JSONResponse(
                        {"error": "invalid_grant", "error_description": "AADSTS50173: revoked"},
                        status_code=400,
                    )
            else:
                return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
            access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
            fake.access_tokens[access] = user
            fake.refresh_tokens[refresh] = user
            oid = hashlib.md5(user.encode()).hexdigest()
            return {
                "token_type": "Bearer",
                "scope": form.get("scope", ""),
                "expires_in": 3600,
                "access_token": access,
                "refresh_token": refresh,
                "id_token": fake._id_token(user, client_id, nonce),
                "client_info": _b64({"uid": oid, "utid": TENANT}),
            }

        # --- Graph ---

        @app.get("/v1.0/me")
        def me(request: Request) -> Any:
            user = fake._user(request)
            return {"id": user, "mail": user, "userPrincipalName": user, "displayName": user}

        @app.post("/v1.0/me/events", status_code=201)
        async def create(request: Request) -> Any:
            user = fake._user(request) or ""
            body = await request.json()
            with fake.lock:
                transaction = body.get("transactionId")
                if transaction and transaction in fake.transactions:
                    existing = fake.mailbox(user).events.get(fake.transactions[transaction])
                    if existing is not None:
                        return existing
                event_id = "AAMk" + secrets.token_hex(16)
                if transaction:
                    fake.transactions[transaction] = event_id
                return fake.write(user, {**body, "id": event_id})

        @app.get("/v1.0/me/events")
        def find(request: Request) -> Any:
            user = fake._user(request) or ""
            wanted = request.query_params.get("$filter", "")
            with fake.lock:
                found = [
                    e
                    for e in fake.mailbox(user).events.values()
                    if any(
                        f"ep/value eq '{p['value']}'" in wanted
                        for p in e.get("singleValueExtendedProperties", [])
                    )
                ]
            return {"value": found}

        @app.patch("/v1.0/me/events/{event_id}")
        async def update(event_id: str, request: Request) -> Any:
            user = fake._user(request) or ""
            body = await request.json()
            with fake.lock:
                current = fake.mailbox(user).events.get(event_id)
                if current is None:
                    return _error(404, "ErrorItemNotFound")
                return fake.write(user, {**current, **body})

        @app.delete("/v1.0/me/events/{event_id}")
        def delete(event_id: str, request: Request) -> Any:
            user = fake._user(request) or ""
            with fake.lock:
                if event_id not in fake.mailbox(user).events:
                    return _error(404, "ErrorItemNotFound")
                fake.remove(user, event_id)
            return Response(status_code=204)

        def _view(user: str, start: str, end: str) -> list[dict[str, Any]]:
            low, high = _at(start), _at(end)
            return [
                e
                for e in fake.mailbox(user).events.values()
                if _at(e["start"]["dateTime"]) < high and low < _at(e["end"]["dateTime"])
            ]

        @app.get("/v1.0/me/calendarView")
        def calendar_view(
            request: Request,
            startDateTime: str,
            endDateTime: str,
            skip: int = 0,
        ) -> Any:
            user = fake._user(request) or ""
            with fake.lock:
                items = sorted(_view(user, startDateTime, endDateTime), key=lambda e: e["id"])
            body: dict[str, Any] = {"value": items[skip : skip + PAGE_SIZE]}
            if skip + PAGE_SIZE < len(items):
                query = urlencode(
                    {
                        "startDateTime": startDateTime,
                        "endDateTime": endDateTime,
                        "skip": skip + PAGE_SIZE,
                    }
                )
                body["@odata.nextLink"] = f"{fake.base_url}/v1.0/me/calendarView?{query}"
            return body

        @app.get("/v1.0/me/calendarView/delta")
        def delta(request: Request, startDateTime: str, endDateTime: str) -> Any:
            user = fake._user(request) or ""
            token = request.query_params.get("$deltatoken")
            with fake.lock:
                box = fake.mailbox(user)
                if token is None:
                    items = _view(user, startDateTime, endDateTime)
                else:
                    epoch, _, since = token.partition("-")
                    if int(epoch) != fake.delta_epoch:
                        return _error(410, "SyncStateNotFound")
                    items = [
                        box.events.get(i, {"id": i, "@removed": {"reason": "deleted"}})
                        for i, n in box.changed_at.items()
                        if n > int(since)
                    ]
                return {
                    "value": items,
                    "@odata.deltaLink": fake._delta_link(user, startDateTime, endDateTime),
                }

        @app.post("/v1.0/subscriptions", status_code=201)
        async def subscribe(request: Request) -> Any:
            user = fake._user(request) or ""
            body = await request.json()
            url = body["notificationUrl"]
            challenge = secrets.token_urlsafe(12)
            try:
                echoed = httpx.post(url, params={"validationToken": challenge}, timeout=10)
            except httpx.HTTPError:
                return _error(400, "ValidationError")
            if echoed.status_code != 200 or echoed.text != challenge:
                return _error(400, "ValidationError")
            subscription = Subscription(
                secrets.token_hex(16),
                user,
                url,
                body.get("lifecycleNotificationUrl"),
                body.get("clientState", ""),
                _at(body["expirationDateTime"]),
            )
            fake.subscriptions[subscription.id] = subscription
            return {
                "id": subscription.id,
                "resource": body["resource"],
                "expirationDateTime": body["expirationDateTime"],
                "clientState": subscription.client_state,
            }

        @app.patch("/v1.0/subscriptions/{subscription_id}")
        async def renew(subscription_id: str, request: Request) -> Any:
            body = await request.json()
            subscription = fake.subscriptions.get(subscription_id)
            if subscription is None:
                return _error(404, "ResourceNotFound")
            subscription.expiration = _at(body["expirationDateTime"])
            return {"id": subscription_id, "expirationDateTime": body["expirationDateTime"]}

        @app.delete("/v1.0/subscriptions/{subscription_id}")
        def unsubscribe(subscription_id: str) -> Any:
            if fake.subscriptions.pop(subscription_id, None) is None:
                return _error(404, "ResourceNotFound")
            return Response(status_code=204)

        # --- test controls ---

        @app.post("/_fake/users/{user}/events")
        async def owner_writes(user: str, request: Request) -> Any:
            fake.write(user, await request.json())
            return Response(status_code=204)

        @app.post("/_fake/users/{user}/revoke")
        def revoke(user: str) -> Any:
            with fake.lock:
                for tokens in (fake.refresh_tokens, fake.access_tokens):
                    for token, owner in list(tokens.items()):
                        if owner == user:
                            del tokens[token]
            return Response(status_code=204)

        @app.post("/_fake/users/{user}/lifecycle")
        def send_lifecycle(user: str, event: str) -> Any:
            fake.lifecycle(user, event)
            return Response(status_code=204)

        @app.post("/_fake/expire-delta")
        def expire() -> Any:
            fake.delta_epoch += 1
            return Response(status_code=204)

        @app.post("/_fake/throttle")
        def throttle(count: int = 1, retry_after: int = 1) -> Any:
            fake.throttle.extend([retry_after] * count)
            return Response(status_code=204)

        @app.get("/healthz")
        def healthz() -> Any:
            return {"status": "ok"}

        return app


def _at(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def expires_in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


#: `make dev`'s fake Microsoft: its port, and the client calendar-sync registers with it.
DEV_PORT = 8092
DEV_CLIENT_ID = "00000000-0000-4000-8000-00000000cafe"


def dev_settings(state: Path) -> dict[str, str]:
    """The environment that points calendar-sync's Microsoft client at `make dev`'s fake."""
    url = f"https://127.0.0.1:{DEV_PORT}"
    certificate, _ = self_signed(state / "fake-tls")
    return {
        "MICROSOFT_CLIENT_ID": DEV_CLIENT_ID,
        "MICROSOFT_CLIENT_SECRET": "dev-only-not-a-secret",
        "MICROSOFT_AUTHORITY": f"{url}/common",
        "MICROSOFT_GRAPH_URL": url,
        "MICROSOFT_CA_BUNDLE": str(certificate),
    }


def main() -> None:
    """`python -m kairos_dev.fakes.microsoft_graph PORT STATE_DIR`: the fake over HTTPS."""
    import sys

    import uvicorn

    port, state = int(sys.argv[1]), Path(sys.argv[2])
    certificate, key = self_signed(state / "fake-tls")
    fake = FakeMicrosoft(f"https://127.0.0.1:{port}")
    uvicorn.run(
        fake.app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ssl_certfile=str(certificate),
        ssl_keyfile=str(key),
    )


if __name__ == "__main__":
    main()
