"""LiveKit's webhooks: verified, deduplicated, ordered, applied to the sessions.

LiveKit signs each webhook with a JWT of its API key (`Authorization`), whose `sha256`
claim is the body's hash: WebhookReceiver checks both, and anything it refuses changes
nothing (401). Delivery is at least once and unordered: a webhook id already applied
is acknowledged and skipped (`video_webhooks`), and the session orders facts about a
participant by LiveKit's `created_at` (video.domain). LiveKit does not send a lost
webhook again: the reconcile loop repairs what one would have changed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from livekit import api
from livekit.protocol.webhook import WebhookEvent
from psycopg_pool import ConnectionPool

from kairos.errors import KairosError
from video.application import Sessions
from video.domain import Party
from video.effects import record_recording_start

log = logging.getLogger("video.webhooks")

ROOM_PREFIX = "booking-"


class InvalidWebhook(KairosError):
    code = "invalid_signature"
    status = 401


def create_tables(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS video_webhooks ("
        " id text PRIMARY KEY, event text NOT NULL, created_at timestamptz NOT NULL,"
        " received_at timestamptz NOT NULL DEFAULT now())"
    )


def booking_of(room: str) -> UUID | None:
    """The booking a room belongs to; None for a room this service did not make."""
    if not room.startswith(ROOM_PREFIX):
        return None
    try:
        return UUID(room.removeprefix(ROOM_PREFIX))
    except ValueError:
        return None


def identity(party: Party, owner: UUID) -> str:
    """A participant's LiveKit identity: the specialist's id, or the booking's for its
    client (who has no account). No name or address goes to LiveKit."""
    return f"{party}:{owner}"


def party_of(identity: str) -> Party | None:
    kind = identity.partition(":")[0]
    if kind == "specialist":
        return "specialist"
    if kind == "client":
        return "client"
    return None


class LiveKitWebhooks:
    def __init__(self, app: Sessions, pool: ConnectionPool[Any], api_key: str, secret: str):
        self._app = app
        self._pool = pool
        self._receiver = api.WebhookReceiver(api.TokenVerifier(api_key, secret))

    def receive(self, body: str, authorization: str | None) -> bool:
        """Apply one webhook; False for one already applied. Raises InvalidWebhook."""
        token = (authorization or "").removeprefix("Bearer ").strip()
        try:
            event = self._receiver.receive(body, token)
        except Exception as exc:  # the SDK raises bare Exceptions for hash mismatches
            raise InvalidWebhook(f"the webhook's signature does not verify: {exc}") from None
        created_at = datetime.fromtimestamp(event.created_at, UTC)
        with self._pool.connection() as conn, conn.transaction():
            fresh = conn.execute(
                "INSERT INTO video_webhooks (id, event, created_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING RETURNING id",
                (event.id, event.event, created_at),
            ).fetchone()
            if fresh is None:
                return False
            # Applied before the id's row commits: a failure leaves the id unrecorded,
            # so LiveKit's (or the reconcile loop's) next word is not taken for a repeat.
            self._apply(conn, event, created_at)
        return True

    def _apply(self, conn: psycopg.Connection[Any], event: WebhookEvent, at: datetime) -> None:
        room = event.room.name or event.egress_info.room_name
        booking_id = booking_of(room)
        if booking_id is None:
            log.info("webhook %s for a room not ours: ignored", event.event)
            return
        if event.event in ("participant_joined", "participant_left"):
            party = party_of(event.participant.identity)
            if party is None:
                return
            if event.event == "participant_joined":
                session = self._app.joined(booking_id, party, at)
                if session is not None and session.state == "live" and session.may_record:
                    record_recording_start(conn, session)
            else:
                self._app.left(booking_id, party, at)
        elif event.event == "room_finished":
            self._app.room_finished(booking_id, at)
        elif event.event == "egress_started":
            self._app.recording_started(booking_id, event.egress_info.egress_id, at)
        elif event.event == "egress_ended" and event.egress_info.file_results:
            file = event.egress_info.file_results[0]
            self._app.recording_ready(
                booking_id,
                event.egress_info.egress_id,
                file.filename,
                duration_seconds=file.duration // 1_000_000_000,
                size_bytes=file.size,
                at=at,
            )
