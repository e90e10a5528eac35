"""`python -m notifications.video_rooms`: each booking's video room, as video tells it.

Consumes video.events.v1 on the shared runner (kairos.messaging.runner; ops endpoints
on VIDEO_CONSUMER_OPS_PORT): RoomPrepared and RoomMoved keep when the room's waiting
room opens, RoomClosed that no one joins it again. It sends nothing: the messages
(notifications.effects) read the room when they are built, so a reminder shows when
the waiting room opens and carries no join link once the room is closed. The join
link itself stays the web app's waiting-room page (`/bookings/{id}/join#token=…`,
notifications.links): joining takes a browser that asks `POST …/join` for a LiveKit
token with the manage token and connects with it, which a link straight to LiveKit
cannot do.

Copies and reorderings are harmless: a window older than the one kept changes nothing,
and a closed room stays closed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import psycopg

from kairos.events import VIDEO_TOPIC, Envelope
from kairos.events.video import RoomClosed, RoomMoved, RoomPrepared
from kairos.messaging import ConsumerSpec, Handlers, run_consumer
from kairos.settings import ServiceSettings
from notifications.appointment import Links
from notifications.tables import VideoRoom, close_room, create_tables, save_room_window

CONSUMER = "notifications-video-rooms"

handlers = Handlers()


@handlers.on
def on_room_window(
    conn: psycopg.Connection[Any], envelope: Envelope, event: RoomPrepared | RoomMoved
) -> None:
    save_room_window(conn, event.booking_id, event.opens_at, envelope.occurred_at)


@handlers.on
def on_room_closed(conn: psycopg.Connection[Any], envelope: Envelope, event: RoomClosed) -> None:
    close_room(conn, event.booking_id, event.closed_at)


def with_room(links: Links, room: VideoRoom | None) -> Links:
    """A recipient's links as the booking's room stands: no join link once it is closed,
    and when its waiting room opens once video told."""
    if room is None:
        return links
    if room.closed:
        return replace(links, join=None, join_opens_at=None)
    return replace(links, join_opens_at=room.opens_at)


def video_rooms_spec() -> ConsumerSpec:
    return ConsumerSpec(
        CONSUMER,
        VIDEO_TOPIC,
        handlers,
        setup=create_tables,
        ops_port_env="VIDEO_CONSUMER_OPS_PORT",
    )


def main() -> None:
    run_consumer(video_rooms_spec(), ServiceSettings())


if __name__ == "__main__":
    main()
