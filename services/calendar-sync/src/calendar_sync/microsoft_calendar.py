"""Outlook calendars: msal for the identity platform, and a small typed Graph client.

Why not the official msgraph-sdk: it is async-only (kiota), pulls in a large generated
model tree and an HTTP stack of its own (azure-core, kiota-http), while calendar-sync
needs seven calls from synchronous effects and the reconcile loop, and must see the
raw status and Retry-After of each answer to apply its quota rules. A client of a
hundred lines over httpx does that plainly and is driven by the same fake.

Tokens: msal's confidential client (auth-code flow with PKCE) with its token cache,
serialized and sealed at rest with the connection's credentials; refreshing through
`acquire_token_silent`. A refused refresh is CalendarAccessLost.
Writes: create with `transactionId` = the event's uid (Graph returns the first event for
a repeated create), found again by a single-value extended property holding the uid;
update by PATCH; DELETE (404: already gone).
Reads: `calendarView` for the busy time (showAs busy, tentative and oof block; free and
workingElsewhere do not; cancelled events and declined invitations neither; all-day
events block their local days); `calendarView/delta` for the sync token (deltaLink;
410 → full read). Push: subscriptions with a clientState, validated by Graph's
handshake, renewed before they expire, lifecycle notifications handled
(calendar_sync.oauth_api).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import msal
import requests

from calendar_sync.ical_busy import OWN_UID_PREFIX
from calendar_sync.throttling import throttled
from kairos.effects import TransientEffectError
from kairos.providers.calendar import BusyTime, CalendarAccessLost, CalendarEvent, Watch
from kairos.timezones import local_to_utc, zone

SCOPES = ["Calendars.ReadWrite"]
GRAPH = "https://graph.microsoft.com"
#: The extended property holding a Kairos event's uid (a GUID namespace of our own).
UID_PROPERTY = "String {0b6f6c1e-8f0c-4d5e-9a49-6b6169726f73} Name kairosUid"
BLOCKING = frozenset({"busy", "tentative", "oof"})
SUBSCRIPTION_DAYS = 2.5  # Graph keeps an event subscription at most about 3 days


@dataclass(frozen=True)
class MicrosoftApp:
    client_id: str
    client_secret: str
    authority: str = "https://login.microsoftonline.com/common"
    graph_url: str = GRAPH
    #: True, or the path of a CA bundle to trust (the local fake's certificate).
    verify: bool | str = True

    def msal_app(self, cache: msal.SerializableTokenCache | None = None) -> Any:
        # Our own session: requests lets REQUESTS_CA_BUNDLE override a session's `verify`
        # unless it ignores the environment.
        session = requests.Session()
        session.trust_env = False
        session.verify = self.verify
        return msal.ConfidentialClientApplication(
            self.client_id,
            client_credential=self.client_secret,
            authority=self.authority,
            token_cache=cache,
            http_client=session,
            instance_discovery=self.authority.startswith("https://login.microsoftonline.com"),
        )


def _failure(response: httpx.Response) -> Exception:
    if response.status_code == 429:
        return throttled("microsoft", "429", response.headers.get("retry-after"))
    if response.status_code == 401:
        return CalendarAccessLost("Microsoft refused the grant (revoked or expired)")
    if response.status_code >= 500:
        return TransientEffectError(f"Graph answered {response.status_code}")
    return RuntimeError(f"Graph answered {response.status_code}: {response.text[:200]}")


class Graph:
    """The Graph calls calendar-sync makes, with one access token."""

    def __init__(self, app: MicrosoftApp, token: str) -> None:
        trust = (
            ssl.create_default_context(cafile=app.verify) if isinstance(app.verify, str) else True
        )
        self._client = httpx.Client(
            base_url=app.graph_url,
            headers={"Authorization": f"Bearer {token}"},
            verify=trust,
            timeout=30,
        )

    def close(self) -> None:
        self._client.close()

    def _send(self, method: str, url: str, ok: tuple[int, ...] = (200, 201, 204), **kw: Any) -> Any:
        try:
            response = self._client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            raise TransientEffectError(f"Graph: {type(exc).__name__}") from exc
        if response.status_code not in ok:
            raise _failure(response)
        return response.json() if response.content else None

    def find(self, uid: str) -> dict[str, Any] | None:
        query = {
            "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{UID_PROPERTY}'"
            f" and ep/value eq '{uid}')"
        }
        found = self._send("GET", "/v1.0/me/events", params=query)["value"]
        return found[0] if found else None

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self._send("POST", "/v1.0/me/events", json=body)
        return created

    def update(self, event_id: str, body: dict[str, Any]) -> None:
        self._send("PATCH", f"/v1.0/me/events/{event_id}", json=body)

    def delete(self, event_id: str) -> None:
        self._send("DELETE", f"/v1.0/me/events/{event_id}", ok=(204, 404))

    def view(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        url: str | None = "/v1.0/me/calendarView"
        params: dict[str, str] | None = {
            "startDateTime": start.isoformat(),
            "endDateTime": end.isoformat(),
        }
        while url is not None:
            page = self._send("GET", url, params=params)
            yield from page["value"]
            url, params = page.get("@odata.nextLink"), None

    def delta(self, link: str | None, start: datetime, end: datetime) -> tuple[bool, str | None]:
        """(anything changed, the new deltaLink); (True, None) when the link expired."""
        url: str | None = link or "/v1.0/me/calendarView/delta"
        params = (
            None if link else {"startDateTime": start.isoformat(), "endDateTime": end.isoformat()}
        )
        changed = False
        while url is not None:
            try:
                page = self._send("GET", url, params=params)
            except RuntimeError as gone:
                if "410" in str(gone):
                    return True, None
                raise
            changed = changed or bool(page["value"])
            params = None
            if "@odata.deltaLink" in page:
                return changed, str(page["@odata.deltaLink"])
            url = page.get("@odata.nextLink")
        return changed, None

    def subscribe(self, address: str, client_state: str, expires: datetime) -> dict[str, Any]:
        body = {
            "changeType": "created,updated,deleted",
            "notificationUrl": address,
            "lifecycleNotificationUrl": address,
            "resource": "me/events",
            "expirationDateTime": expires.isoformat(),
            "clientState": client_state,
        }
        created: dict[str, Any] = self._send("POST", "/v1.0/subscriptions", json=body)
        return created

    def unsubscribe(self, subscription_id: str) -> None:
        self._send("DELETE", f"/v1.0/subscriptions/{subscription_id}", ok=(204, 404))


def _instant(value: dict[str, Any], all_day: bool, tz: ZoneInfo) -> datetime:
    text = value["dateTime"]
    if all_day:
        return local_to_utc(date.fromisoformat(text[:10]), 0, tz)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    source = ZoneInfo("UTC") if value.get("timeZone", "UTC") == "UTC" else zone(value["timeZone"])
    return (moment if moment.tzinfo else moment.replace(tzinfo=source)).astimezone(UTC)


def is_busy(event: dict[str, Any]) -> bool:
    if event.get("isCancelled") or event.get("showAs", "busy") not in BLOCKING:
        return False
    if (event.get("responseStatus") or {}).get("response") == "declined":
        return False
    own = event.get("singleValueExtendedProperties") or []
    return not any(str(p.get("value", "")).startswith(OWN_UID_PREFIX) for p in own)


class MicrosoftCalendars:
    """The CalendarProvider of Outlook connections. `tokens_of`/`save_tokens` read and
    write a connection's sealed credentials (the serialized msal cache and account)."""

    def __init__(
        self,
        app: MicrosoftApp,
        tokens_of: Callable[[UUID], dict[str, Any]],
        save_tokens: Callable[[UUID, dict[str, Any]], None],
        client_state: Callable[[str], str],
    ) -> None:
        self._app = app
        self._tokens_of = tokens_of
        self._save_tokens = save_tokens
        self._client_state = client_state

    def _graph(self, connection_id: UUID) -> Graph:
        values = self._tokens_of(connection_id)
        cache = msal.SerializableTokenCache()
        cache.deserialize(values["msal_cache"])
        app = self._app.msal_app(cache)
        accounts = [a for a in app.get_accounts() if a["home_account_id"] == values["account"]]
        result = app.acquire_token_silent(SCOPES, account=accounts[0]) if accounts else None
        if cache.has_state_changed:
            self._save_tokens(connection_id, {**values, "msal_cache": cache.serialize()})
        if not result or "access_token" not in result:
            raise CalendarAccessLost("Microsoft refused the grant (revoked or expired)")
        return Graph(self._app, result["access_token"])

    def _with(self, connection_id: UUID, call: Callable[[Graph], Any]) -> Any:
        graph = self._graph(connection_id)
        try:
            return call(graph)
        finally:
            graph.close()

    def put_event(self, connection_id: UUID, event: CalendarEvent, *, idempotency_key: str) -> str:
        body = {
            "subject": event.title,
            "body": {"contentType": "text", "content": event.description},
            "start": {"dateTime": event.starts_at.astimezone(UTC).isoformat(), "timeZone": "UTC"},
            "end": {"dateTime": event.ends_at.astimezone(UTC).isoformat(), "timeZone": "UTC"},
            "location": {"displayName": event.location or ""},
            "attendees": [
                {
                    "emailAddress": {"address": a.email, "name": a.name or a.email},
                    "type": "required",
                }
                for a in event.attendees
            ],
            "singleValueExtendedProperties": [{"id": UID_PROPERTY, "value": event.uid}],
        }

        def put(graph: Graph) -> str:
            existing = graph.find(event.uid)
            if existing is not None:
                graph.update(existing["id"], body)
                return str(existing["id"])
            return str(graph.create({**body, "transactionId": event.uid})["id"])

        result: str = self._with(connection_id, put)
        return result

    def delete_event(self, connection_id: UUID, uid: str, *, idempotency_key: str) -> None:
        def delete(graph: Graph) -> None:
            existing = graph.find(uid)
            if existing is not None:
                graph.delete(existing["id"])

        self._with(connection_id, delete)

    def busy(
        self, connection_id: UUID, start: datetime, end: datetime, time_zone: str
    ) -> Sequence[BusyTime]:
        tz = zone(time_zone)
        items = self._with(connection_id, lambda graph: list(graph.view(start, end)))
        found = []
        for item in items:
            if not is_busy(item):
                continue
            all_day = bool(item.get("isAllDay"))
            interval = BusyTime(
                _instant(item["start"], all_day, tz), _instant(item["end"], all_day, tz)
            )
            if interval.starts_at < end and start < interval.ends_at:
                found.append(interval)
        return sorted(found, key=lambda b: (b.starts_at, b.ends_at))

    def sync_token(self, connection_id: UUID, previous: str | None) -> str | None:
        now = datetime.now(UTC)
        changed, link = self._with(
            connection_id,
            lambda graph: graph.delta(previous, now - timedelta(days=1), now + timedelta(days=400)),
        )
        return previous if previous is not None and not changed else link

    def watch(self, connection_id: UUID, address: str, *, idempotency_key: str) -> Watch | None:
        expires = datetime.now(UTC) + timedelta(days=SUBSCRIPTION_DAYS)
        state = self._client_state(str(connection_id))
        created = self._with(connection_id, lambda graph: graph.subscribe(address, state, expires))
        return Watch(str(created["id"]), expires)

    def stop_watch(self, connection_id: UUID, watch_id: str) -> None:
        # Graph removes the subscriptions of a revoked grant itself.
        with contextlib.suppress(CalendarAccessLost):
            self._with(connection_id, lambda graph: graph.unsubscribe(watch_id))


def first_tokens(app: MicrosoftApp, flow: dict[str, Any], answer: dict[str, str]) -> dict[str, Any]:
    """The sealed-credentials form of a finished consent: the msal cache and the account;
    raises ValueError when the identity platform refused the code."""
    cache = msal.SerializableTokenCache()
    result = app.msal_app(cache).acquire_token_by_auth_code_flow(flow, answer, scopes=SCOPES)
    if "error" in result:
        raise ValueError(result.get("error_description") or result["error"])
    claims = result.get("id_token_claims", {})
    account = app.msal_app(cache).get_accounts()[0]["home_account_id"]
    return {
        "msal_cache": cache.serialize(),
        "account": account,
        "address": claims.get("preferred_username") or account,
    }
