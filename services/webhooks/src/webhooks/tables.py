"""The webhooks service's tables and the life of a delivery.

A subscription says where events go; a delivery is one event for one subscription.
Deliveries of one subscription and one booking go out in the order of their events:
only the oldest unfinished one is `pending` (an effect sends it, kairos.effects); the
later ones wait `queued` behind it and are started when it finishes, delivered or given
up. A delivery keeps the event's envelope as it came from the topic, personal values
still sealed (erasable), and is revealed only when it is sent.

    queued ─▶ pending ─▶ delivered
                 │  ▲
                 ▼  │ resend
               failed (given up after the retry window, or its endpoint disabled)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid5

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from kairos.ddl import create_if_missing
from kairos.effects import EffectKind, record_effect
from kairos.events import Envelope

SubscriptionState = Literal["active", "disabled"]
DeliveryState = Literal["queued", "pending", "delivered", "failed"]

#: Namespace of delivery ids: uuid5 of the subscription and the event, so an event
#: handed over again (a replay, a republish) makes no second delivery.
DELIVERY_NAMESPACE = UUID("6b616972-6f73-5768-9f6f-6f6b73000001")

_DDL = """
CREATE TABLE IF NOT EXISTS webhook_subscriptions (
    id uuid PRIMARY KEY,
    url text NOT NULL,
    events text[] NOT NULL,
    description text,
    state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled')),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_success_at timestamptz,
    failing_since timestamptz,
    disabled_at timestamptz
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id uuid PRIMARY KEY,
    seq bigserial,
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions ON DELETE CASCADE,
    event_id uuid NOT NULL,
    type text NOT NULL,
    booking_id uuid NOT NULL,
    envelope jsonb NOT NULL,
    state text NOT NULL
        CHECK (state IN ('queued', 'pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    last_status integer,
    last_error text,
    effect_id uuid,
    resends integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    sending_since timestamptz,
    finished_at timestamptz,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_unfinished
    ON webhook_deliveries (subscription_id, booking_id, seq)
    WHERE state IN ('queued', 'pending');
CREATE INDEX IF NOT EXISTS webhook_deliveries_newest
    ON webhook_deliveries (subscription_id, seq DESC);
"""
_DDL_LOCK = 0x6B6169726F730015


class Send(BaseModel):
    """The effect that sends a delivery (once, or again after a resend)."""

    delivery_id: UUID


SEND = EffectKind("webhooks.send", Send)


def create_tables(conn: psycopg.Connection[Any]) -> None:
    create_if_missing(conn, _DDL_LOCK, _DDL)


def reason_of(subscription_id: UUID) -> str:
    """What cancel_effects groups a subscription's sends by."""
    return f"webhook-subscription:{subscription_id}"


@dataclass(frozen=True)
class Subscription:
    id: UUID
    url: str
    events: list[str]
    description: str | None
    state: SubscriptionState
    created_at: datetime
    last_success_at: datetime | None
    failing_since: datetime | None
    disabled_at: datetime | None


@dataclass(frozen=True)
class Delivery:
    id: UUID
    subscription_id: UUID
    event_id: UUID
    type: str
    booking_id: UUID
    state: DeliveryState
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    sending_since: datetime | None
    finished_at: datetime | None
    effect_id: UUID | None
    next_attempt_at: datetime | None


_SUBSCRIPTION = (
    "SELECT id, url, events, description, state, created_at, last_success_at, failing_since,"
    " disabled_at FROM webhook_subscriptions"
)
# next_attempt_at: when the dispatcher will try its effect next (kairos.effects keeps it).
_DELIVERY = (
    "SELECT d.id, d.subscription_id, d.event_id, d.type, d.booking_id, d.state, d.attempts,"
    " d.last_status, d.last_error, d.created_at, d.sending_since, d.finished_at, d.effect_id,"
    " CASE WHEN d.state = 'pending' AND e.status = 'pending' THEN e.due_at END"
    " AS next_attempt_at"
    " FROM webhook_deliveries d LEFT JOIN effects e ON e.id = d.effect_id"
)


def subscription(conn: psycopg.Connection[Any], id_: UUID) -> Subscription | None:
    with conn.cursor(row_factory=class_row(Subscription)) as cur:
        return cur.execute(f"{_SUBSCRIPTION} WHERE id = %s", (id_,)).fetchone()


def subscriptions(conn: psycopg.Connection[Any]) -> list[Subscription]:
    with conn.cursor(row_factory=class_row(Subscription)) as cur:
        return cur.execute(f"{_SUBSCRIPTION} ORDER BY created_at, id").fetchall()


def delivery(conn: psycopg.Connection[Any], id_: UUID, *, lock: bool = False) -> Delivery | None:
    locking = " FOR UPDATE OF d" if lock else ""
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        return cur.execute(f"{_DELIVERY} WHERE d.id = %s{locking}", (id_,)).fetchone()


def deliveries(conn: psycopg.Connection[Any], subscription_id: UUID, limit: int) -> list[Delivery]:
    """The subscription's newest deliveries first."""
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        return cur.execute(
            f"{_DELIVERY} WHERE d.subscription_id = %s ORDER BY d.seq DESC LIMIT %s",
            (subscription_id, limit),
        ).fetchall()


def envelope_of(conn: psycopg.Connection[Any], delivery_id: UUID) -> Envelope:
    row = conn.execute(
        "SELECT envelope FROM webhook_deliveries WHERE id = %s", (delivery_id,)
    ).fetchone()
    if row is None:
        raise LookupError(f"no delivery {delivery_id}")
    return Envelope.model_validate(row[0])


def enqueue(conn: psycopg.Connection[Any], envelope: Envelope, *, now: datetime) -> int:
    """Make a delivery of `envelope` for every active subscription to its type, in the
    consumer's transaction; how many were made (a repeat of the event makes none)."""
    made = 0
    for (subscription_id,) in conn.execute(
        "SELECT id FROM webhook_subscriptions WHERE state = 'active'"
        " AND (%s = ANY(events) OR '*' = ANY(events)) ORDER BY id",
        (envelope.type,),
    ).fetchall():
        id_ = uuid5(DELIVERY_NAMESPACE, f"{subscription_id}/{envelope.event_id}")
        inserted = conn.execute(
            "INSERT INTO webhook_deliveries (id, subscription_id, event_id, type, booking_id,"
            " envelope, state, created_at) VALUES (%s, %s, %s, %s, %s, %s, 'queued', %s)"
            " ON CONFLICT (subscription_id, event_id) DO NOTHING",
            (
                id_,
                subscription_id,
                envelope.event_id,
                envelope.type,
                envelope.aggregate_id,
                Jsonb(envelope.model_dump(mode="json")),
                now,
            ),
        ).rowcount
        if inserted:
            made += 1
            start_next(conn, subscription_id, envelope.aggregate_id, now=now)
    return made


def start_next(
    conn: psycopg.Connection[Any], subscription_id: UUID, booking_id: UUID, *, now: datetime
) -> None:
    """Start the oldest queued delivery of this subscription and booking, unless one of
    them is being sent already (in the caller's transaction)."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
        (f"{subscription_id}/{booking_id}",),
    )
    row = conn.execute(
        "SELECT id, state FROM webhook_deliveries WHERE subscription_id = %s"
        " AND booking_id = %s AND state IN ('queued', 'pending') ORDER BY seq LIMIT 1",
        (subscription_id, booking_id),
    ).fetchone()
    if row is not None and row[1] == "queued":
        send(conn, row[0], subscription_id, key=str(row[0]), now=now)


def send(
    conn: psycopg.Connection[Any],
    delivery_id: UUID,
    subscription_id: UUID,
    *,
    key: str,
    now: datetime,
) -> None:
    """Record the effect that sends the delivery now; its retry window starts now."""
    effect = record_effect(
        conn,
        SEND,
        Send(delivery_id=delivery_id),
        key=key,
        reason=reason_of(subscription_id),
        due_at=now,
    )
    conn.execute(
        "UPDATE webhook_deliveries SET state = 'pending', effect_id = %s, sending_since = %s,"
        " finished_at = NULL WHERE id = %s",
        (effect, now, delivery_id),
    )


def resend(conn: psycopg.Connection[Any], delivery_id: UUID, *, now: datetime) -> None:
    """Send a finished delivery again, with the same id (the receiver's dedupe key)."""
    row = conn.execute(
        "UPDATE webhook_deliveries SET resends = resends + 1 WHERE id = %s"
        " RETURNING subscription_id, resends",
        (delivery_id,),
    ).fetchone()
    if row is None:
        raise LookupError(f"no delivery {delivery_id}")
    send(conn, delivery_id, row[0], key=f"{delivery_id}/resend/{row[1]}", now=now)
