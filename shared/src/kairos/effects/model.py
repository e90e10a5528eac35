"""What an effect is: a kind with typed data, a deterministic id, a reason, a due time.

A consumer's handler records effects in its own transaction (ARCHITECTURE.md
rule 6); an `EffectDispatcher` performs them after the commit. The kind is the
contract between the two: its name is stored with each effect, and its data
model validates what the handler records and what the performer receives.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid5

import psycopg
from pydantic import BaseModel

from kairos.effects.backoff import Backoff

#: Namespace of effect ids: uuid5(EFFECT_NAMESPACE, "<kind>\n<key>").
EFFECT_NAMESPACE = UUID("0b6f6c1e-8f0c-5d5e-9a49-6b6169726f73")

D = TypeVar("D", bound=BaseModel)


class TransientEffectError(Exception):
    """Raised by a performer when trying again later may succeed (timeout, 429, 5xx).
    Any other exception is permanent: the effect is parked at once for an operator.

    `retry_after` is how long the provider asked us to wait (HTTP Retry-After): the
    next try comes no sooner than that, nor sooner than the backoff's own delay.
    """

    def __init__(self, message: str = "", *, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Status(enum.StrEnum):
    PENDING = "pending"  # waiting for its due time, or leased by a dispatcher
    DONE = "done"
    SKIPPED = "skipped"  # its re-check said the reason went away
    CANCELLED = "cancelled"  # cancelled by a handler before it ran
    PARKED = "parked"  # kept failing: waits for an operator's re-drive


def effect_id(kind: str, key: str) -> UUID:
    """The effect's id, the same every time the same event asks for it.

    `key` names what caused it within the kind (usually the event id, or the
    booking id for an effect that must happen once per booking).
    """
    return uuid5(EFFECT_NAMESPACE, f"{kind}\n{key}")


@dataclass(frozen=True)
class EffectKind(Generic[D]):
    """A kind of effect: its stored name and the pydantic model of its data."""

    name: str
    data: type[D]


@dataclass(frozen=True)
class Effect(Generic[D]):
    """One effect as a performer sees it; pass `id` to the provider as its idempotency key."""

    id: UUID
    kind: str
    reason: str
    due_at: datetime
    attempt: int  # 1 on the first try
    data: D

    @property
    def idempotency_key(self) -> str:
        return str(self.id)


#: Does the effect still make sense? Reads current state in a short transaction.
Recheck = Callable[[psycopg.Connection[Any], Effect[D]], bool]


@dataclass(frozen=True)
class EffectHandler(Generic[D]):
    """How a dispatcher performs one kind: `perform` calls the provider (outside any
    transaction); `recheck`, if given, runs first and may say the effect is moot.

    A `TransientEffectError` is retried with backoff up to `max_attempts` tries in
    all, then the effect is parked; any other exception parks it at once. `backoff`,
    if given, replaces the dispatcher's for this kind (a webhook retried for days).
    """

    kind: EffectKind[D]
    perform: Callable[[Effect[D]], None]
    recheck: Recheck[D] | None = None
    max_attempts: int = 8
    backoff: Backoff | None = None

    def effect(self, row: StoredEffect) -> Effect[D]:
        return _effect(self.kind, row)


#: What became of each effect of a batch, in its order: True performed, False moot
#: (its re-check said no), or the exception it failed with (transient or not, as above).
BatchOutcome = bool | Exception


@dataclass(frozen=True)
class BatchEffectHandler(Generic[D]):
    """How a dispatcher performs one kind a claimed batch at a time: `perform_batch`
    gets every effect of the kind the dispatcher claimed together, re-checks them (in
    one read of current state, just before calling the provider) and performs them
    (e.g. over several connections at once), and says what became of each. It is for
    providers whose per-call cost is the bottleneck (SMTP); retries and parking are
    the dispatcher's, as for an `EffectHandler`."""

    kind: EffectKind[D]
    perform_batch: Callable[[Sequence[Effect[D]]], Sequence[BatchOutcome]]
    max_attempts: int = 8
    backoff: Backoff | None = None

    def effect(self, row: StoredEffect) -> Effect[D]:
        return _effect(self.kind, row)


#: Any handler a dispatcher takes.
AnyEffectHandler = EffectHandler[Any] | BatchEffectHandler[Any]


def _effect(kind: EffectKind[D], row: StoredEffect) -> Effect[D]:
    return Effect(
        id=row.id,
        kind=row.kind,
        reason=row.reason,
        due_at=row.due_at,
        attempt=row.attempts,
        data=kind.data.model_validate(row.data),
    )


@dataclass(frozen=True)
class StoredEffect:
    """An effect row as the store returns it (data still raw JSON)."""

    id: UUID
    kind: str
    reason: str
    status: Status
    due_at: datetime
    attempts: int
    data: dict[str, Any]
    last_error: str | None = None
    lease: UUID | None = None
