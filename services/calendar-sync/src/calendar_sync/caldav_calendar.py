"""CalDAV calendars (Nextcloud, Fastmail, iCloud, Radicale) through the caldav library.

A booking is one VEVENT whose UID is the CalendarEvent's uid: a PUT of it creates
the event or replaces the one already there, so a repeated put never duplicates it.
Inbound, CalDAV cannot push: calendar-sync polls. `sync_token` asks the server for
the changes since the token the last poll returned (RFC 6578 sync-collection), so a
poll of an unchanged calendar is one request with an empty answer however big the
calendar; a server without sync-collection is polled by its ctag. A change reads the
events in the window in one calendar-query and expands them (calendar_sync.ical_busy).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from caldav.davclient import DAVClient
from caldav.elements import dav
from caldav.elements.base import BaseElement
from caldav.lib import error as dav_error
from icalendar import Calendar, Event, vCalAddress, vText

from calendar_sync.ical_busy import busy_times, widened
from calendar_sync.throttling import throttled
from kairos.effects import TransientEffectError
from kairos.providers.calendar import BusyTime, CalendarAccessLost, CalendarEvent, Watch
from kairos.timezones import zone

PRODID = "-//Kairos//calendar-sync//EN"

#: Seconds to wait for an answer. A server may work on a big calendar for long before
#: its first byte: Radicale took 26 s over the first sync-collection of 5,000 events it
#: had not indexed yet (the bench's calendar, on 2 cores), and at 20 s every retry met
#: the same wait.
TIMEOUT = 120

#: caldav raises DAVError for what a server answered; a timeout or a refused connection
#: reaches us from its HTTP library as an OSError (niquests' RequestException).
_FAILURES = (dav_error.DAVError, OSError)

#: Marks a token that is a ctag, so that a poll does not first offer it to the server as a
#: sync token, which a server without sync-collection would refuse every time.
_CTAG = "ctag:"

#: caldav's own stand-in token ("fake-<hash of every etag>"), stored by the polls before
#: this module read ctags: it means nothing to the server.
_CALDAV_STAND_IN = "fake-"


class _GetCTag(BaseElement):
    tag = "{http://calendarserver.org/ns/}getctag"


@dataclass(frozen=True)
class CalDavAccount:
    """What a specialist gives: the server or calendar URL, user name and (app) password."""

    url: str
    username: str
    password: str

    def as_dict(self) -> dict[str, str]:
        return {"url": self.url, "username": self.username, "password": self.password}

    @classmethod
    def of(cls, values: dict[str, Any]) -> CalDavAccount:
        return cls(values["url"], values["username"], values["password"])


def _failure(exc: Exception) -> Exception:
    """The Protocol's error for a caldav failure: refused credentials are lost access;
    a server that is down or busy may come back, no sooner than it asked (a 429 or 503
    with Retry-After: caldav's RateLimitError)."""
    if isinstance(exc, dav_error.AuthorizationError):
        return CalendarAccessLost("the CalDAV server refused the credentials")
    if isinstance(exc, dav_error.RateLimitError):
        return throttled("caldav", str(exc.status), exc.retry_after_seconds)
    return TransientEffectError(f"CalDAV: {type(exc).__name__}")


def _client(account: CalDavAccount, timeout: int = TIMEOUT) -> DAVClient:
    return DAVClient(
        url=account.url,
        username=account.username,
        password=account.password,
        timeout=timeout,
        require_tls=False,  # a self-hosted server on a private network may be plain HTTP
    )


def open_calendar(account: CalDavAccount, timeout: int = TIMEOUT) -> Any:
    """The account's calendar: the one at `url` if it is a calendar, else its first.
    Raises CalendarAccessLost for refused credentials (the connect form's 422)."""
    client = _client(account, timeout)
    try:
        calendars = client.principal().calendars()
    except _FAILURES as exc:
        raise _failure(exc) from exc
    wanted = account.url.rstrip("/")
    for calendar in calendars:
        if str(calendar.url).rstrip("/") == wanted:
            return calendar
    if not calendars:
        raise CalendarAccessLost("the account has no calendar")
    return calendars[0]


def to_ical(event: CalendarEvent, sequence: int) -> str:
    vevent = Event()
    vevent.add("UID", event.uid)
    vevent.add("DTSTAMP", datetime.now(UTC))
    vevent.add("DTSTART", event.starts_at.astimezone(zone(event.time_zone)))
    vevent.add("DTEND", event.ends_at.astimezone(zone(event.time_zone)))
    vevent.add("SUMMARY", event.title)
    vevent.add("SEQUENCE", sequence)
    if event.description:
        vevent.add("DESCRIPTION", event.description)
    if event.location:
        vevent.add("LOCATION", event.location)
        vevent.add("URL", event.location)
    for attendee in event.attendees:
        address = vCalAddress(f"mailto:{attendee.email}")
        if attendee.name:
            address.params["CN"] = vText(attendee.name)
        address.params["ROLE"] = vText("REQ-PARTICIPANT")
        vevent.add("ATTENDEE", address, encode=False)
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add_component(vevent)
    text: bytes = calendar.to_ical()
    return text.decode()


def _is_ctag(token: str | None) -> bool:
    return token is not None and token.startswith(_CTAG)


def _sync_collection_token(calendar: Any, previous: str | None) -> str | None:
    """The token after the changes since `previous`; None where the server has no
    sync-collection. Only the changes are listed: every event's href without a token,
    or when the server has forgotten it (a full listing once, then small again)."""
    if previous is not None and previous.startswith(_CALDAV_STAND_IN):
        previous = None
    try:
        found = calendar.get_objects_by_sync_token(
            previous, load_objects=False, disable_fallback=True
        )
    except dav_error.DAVError as exc:
        if previous is not None and dav.ValidSyncToken.tag in exc.preconditions:
            return _sync_collection_token(calendar, None)
        if _refused_report(exc):
            return None
        raise
    return None if found.sync_token is None else str(found.sync_token)


def _refused_report(exc: dav_error.DAVError) -> bool:
    """Whether the server refused the REPORT itself, having no sync-collection: most
    answer an error status, Zimbra a 403 that names DAV:supported-report (a 403 about
    the credentials names no such precondition, and is raised)."""
    return isinstance(exc, dav_error.ReportError) or dav.SupportedReport.tag in exc.preconditions


def _ctag(calendar: Any) -> str | None:
    value = calendar.get_property(_GetCTag())
    return None if value is None else f"{_CTAG}{value}"


class CalDavCalendars:
    """The CalendarProvider of CalDAV connections; `account_of` reads a connection's
    decrypted account (calendar_sync.credentials).

    Finding an account's calendar (open_calendar) is three PROPFINDs, which every effect
    and every poll repeated before its one request. The calendar's URL is kept per
    account instead, so new credentials or a new URL find it afresh, and a failed
    request forgets it: a calendar that moved is found again on the retry.
    """

    def __init__(self, account_of: Callable[[UUID], CalDavAccount]) -> None:
        self._account_of = account_of
        self._found: dict[CalDavAccount, str] = {}

    @contextmanager
    def _calendar(self, connection_id: UUID) -> Iterator[Any]:
        """The connection's calendar; caldav's failures inside become the Protocol's."""
        account = self._account_of(connection_id)
        try:
            url = self._found.get(account)
            if url is None:
                calendar = open_calendar(account)
                self._found[account] = str(calendar.url)
            else:
                calendar = _client(account).calendar(url=url)
            yield calendar
        except _FAILURES as exc:
            self._found.pop(account, None)
            raise _failure(exc) from exc

    def put_event(self, connection_id: UUID, event: CalendarEvent, *, idempotency_key: str) -> str:
        # SEQUENCE grows with each move, so clients that cached the old copy take the new.
        sequence = int(event.starts_at.timestamp()) // 60 % 2**31
        with self._calendar(connection_id) as calendar:
            saved = calendar.save_event(ical=to_ical(event, sequence))
        return str(saved.url)

    def delete_event(self, connection_id: UUID, uid: str, *, idempotency_key: str) -> None:
        with self._calendar(connection_id) as calendar:
            # One DELETE where put_event stored it: caldav names a new resource after its
            # UID (ours are letters and digits, nothing to quote). Only a server that named
            # the resource itself is asked for the UID, a query of the whole collection
            # (3.9 s on Radicale with 5,000 events).
            response = calendar.client.delete(str(calendar.url.join(f"{uid}.ics")))
            if response.status == 404:
                with contextlib.suppress(dav_error.NotFoundError):  # gone already
                    calendar.event_by_uid(uid).delete()
            elif response.status not in (200, 204):
                raise dav_error.error_from_response(dav_error.DeleteError, response)

    def busy(
        self, connection_id: UUID, start: datetime, end: datetime, time_zone: str
    ) -> Sequence[BusyTime]:
        since, until = widened(start, end)
        with self._calendar(connection_id) as calendar:
            # Unexpanded: recurring-ical-events expands with the exceptions, client side.
            # Unfiltered: caldav would parse and reserialise every event to cut the range
            # that busy_times cuts anyway (5.6 s for this read of 5,000 events instead of
            # 3.2 s), and its cut drops an all-day event whose local day starts inside.
            found = calendar.search(
                start=since, end=until, event=True, expand=False, post_filter=False
            )
            username = str(calendar.client.username or "")
        owners = frozenset({username.lower()} if "@" in username else ())
        return busy_times((o.data for o in found), start, end, zone(time_zone), owners)

    def sync_token(self, connection_id: UUID, previous: str | None) -> str | None:
        """The sync-collection token after the changes since `previous`, else the ctag;
        None when the server offers neither (then every poll reads)."""
        with self._calendar(connection_id) as calendar:
            token = None if _is_ctag(previous) else _sync_collection_token(calendar, previous)
            return token or _ctag(calendar)

    def watch(self, connection_id: UUID, address: str, *, idempotency_key: str) -> Watch | None:
        return None

    def stop_watch(self, connection_id: UUID, watch_id: str) -> None:
        return None
