"""One specialist's availability, loaded from the read model, and the slots it offers.

`SpecialistAvailability` holds everything the slot rules need about one
specialist (zone, working hours, services, busy time), so a query is pure
computation with `kairos.slots.offered_slots`, the same function the booking
write side checks a start with. Team slots are a union of these per-specialist
answers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg

from availability.tables import (
    BOOKING_SOURCE,
    BUSY,
    CO_BUSY,
    OVERRIDES,
    SERVICES,
    SPECIALISTS,
    TEAM_SERVICES,
    TEAMS,
)
from kairos.slots import BusyTimes, Interval, LocalWindow, ServiceRules, WorkingHours, offered_slots
from kairos.timezones import local_date, local_to_utc, zone

# Busy time that ended this long before now can't touch a slot from now on, nor count
# toward today's per-day limit (today's local day began less than 26 hours ago).
_PAST_REACH = timedelta(days=2)


@dataclass(frozen=True)
class Service:
    service_id: UUID
    specialist_id: UUID
    rules: ServiceRules


@dataclass
class SpecialistAvailability:
    specialist_id: UUID
    timezone: ZoneInfo
    hours: WorkingHours
    services: dict[UUID, Service]
    busy: BusyTimes
    # Start times of the active bookings of each service, for the per-day limit.
    starts: dict[UUID, list[datetime]]
    _per_day: dict[UUID, Counter[date]] = field(default_factory=dict, repr=False)
    # Each service's slots per local date before the clock cuts them: this state never
    # changes (a change replaces the whole entry), so they are computed once. Keyed by the
    # rules too: a team's service is not in `services`, and its rules change apart.
    _candidates: dict[tuple[UUID, ServiceRules], dict[date, list[Interval]]] = field(
        default_factory=dict, repr=False
    )

    def slots(
        self,
        service_id: UUID,
        start: datetime,
        end: datetime,
        now: datetime,
        rules: ServiceRules | None = None,
    ) -> list[Interval]:
        """Offered slots of `service_id` starting in [start, end), ascending: one of this
        specialist's services, or (given its `rules`) a service of a team they are in."""
        rules = rules or self.services[service_id].rules
        first_day = local_date(start, self.timezone)
        last_day = local_date(end - timedelta(microseconds=1), self.timezone)
        offered = offered_slots(
            self.hours,
            rules,
            self.busy,
            self._bookings_per_day(service_id),
            first_day,
            last_day,
            now,
            memo=self._candidates.setdefault((service_id, rules), {}),
        )
        return [slot for slot in offered if start <= slot.start < end]

    def _bookings_per_day(self, service_id: UUID) -> Counter[date]:
        counts = self._per_day.get(service_id)
        if counts is None:
            counts = Counter(local_date(s, self.timezone) for s in self.starts.get(service_id, ()))
            self._per_day[service_id] = counts
        return counts


def _windows(pairs: list[list[int]]) -> list[LocalWindow]:
    return [LocalWindow(start, end) for start, end in pairs]


def service_owner(conn: psycopg.Connection[Any], service_id: UUID, suffix: str = "") -> UUID | None:
    row = conn.execute(
        f"SELECT specialist_id FROM {SERVICES.named(suffix)} WHERE service_id = %s", (service_id,)
    ).fetchone()
    return row[0] if row else None


def load(
    conn: psycopg.Connection[Any], specialist_id: UUID, now: datetime, suffix: str = ""
) -> SpecialistAvailability | None:
    """The specialist's availability as the read model holds it, or None if unknown."""
    row = conn.execute(
        f"SELECT timezone, weekly FROM {SPECIALISTS.named(suffix)} WHERE specialist_id = %s",
        (specialist_id,),
    ).fetchone()
    if row is None:
        return None
    tz = zone(row[0])
    weekly = {int(day): _windows(pairs) for day, pairs in row[1].items()}
    overrides = {
        day: _windows(windows)
        for day, windows in conn.execute(
            f"SELECT day, windows FROM {OVERRIDES.named(suffix)}"
            " WHERE specialist_id = %s AND NOT cleared",
            (specialist_id,),
        )
    }
    services = {
        service_id: Service(service_id, specialist_id, ServiceRules.from_minutes(**rules))
        for service_id, rules in conn.execute(
            f"SELECT service_id, rules FROM {SERVICES.named(suffix)} WHERE specialist_id = %s",
            (specialist_id,),
        )
    }
    busy: list[Interval] = []
    starts: dict[UUID, list[datetime]] = {}
    since = now - _PAST_REACH
    for service_id, starts_at, busy_from, busy_until in conn.execute(
        f"SELECT service_id, starts_at, busy_from, busy_until FROM {BUSY.named(suffix)}"
        " WHERE specialist_id = %s AND active AND busy_until > %s"
        # and the collective bookings holding this specialist as another member
        f" UNION ALL SELECT b.service_id, b.starts_at, b.busy_from, b.busy_until"
        f" FROM {CO_BUSY.named(suffix)} c JOIN {BUSY.named(suffix)} b"
        "  ON b.source = %s AND b.source_id = c.source_id"
        " WHERE c.specialist_id = %s AND b.active AND b.busy_until > %s",
        (specialist_id, since, BOOKING_SOURCE, specialist_id, since),
    ):
        busy.append(Interval(busy_from.astimezone(UTC), busy_until.astimezone(UTC)))
        if service_id is not None and starts_at is not None:
            starts.setdefault(service_id, []).append(starts_at)
    return SpecialistAvailability(
        specialist_id=specialist_id,
        timezone=tz,
        hours=WorkingHours(tz, weekly, overrides),
        services=services,
        busy=BusyTimes.of(busy),
        starts=starts,
    )


@dataclass(frozen=True)
class TeamService:
    service_id: UUID
    rules: ServiceRules
    collective: bool  # all members at once; else round-robin, any one of them
    members: list[UUID]


def team_service(
    conn: psycopg.Connection[Any], service_id: UUID, suffix: str = ""
) -> TeamService | None:
    """A team's service with its rules and members, or None (not a team's, or its team
    not known here yet)."""
    row = conn.execute(
        f"SELECT s.rules, ts.assignment, t.members FROM {TEAM_SERVICES.named(suffix)} ts"
        f" JOIN {SERVICES.named(suffix)} s USING (service_id)"
        f" JOIN {TEAMS.named(suffix)} t ON t.team_id = ts.team_id WHERE ts.service_id = %s",
        (service_id,),
    ).fetchone()
    if row is None:
        return None
    rules, assignment, members = row
    return TeamService(
        service_id,
        ServiceRules.from_minutes(**rules),
        assignment == "collective",
        [UUID(m) for m in members],
    )


def team_slots(
    members_slots: Mapping[UUID, list[Interval]], collective: bool
) -> list[tuple[Interval, list[UUID]]]:
    """A team's slots from each member's, with who is free at each, ascending: every slot
    at least one member offers (round-robin: the union), or that all of them offer
    (collective: the intersection). The write side books exactly these: a round-robin
    start when some member's slot rules pass, a collective one when all members' do."""
    free: dict[Interval, list[UUID]] = {}
    for member, slots in members_slots.items():
        for slot in slots:
            free.setdefault(slot, []).append(member)
    needed = len(members_slots) if collective else 1
    return sorted((slot, who) for slot, who in free.items() if len(who) >= needed)


def day_bounds(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in `tz`, as UTC instants."""
    return local_to_utc(first, 0, tz), local_to_utc(last + timedelta(days=1), 0, tz)
