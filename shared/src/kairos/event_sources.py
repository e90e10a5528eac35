"""Another service's event store, found by the topic its events are published on.

A read model rebuilds from the event store of the service it consumes (Kafka may have
lost data; the store has not). The owning service registers its store under the topic
name (entry point group `kairos.event_sources`), e.g. booking's

    [project.entry-points."kairos.event_sources"]
    "booking.events.v1" = "booking.integration:booking_log"

so a consumer's replay reads it without importing that service: its image installs
the owner's package beside its own (the Dockerfile's EXTRA_SERVICES).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from kairos.messaging.notification_log import NotificationLog
from kairos.plugins import EVENT_SOURCES, load, registered


@runtime_checkable
class EventSource(Protocol):
    """Opens the store at `database_url` as the integration events it publishes. Without
    `snapshots`, events leave out the snapshot of their aggregate (the booking as it
    stands): cheaper, for a read model that never reads it."""

    def __call__(
        self, database_url: str, snapshots: bool = True
    ) -> AbstractContextManager[NotificationLog]: ...


class EventSourceMissing(LookupError):
    """No installed package registers the event store of a topic."""


def event_source(topic: str) -> EventSource:
    """The event store whose events are published on `topic`."""
    entry = registered(EVENT_SOURCES).get(topic)
    if entry is None:
        raise EventSourceMissing(
            f"no installed package provides the event store of {topic} (entry point group"
            f" {EVENT_SOURCES}): install the package of the service that publishes it beside"
            " this one (in an image: --build-arg EXTRA_SERVICES=<that service>)"
        )
    return load(entry, EventSource)  # type: ignore[type-abstract]
