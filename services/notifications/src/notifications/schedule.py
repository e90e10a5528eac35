"""When a booking's reminders are due: pure functions over aware datetimes.

A service's `reminders` setting (API.md) replaces `DEFAULT_REMINDERS` (`rules_of`). Each rule
says how long before the start it fires, on which channels and to whom; it
becomes one `DueReminder` per channel and recipient, so each delivery is retried
and recorded on its own. A reminder whose time has already passed when the
booking is made (or moved) is not scheduled: a booking made 30 minutes ahead
gets only the 15-minute reminder, never a burst of late ones.

Due times are instants (start - offset, computed in UTC), so a DST change between
the booking and its reminder moves nothing: "24 h before" is 24 real hours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from kairos.events import booking as booking_events
from kairos.events.booking import Reminder

Channel = Literal["email", "sms", "push"]
Recipient = Literal["client", "specialist"]

CLIENT: frozenset[Recipient] = frozenset({"client"})
BOTH: frozenset[Recipient] = frozenset({"client", "specialist"})


@dataclass(frozen=True)
class ReminderRule:
    """One line of a service's reminder schedule (a local type: the service definition's
    `reminders` setting is turned into these)."""

    before: timedelta
    channels: frozenset[Channel]
    recipients: frozenset[Recipient]
    with_join_link: bool = False

    def __post_init__(self) -> None:
        if self.before <= timedelta(0):
            raise ValueError("a reminder fires before the start: `before` must be positive")
        if not self.channels or not self.recipients:
            raise ValueError("a reminder needs at least one channel and one recipient")


def rules_of(reminders: Iterable[Reminder]) -> tuple[ReminderRule, ...]:
    """A service definition's `reminders` setting as rules; a line without a channel or a
    recipient (which booking would not accept) reminds no one, so it is left out."""
    return tuple(
        ReminderRule(
            timedelta(minutes=r.before_minutes),
            frozenset(r.channels),
            frozenset(r.to),
            with_join_link=r.join_link,
        )
        for r in reminders
        if r.before_minutes > 0 and r.channels and r.to
    )


#: API.md's defaults (kairos.events.booking.DEFAULT_REMINDERS): 48 h e-mail + push to
#: both; 24 h e-mail to the client; 1 h SMS + push to the client; 15 min e-mail + push
#: with the join link to both.
DEFAULT_REMINDERS: tuple[ReminderRule, ...] = rules_of(booking_events.DEFAULT_REMINDERS)

# A stable order, so that the same schedule always yields the same list.
_CHANNEL_ORDER: tuple[Channel, ...] = ("email", "sms", "push")
_RECIPIENT_ORDER: tuple[Recipient, ...] = ("client", "specialist")


@dataclass(frozen=True)
class DueReminder:
    """One delivery of one reminder: to one recipient on one channel, at `due_at`."""

    before: timedelta
    channel: Channel
    recipient: Recipient
    due_at: datetime
    with_join_link: bool

    @property
    def key(self) -> str:
        """Names this delivery within a booking's schedule (part of its effect's key)."""
        return f"{int(self.before.total_seconds())}s:{self.channel}:{self.recipient}"


def _utc(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (ARCHITECTURE.md rule 5)")
    # Arithmetic on a zoned datetime is wall-clock arithmetic (24 h before a DST change
    # would be 23 or 25 real hours); in UTC it is real time.
    return instant.astimezone(UTC)


def due_reminders(
    rules: Iterable[ReminderRule], starts_at: datetime, now: datetime
) -> list[DueReminder]:
    """The reminders of a booking starting at `starts_at`, scheduled at `now` (when it is
    booked or moved): those whose time is still ahead, earliest first."""
    starts_at = _utc(starts_at, "starts_at")
    now = _utc(now, "now")
    reminders = [
        DueReminder(rule.before, channel, recipient, due_at, rule.with_join_link)
        for rule in rules
        if (due_at := starts_at - rule.before) > now
        for channel in _CHANNEL_ORDER
        if channel in rule.channels
        for recipient in _RECIPIENT_ORDER
        if recipient in rule.recipients
    ]
    return sorted(reminders, key=lambda r: r.due_at)
