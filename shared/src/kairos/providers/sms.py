"""Sending SMS: the `SmsSender` Protocol and the message it takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, repr=False)
class OutgoingSms:
    """One text message. `idempotency_key` (the effect id) names it: SMS APIs keep no
    idempotency keys, so a sender passes it where the provider echoes it back (the
    status callback's URL), and a repeat after a crash is recognisable there."""

    to: str  # E.164, "+14155550100"
    body: str
    idempotency_key: str

    def __repr__(self) -> str:
        return f"OutgoingSms(idempotency_key={self.idempotency_key!r})"


class SmsSender(Protocol):
    """Hands a text message to an SMS provider; returns the provider's message id.

    Raises `DeliveryDeferred` when trying later may succeed (timeout, 429, 5xx) and
    `DeliveryRejected` when it will not (an invalid number, bad credentials).
    """

    def send(self, sms: OutgoingSms) -> str: ...
