"""A producer's event store read as integration events: the source of replays.

Kafka may have lost data; the event store has not (ARCHITECTURE.md rule 1). A
read model rebuilds from here, and `republish` sends a range of it to a topic
again for downstream consumers. Only the stored events the translator publishes
are read (the store filters them by topic), so internal events cost nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from aiokafka import AIOKafkaProducer
from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from kairos.events import Envelope
from kairos.events.booking import Payload
from kairos.messaging.kafka import TOPIC_PARTITIONS, partition_for


class Translator(Protocol):
    """Maps a service's stored domain events to its integration events."""

    def published_topics(self) -> Sequence[str]:
        """The eventsourcing topics of the domain events that have an integration event."""
        ...

    def payload(self, event: Any) -> Payload | None: ...

    def specialist_of(self, event: Any) -> UUID: ...

    def __call__(self, event: Any, notification_id: int) -> Envelope | None: ...


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An integration event's payload at its place in the log (an `Origin` for projections)."""

    notification_id: int
    specialist_id: UUID
    payload: Payload


class NotificationLog:
    """`app`'s notification log, as the integration events `translator` makes of it."""

    def __init__(self, app: Application[Any], translator: Translator) -> None:
        self._app = app
        self._translator = translator
        self._topics = tuple(translator.published_topics())

    def top(self) -> int:
        """The highest notification id in the log (0 when empty)."""
        return self._app.recorder.max_notification_id() or 0

    def pages(
        self, after: int = 0, until: int | None = None, page_size: int = 5000
    ) -> Iterator[list[LoggedEvent]]:
        """Pages of published events with after < notification id <= until, in log order."""
        to_domain_event = self._app.mapper.to_domain_event
        for notifications in self._notifications(after, until, page_size):
            page = []
            for notification in notifications:
                event = to_domain_event(notification)
                payload = self._translator.payload(event)
                if payload is not None:
                    specialist = self._translator.specialist_of(event)
                    page.append(LoggedEvent(notification.id, specialist, payload))
            yield page

    def envelopes(self, after: int, until: int, page_size: int = 1000) -> Iterator[list[Envelope]]:
        """Pages of the published events in (after, until] as envelopes."""
        to_domain_event = self._app.mapper.to_domain_event
        for notifications in self._notifications(after, until, page_size):
            envelopes = (self._translator(to_domain_event(n), n.id) for n in notifications)
            yield [e for e in envelopes if e is not None]

    def _notifications(
        self, after: int, until: int | None, page_size: int
    ) -> Iterator[Sequence[Notification]]:
        while True:
            notifications = self._app.recorder.select_notifications(
                start=after,
                limit=page_size,
                stop=until,
                topics=self._topics,
                inclusive_of_start=False,
            )
            if not notifications:
                return
            yield notifications
            after = notifications[-1].id


async def republish(
    log: NotificationLog,
    producer: AIOKafkaProducer,
    topic: str,
    after: int,
    until: int,
    partitions: int = TOPIC_PARTITIONS,
) -> int:
    """Send the published events in (after, until] to `topic` again; returns how many.

    Each keeps its event id and notification id, so a consumer that applied it
    before skips it. The messages carry no predecessor header: they are a replay,
    not the live sequence, and must not make consumers wait for a gap to close.
    """
    sent = 0
    for page in log.envelopes(after, until):
        futures = []
        for envelope in page:
            key = str(envelope.specialist_id).encode()
            futures.append(
                await producer.send(
                    topic,
                    value=envelope.model_dump_json().encode(),
                    key=key,
                    partition=partition_for(key, partitions),
                )
            )
        for future in futures:
            await future
        sent += len(futures)
    return sent
