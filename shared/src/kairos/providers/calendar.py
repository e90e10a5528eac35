"""External calendars (Google Calendar, Microsoft Graph, CalDAV) as calendar-sync's
effects and reconcile loop call them.

Writes are effects (kairos.effects): a booking's event is put on confirmation and on
every move, and deleted on cancellation or decline. Each write is safe to repeat,
which is what lets a dispatcher retry it and a crash repeat it once:

- the event's identity is `CalendarEvent.uid`, one per booking and connection: the
  Google event id is derived from it, it is the CalDAV UID, and Graph finds the event
  by it; so putting the same booking twice updates one event instead of adding one;
- `idempotency_key` is the effect's id (Effect.idempotency_key), sent where the
  provider takes one (Graph's `transactionId` on create);
- deleting an event that is already gone succeeds.

Reads give the busy time that blocks slots: only busy time (not free/transparent
events, declined invitations or cancelled instances), recurrences expanded into their
occurrences, an all-day event as its whole local day.

An implementation raises kairos.effects.TransientEffectError when trying again may
succeed (429, 403 rateLimitExceeded, 5xx, timeouts), CalendarAccessLost when the
connection's grant is revoked or expired (the connection is then shown as failed),
and anything else for a permanent failure. It finds the connection's credentials
itself (calendar-sync's encrypted token store), so none pass through here.

The fakes of Google's and Microsoft's endpoints, which the real client libraries talk
to in `make dev` and the tests, live in kairos_dev.fakes (CalDAV runs as Radicale).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID


class CalendarAccessLost(Exception):
    """The provider refuses the connection's credentials for good (revoked, expired
    refresh token, deleted account): retrying cannot help; the owner must reconnect."""


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str | None = None


@dataclass(frozen=True)
class CalendarEvent:
    """A booking as it appears in the specialist's calendar."""

    #: The event's identity at the provider, the same for every write of one booking to
    #: one connection (derived from the booking id and the connection id).
    uid: str
    title: str
    starts_at: datetime  # timezone-aware
    ends_at: datetime
    #: The specialist's IANA zone, so the calendar shows the event in local time.
    time_zone: str
    description: str = ""
    #: The join link of a video consultation, or the place.
    location: str | None = None
    attendees: tuple[Attendee, ...] = ()


@dataclass(frozen=True)
class BusyTime:
    """One stretch of external busy time, [starts_at, ends_at), timezone-aware."""

    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Watch:
    """A push channel (Google `events.watch`) or subscription (Graph) the provider
    notifies calendar-sync through until `expires_at`; renewed before then."""

    id: str
    expires_at: datetime


class CalendarProvider(Protocol):
    """One kind of external calendar, for every connection of that kind."""

    def put_event(self, connection_id: UUID, event: CalendarEvent, *, idempotency_key: str) -> str:
        """Create the event, or update the one with its uid; the provider's id for it."""
        ...

    def delete_event(self, connection_id: UUID, uid: str, *, idempotency_key: str) -> None:
        """Remove the event with this uid; one already gone is not an error."""
        ...

    def busy(
        self, connection_id: UUID, start: datetime, end: datetime, time_zone: str
    ) -> Sequence[BusyTime]:
        """The connection's busy time that overlaps [start, end), sorted by start; an
        all-day event is its whole local days in `time_zone` (the specialist's)."""
        ...

    def sync_token(self, connection_id: UUID, previous: str | None) -> str | None:
        """A token that changes whenever the calendar does (CalDAV sync-collection or
        ctag, Google's nextSyncToken, Graph's deltaLink), read cheaply from the one
        `previous` returned, so a poll of an unchanged calendar reads nothing more; the
        same token when nothing changed; None when there is none or it expired (then
        the busy time is read in full)."""
        ...

    def watch(self, connection_id: UUID, address: str, *, idempotency_key: str) -> Watch | None:
        """Ask the provider to notify `address` of changes; None where it cannot push
        (CalDAV: its busy time is polled)."""
        ...

    def stop_watch(self, connection_id: UUID, watch_id: str) -> None:
        """Stop a channel or subscription (on disconnect); one already gone is not an error."""
        ...
