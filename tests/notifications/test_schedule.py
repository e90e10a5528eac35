"""Reminder due times (API.md defaults), with the clock frozen: every offset, a booking
made inside the offsets, a DST change between booking and reminder, custom schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifications.schedule import (
    BOTH,
    CLIENT,
    DEFAULT_REMINDERS,
    DueReminder,
    ReminderRule,
    due_reminders,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # the frozen clock: when the booking is made
START = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)


def deliveries(reminders: list[DueReminder]) -> list[tuple[timedelta, str, str]]:
    return [(r.before, r.channel, r.recipient) for r in reminders]


def test_a_booking_days_ahead_gets_every_default_reminder_at_its_offset() -> None:
    reminders = due_reminders(DEFAULT_REMINDERS, START, NOW)

    assert deliveries(reminders) == [
        (timedelta(hours=48), "email", "client"),
        (timedelta(hours=48), "email", "specialist"),
        (timedelta(hours=48), "push", "client"),
        (timedelta(hours=48), "push", "specialist"),
        (timedelta(hours=24), "email", "client"),
        (timedelta(hours=1), "sms", "client"),
        (timedelta(hours=1), "push", "client"),
        (timedelta(minutes=15), "email", "client"),
        (timedelta(minutes=15), "email", "specialist"),
        (timedelta(minutes=15), "push", "client"),
        (timedelta(minutes=15), "push", "specialist"),
    ]
    for reminder in reminders:
        assert reminder.due_at == START - reminder.before
        assert reminder.with_join_link == (reminder.before == timedelta(minutes=15))


def test_a_booking_made_30_minutes_ahead_gets_only_the_15_minute_reminder() -> None:
    booked_at = START - timedelta(minutes=30)

    reminders = due_reminders(DEFAULT_REMINDERS, START, booked_at)

    assert {r.before for r in reminders} == {timedelta(minutes=15)}
    assert {r.due_at for r in reminders} == {START - timedelta(minutes=15)}
    assert len(reminders) == 4  # e-mail and push, to both


@pytest.mark.parametrize(
    ("ahead", "offsets"),
    [
        (timedelta(hours=48), {timedelta(hours=24), timedelta(hours=1), timedelta(minutes=15)}),
        (timedelta(hours=30), {timedelta(hours=24), timedelta(hours=1), timedelta(minutes=15)}),
        (timedelta(hours=2), {timedelta(hours=1), timedelta(minutes=15)}),
        (timedelta(minutes=15), set()),
        (timedelta(minutes=5), set()),
    ],
)
def test_a_reminder_whose_time_has_passed_when_booked_is_not_scheduled(
    ahead: timedelta, offsets: set[timedelta]
) -> None:
    """At exactly its due time a reminder has "passed": it would go out with the booking."""
    reminders = due_reminders(DEFAULT_REMINDERS, START, START - ahead)

    assert {r.before for r in reminders} == offsets


def test_a_dst_change_between_booking_and_reminder_keeps_real_hours() -> None:
    """New York springs forward on 2026-03-08 (02:00 EST → 03:00 EDT). A 10:00 EDT start
    on 03-09 is 14:00 UTC; the 48 h reminder is 48 real hours earlier (14:00 UTC on
    03-07, 09:00 EST), not 10:00 local, which would be 47 hours."""
    new_york = ZoneInfo("America/New_York")
    starts_at = datetime(2026, 3, 9, 10, 0, tzinfo=new_york)
    booked_at = datetime(2026, 3, 1, 12, 0, tzinfo=new_york)

    reminders = due_reminders(DEFAULT_REMINDERS, starts_at, booked_at)

    by_offset = {r.before: r.due_at for r in reminders}
    assert by_offset[timedelta(hours=48)] == datetime(2026, 3, 7, 14, 0, tzinfo=UTC)
    assert by_offset[timedelta(hours=48)].astimezone(new_york).hour == 9
    assert by_offset[timedelta(hours=24)] == datetime(2026, 3, 8, 14, 0, tzinfo=UTC)
    assert by_offset[timedelta(hours=1)] == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    for before, due_at in by_offset.items():
        assert starts_at - due_at == before  # aware subtraction across zones is real time


def test_a_service_schedule_replaces_the_defaults() -> None:
    rules = (ReminderRule(timedelta(hours=3), frozenset({"sms"}), BOTH),)

    reminders = due_reminders(rules, START, NOW)

    assert deliveries(reminders) == [
        (timedelta(hours=3), "sms", "client"),
        (timedelta(hours=3), "sms", "specialist"),
    ]


def test_each_delivery_of_a_schedule_has_its_own_key() -> None:
    reminders = due_reminders(DEFAULT_REMINDERS, START, NOW)

    assert len({r.key for r in reminders}) == len(reminders)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_reminders(DEFAULT_REMINDERS, START.replace(tzinfo=None), NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        due_reminders(DEFAULT_REMINDERS, START, NOW.replace(tzinfo=None))


def test_a_rule_fires_before_the_start_and_reaches_someone() -> None:
    with pytest.raises(ValueError, match="positive"):
        ReminderRule(timedelta(0), frozenset({"email"}), CLIENT)
    with pytest.raises(ValueError, match="at least one"):
        ReminderRule(timedelta(hours=1), frozenset(), CLIENT)
