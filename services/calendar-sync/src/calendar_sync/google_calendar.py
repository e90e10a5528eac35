"""Google Calendar through google-api-python-client (the real SDK; `make dev` and the tests
point it at kairos_dev.fakes.google_calendar).

Writes: `events.insert` with the event id derived from the booking and connection
(CalendarEvent.uid: base32hex), so a retry finds its own event (409) and patches it
instead of adding one; `events.patch`; `events.delete` (404/410: already gone).
Reads: `events.list` with `singleEvents=true` (recurrences as their instances);
`sync_token` asks for the changes since the last `nextSyncToken` (a full list again
after `410 Gone`). Push: `events.watch` channels whose token calendar-sync checks on
every notification (calendar_sync.webhooks). Refused grants (`invalid_grant` on
refresh) are CalendarAccessLost; 429 and 403 rateLimitExceeded are
TransientEffectError with the Retry-After asked for, and are counted.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from calendar_sync.ical_busy import OWN_UID_PREFIX
from calendar_sync.throttling import throttled
from kairos.effects import TransientEffectError
from kairos.providers.calendar import BusyTime, CalendarAccessLost, CalendarEvent, Watch
from kairos.timezones import local_to_utc, zone

SCOPES = ["https://www.googleapis.com/auth/calendar.events"]
GOOGLE_API = "https://www.googleapis.com/calendar/v3/"


@dataclass(frozen=True)
class GoogleApp:
    """calendar-sync's OAuth client and the endpoints (Google's unless told otherwise)."""

    client_id: str
    client_secret: str
    auth_uri: str = "https://accounts.google.com/o/oauth2/auth"
    token_uri: str = "https://oauth2.googleapis.com/token"
    api_url: str = GOOGLE_API

    def client_config(self, redirect_uri: str) -> dict[str, Any]:
        return {
            "web": {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "auth_uri": self.auth_uri,
                "token_uri": self.token_uri,
                "redirect_uris": [redirect_uri],
            }
        }


def _reason(error: HttpError) -> str:
    try:
        return str(json.loads(error.content)["error"]["errors"][0]["reason"])
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


def _failure(error: HttpError) -> Exception:
    status = error.resp.status
    if status == 429 or (status == 403 and "rateLimitExceeded" in _reason(error)):
        return throttled("google", str(status), error.resp.get("retry-after"))
    if status == 401:
        return CalendarAccessLost("Google refused the grant (revoked or expired)")
    if status >= 500:
        return TransientEffectError(f"Google answered {status}")
    permanent: Exception = error
    return permanent


def _instant(value: dict[str, Any], tz: ZoneInfo) -> datetime:
    if "dateTime" in value:
        moment = datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
        return moment.astimezone(UTC)
    return local_to_utc(date.fromisoformat(value["date"]), 0, tz)


def is_busy(event: dict[str, Any]) -> bool:
    """Busy unless cancelled, free (transparent), declined by the owner, or Kairos's own."""
    if event.get("status") == "cancelled" or event.get("transparency") == "transparent":
        return False
    if str(event.get("id", "")).startswith(OWN_UID_PREFIX):
        return False
    me = next((a for a in event.get("attendees", []) if a.get("self")), None)
    return not (me is not None and me.get("responseStatus") == "declined")


class GoogleCalendars:
    """The CalendarProvider of Google connections. `tokens_of` and `save_tokens` read and
    write a connection's sealed tokens (calendar_sync.credentials); `channel_token` is
    the secret a channel's notifications must carry."""

    def __init__(
        self,
        app: GoogleApp,
        tokens_of: Callable[[UUID], dict[str, Any]],
        save_tokens: Callable[[UUID, dict[str, Any]], None],
        channel_token: Callable[[str], str],
    ) -> None:
        self._app = app
        self._tokens_of = tokens_of
        self._save_tokens = save_tokens
        self._channel_token = channel_token

    def account(self, tokens: dict[str, Any]) -> tuple[str, str | None]:
        """The id (the owner's address) and name of the primary calendar of a new grant."""
        primary = self._request(
            tokens, lambda service: service.calendars().get(calendarId="primary").execute()
        )
        return str(primary["id"]), primary.get("summary")

    def _call(self, connection_id: UUID, request: Callable[[Any], Any]) -> Any:
        tokens = self._tokens_of(connection_id)
        return self._request(tokens, request, lambda new: self._save_tokens(connection_id, new))

    def _request(
        self,
        tokens: dict[str, Any],
        request: Callable[[Any], Any],
        refreshed: Callable[[dict[str, Any]], None] | None = None,
    ) -> Any:
        credentials = Credentials(
            token=tokens.get("token"),
            refresh_token=tokens.get("refresh_token"),
            token_uri=self._app.token_uri,
            client_id=self._app.client_id,
            client_secret=self._app.client_secret,
            scopes=SCOPES,
        )
        service = build(
            "calendar",
            "v3",
            credentials=credentials,
            client_options={"api_endpoint": self._app.api_url},
            cache_discovery=False,
            static_discovery=True,
        )
        try:
            return request(service)
        except RefreshError as refused:
            raise CalendarAccessLost("Google refused the grant (revoked or expired)") from refused
        except HttpError as error:
            raise _failure(error) from error
        finally:
            if refreshed is not None and credentials.token != tokens.get("token"):
                refreshed({**tokens, "token": credentials.token})

    def put_event(self, connection_id: UUID, event: CalendarEvent, *, idempotency_key: str) -> str:
        body = {
            "id": event.uid,
            "summary": event.title,
            "description": event.description,
            "location": event.location,
            "start": {"dateTime": event.starts_at.isoformat(), "timeZone": event.time_zone},
            "end": {"dateTime": event.ends_at.isoformat(), "timeZone": event.time_zone},
            "attendees": [
                {"email": a.email, **({"displayName": a.name} if a.name else {})}
                for a in event.attendees
            ],
        }

        def put(service: Any) -> Any:
            events = service.events()
            try:
                return events.insert(calendarId="primary", body=body).execute()
            except HttpError as error:
                if error.resp.status != 409:
                    raise
            return events.patch(calendarId="primary", eventId=event.uid, body=body).execute()

        created = self._call(connection_id, put)
        return str(created["id"])

    def delete_event(self, connection_id: UUID, uid: str, *, idempotency_key: str) -> None:
        def delete(service: Any) -> None:
            try:
                service.events().delete(calendarId="primary", eventId=uid).execute()
            except HttpError as error:
                if error.resp.status not in (404, 410):
                    raise

        self._call(connection_id, delete)

    def _pages(self, service: Any, **query: Any) -> Iterator[dict[str, Any]]:
        token = None
        while True:
            page = service.events().list(calendarId="primary", pageToken=token, **query).execute()
            yield page
            token = page.get("nextPageToken")
            if token is None:
                return

    def busy(
        self, connection_id: UUID, start: datetime, end: datetime, time_zone: str
    ) -> Sequence[BusyTime]:
        tz = zone(time_zone)

        def read(service: Any) -> list[dict[str, Any]]:
            query = {
                "singleEvents": True,
                "timeMin": start.isoformat(),
                "timeMax": end.isoformat(),
                "maxResults": 2500,
            }
            return [item for page in self._pages(service, **query) for item in page["items"]]

        found = []
        for item in self._call(connection_id, read):
            if not is_busy(item):
                continue
            interval = BusyTime(_instant(item["start"], tz), _instant(item["end"], tz))
            if interval.starts_at < end and start < interval.ends_at:
                found.append(interval)
        return sorted(found, key=lambda b: (b.starts_at, b.ends_at))

    def sync_token(self, connection_id: UUID, previous: str | None) -> str | None:
        def changes(service: Any) -> str | None:
            query: dict[str, Any] = {"singleEvents": True, "maxResults": 2500}
            if previous is not None:
                query["syncToken"] = previous
            changed, token = False, None
            try:
                for page in self._pages(service, **query):
                    changed = changed or bool(page["items"])
                    token = page.get("nextSyncToken", token)
            except HttpError as error:
                if error.resp.status == 410:  # tokens expired: read everything again
                    return None
                raise
            return previous if previous is not None and not changed else token

        result: str | None = self._call(connection_id, changes)
        return result

    def watch(self, connection_id: UUID, address: str, *, idempotency_key: str) -> Watch | None:
        channel_id = str(uuid4())
        body = {
            "id": channel_id,
            "type": "web_hook",
            "address": address,
            "token": self._channel_token(channel_id),
        }
        answer = self._call(
            connection_id,
            lambda service: service.events().watch(calendarId="primary", body=body).execute(),
        )
        expires = datetime.fromtimestamp(int(answer["expiration"]) / 1000, UTC)
        self._save_tokens(
            connection_id, {**self._tokens_of(connection_id), "resource_id": answer["resourceId"]}
        )
        return Watch(channel_id, expires)

    def stop_watch(self, connection_id: UUID, watch_id: str) -> None:
        resource = self._tokens_of(connection_id).get("resource_id")
        body = {"id": watch_id, "resourceId": resource}
        # A channel of a revoked grant, or one already gone, stops by itself.
        with contextlib.suppress(CalendarAccessLost, HttpError):
            self._call(connection_id, lambda s: s.channels().stop(body=body).execute())
