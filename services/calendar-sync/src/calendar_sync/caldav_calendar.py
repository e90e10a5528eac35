"""CalDAV calendars (Nextcloud, Fastmail, iCloud, Radicale) through the caldav library.

A booking is one VEVENT whose UID is the CalendarEvent's uid: a PUT of it creates
the event or replaces the one already there, so a repeated put never duplicates it.
Inbound, CalDAV cannot push: calendar-sync polls. `sync_token` asks the server
(RFC 6578 sync-collection, else the collection's ctag) whether anything changed
since the last poll, so an unchanged calendar costs one small request; a change
reads the events in the window and expands them (calendar_sync.ical_busy).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from caldav.davclient import DAVClient
from caldav.lib import error as dav_error
from icalendar import Calendar, Event, vCalAddress, vText

from calendar_sync.ical_busy import busy_times
from kairos.effects import TransientEffectError
from kairos.providers.calendar import BusyTime, CalendarAccessLost, CalendarEvent, Watch
from kairos.timezones import zone

PRODID = "-//Kairos//calendar-sync//EN"


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
    a server that is down or busy may come back."""
    if isinstance(exc, dav_error.AuthorizationError):
        return CalendarAccessLost("the CalDAV server refused the credentials")
    return TransientEffectError(f"CalDAV: {type(exc).__name__}")


def open_calendar(account: CalDavAccount, timeout: int = 20) -> Any:
    """The account's calendar: the one at `url` if it is a calendar, else its first.
    Raises CalendarAccessLost for refused credentials (the connect form's 422)."""
    client = DAVClient(
        url=account.url,
        username=account.username,
        password=account.password,
        timeout=timeout,
        require_tls=False,  # a self-hosted server on a private network may be plain HTTP
    )
    try:
        calendars = client.principal().calendars()
    except dav_error.DAVError as exc:
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


class CalDavCalendars:
    """The CalendarProvider of CalDAV connections; `account_of` reads a connection's
    decrypted account (calendar_sync.credentials)."""

    def __init__(self, account_of: Callable[[UUID], CalDavAccount]) -> None:
        self._account_of = account_of

    def _calendar(self, connection_id: UUID) -> Any:
        return open_calendar(self._account_of(connection_id))

    def put_event(self, connection_id: UUID, event: CalendarEvent, *, idempotency_key: str) -> str:
        calendar = self._calendar(connection_id)
        # SEQUENCE grows with each move, so clients that cached the old copy take the new.
        sequence = int(event.starts_at.timestamp()) // 60 % 2**31
        try:
            saved = calendar.save_event(ical=to_ical(event, sequence))
        except dav_error.DAVError as exc:
            raise _failure(exc) from exc
        return str(saved.url)

    def delete_event(self, connection_id: UUID, uid: str, *, idempotency_key: str) -> None:
        calendar = self._calendar(connection_id)
        try:
            calendar.event_by_uid(uid).delete()
        except dav_error.NotFoundError:
            return
        except dav_error.DAVError as exc:
            raise _failure(exc) from exc

    def busy(
        self, connection_id: UUID, start: datetime, end: datetime, time_zone: str
    ) -> Sequence[BusyTime]:
        account = self._account_of(connection_id)
        calendar = open_calendar(account)
        try:
            # Unexpanded: recurring-ical-events expands with the exceptions, client side.
            found = calendar.search(start=start, end=end, event=True, expand=False)
        except dav_error.DAVError as exc:
            raise _failure(exc) from exc
        owners = frozenset({account.username.lower()} if "@" in account.username else ())
        return busy_times((o.data for o in found), start, end, zone(time_zone), owners)

    def sync_token(self, connection_id: UUID, previous: str | None) -> str | None:
        """A token that changes whenever the calendar does (sync-collection token or
        ctag); None when the server offers neither (then every poll reads)."""
        calendar = self._calendar(connection_id)
        try:
            token = calendar.objects_by_sync_token(load_objects=False).sync_token
        except dav_error.DAVError:
            token = None
        return None if token is None else str(token)

    def watch(self, connection_id: UUID, address: str, *, idempotency_key: str) -> Watch | None:
        return None

    def stop_watch(self, connection_id: UUID, watch_id: str) -> None:
        return None
