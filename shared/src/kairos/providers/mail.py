"""Sending e-mail: the `Mailer` Protocol and the message it takes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "text/calendar; method=REQUEST"
    data: bytes


@dataclass(frozen=True, repr=False)
class OutgoingMail:
    """One e-mail. `message_id` (RFC 5322 `<left@right>`) is its idempotency key: the
    same message sent again (after a crash between sending and recording it) carries
    the same Message-ID, so the receiving side can recognise the repeat."""

    message_id: str
    sender: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None
    date: datetime
    attachments: tuple[Attachment, ...] = ()

    def __repr__(self) -> str:
        # Addresses and contents are personal data: keep them out of logs and tracebacks.
        return f"OutgoingMail(message_id={self.message_id!r})"


class Mailer(Protocol):
    """Hands an e-mail to a mail server.

    Returns once the server accepted it. Raises `DeliveryDeferred` when trying later
    may succeed (connection refused, timeout, a 4xx reply) and `DeliveryRejected` when
    it will not (a 5xx reply: unknown recipient, refused sender).
    """

    def send(self, mail: OutgoingMail) -> None: ...


@runtime_checkable
class BatchMailer(Mailer, Protocol):
    """A `Mailer` that also sends several e-mails at once (over several connections)."""

    def send_many(self, mails: Sequence[OutgoingMail]) -> list[Exception | None]:
        """What became of each, in order: None once accepted, else what `send` raises."""
        ...


def send_all(mailer: Mailer, mails: Sequence[OutgoingMail]) -> list[Exception | None]:
    """Send `mails` together where `mailer` can, else one after the other; what became
    of each, in order (None: accepted)."""
    if isinstance(mailer, BatchMailer):
        return mailer.send_many(mails)
    results: list[Exception | None] = []
    for mail in mails:
        try:
            mailer.send(mail)
        except Exception as exc:
            results.append(exc)
        else:
            results.append(None)
    return results
