"""A fake of Twilio's Messages API: what the official SDK posts to, answered in Twilio's
shape, and status callbacks signed the way Twilio signs them.

    TWILIO_AUTH_TOKEN=… python -m kairos_dev.fakes.twilio_api --port 8026

Point the SDK at it with `client.api.base_url = "http://127.0.0.1:8026"`. It checks
the account's Basic credentials (the auth token is the one it signs callbacks with),
refuses a `To` that is not E.164 (Twilio's error 21211), and after accepting a
message posts `sent` then `delivered` to its `StatusCallback` with an
`X-Twilio-Signature`. `GET /dev/sms/messages` lists what it received, newest first.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse

from kairos_dev.fakes.recorded import Recorded
from kairos_dev.fakes.server import app_with_health, arguments, message_routes, serve

API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's request signature: HMAC-SHA1 over the URL and the sorted form fields."""
    payload = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Sms:
    sid: str
    account_sid: str
    sender: str
    to: str
    body: str
    status_callback: str | None
    status: str = "queued"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    callbacks: list[dict[str, Any]] = field(default_factory=list)

    def resource(self) -> dict[str, Any]:
        """The Message resource as Twilio returns it."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": format_datetime(self.created),
            "date_sent": None,
            "date_updated": format_datetime(self.created),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.sender,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(max(1, -(-len(self.body) // 160))),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": self.to,
            "uri": uri,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.sid,
            "from": self.sender,
            "to": self.to,
            "body": self.body,
            "status": self.status,
            "date": self.created.isoformat().replace("+00:00", "Z"),
            "status_callback": self.status_callback,
            "callbacks": self.callbacks,
        }


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "more_info": f"errors/{code}", "status": status},
        status_code=status,
    )


def _credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return None
    return user, password


def twilio_app(auth_token: str, messages: Recorded[Sms] | None = None) -> FastAPI:
    app = app_with_health("Kairos dev Twilio Messages API")
    log: Recorded[Sms] = messages if messages is not None else Recorded()

    async def report(sms: Sms) -> None:
        assert sms.status_callback is not None
        async with httpx.AsyncClient(timeout=5) as client:
            for status in ("sent", "delivered"):
                sms.status = status
                params = {
                    "AccountSid": sms.account_sid,
                    "ApiVersion": API_VERSION,
                    "From": sms.sender,
                    "MessageSid": sms.sid,
                    "MessageStatus": status,
                    "SmsSid": sms.sid,
                    "SmsStatus": status,
                    "To": sms.to,
                }
                headers = {"X-Twilio-Signature": signature(auth_token, sms.status_callback, params)}
                try:
                    answer = await client.post(sms.status_callback, data=params, headers=headers)
                    sms.callbacks.append({"status": status, "response_status": answer.status_code})
                except httpx.HTTPError as exc:
                    sms.callbacks.append({"status": status, "error": type(exc).__name__})
                await asyncio.sleep(0)

    @app.post(f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json", status_code=201)
    async def create_message(
        account_sid: str, request: Request, background: BackgroundTasks
    ) -> Any:
        credentials = _credentials(request)
        if credentials is None or not hmac.compare_digest(credentials[1], auth_token):
            return _error(401, 20003, "Authenticate")
        # The SDK posts a urlencoded form (parsed here: no multipart parser needed).
        form = dict(parse_qsl((await request.body()).decode()))
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        status_callback = form.get("StatusCallback")
        if not E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        sms = log.add(
            Sms("SM" + secrets.token_hex(16), account_sid, sender, to, body, status_callback)
        )
        if status_callback:
            background.add_task(report, sms)
        return sms.resource()

    message_routes(app, "/dev/sms/messages", log)

    return app


def main() -> None:
    parser = arguments("A fake of Twilio's Messages API, listing what it got at /dev/sms")
    parser.add_argument(
        "--auth-token",
        default=os.environ.get("TWILIO_AUTH_TOKEN"),
        help="the account's auth token (default: $TWILIO_AUTH_TOKEN)",
    )
    options = parser.parse_args()
    if not options.auth_token:
        parser.error("an auth token is required (--auth-token or TWILIO_AUTH_TOKEN)")
    serve(twilio_app(options.auth_token), options.host, options.port)


if __name__ == "__main__":
    main()
