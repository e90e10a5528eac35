"""Event stores of several services in one database (as `kairos dev` has them) keep
their events apart: each inserts through a function of its own table."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from kairos.eventstore import open_application


class Thing(Aggregate):
    @event("Made")
    def __init__(self, label: str) -> None:
        self.label = label


class Firsts(Application[UUID]):
    name = "firsts"


class Seconds(Application[UUID]):
    name = "seconds"


def test_two_applications_in_one_database_each_keep_their_own_events(
    fresh_database: Callable[[], str],
) -> None:
    url = fresh_database()
    firsts = open_application(lambda env: Firsts(env=env), url)
    seconds = open_application(lambda env: Seconds(env=env), url)  # created last
    try:
        first = Thing("first")
        firsts.save(first)
        second = Thing("second")
        seconds.save(second)

        assert firsts.repository.get(first.id).label == "first"
        assert seconds.repository.get(second.id).label == "second"
        assert firsts.recorder.max_notification_id() == 1
        assert seconds.recorder.max_notification_id() == 1
    finally:
        firsts.close()
        seconds.close()
