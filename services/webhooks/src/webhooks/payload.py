"""What a receiver gets: the event's envelope as on the topic (booking.events.v1, the
public versioned contract), with its personal values in clear text.

A CRM needs the client's name, e-mail address and phone, so a delivery reveals them
(kairos.privacy) at the moment it is sent, every time it is sent: once a person is
erased, their values read "[erased]" in every later attempt or resend, and nothing of
them is sent again. Intake answers and notes are health-related: they never leave Kairos
by webhook (answers keep their question keys with empty values, notes are null).
"""

from __future__ import annotations

from typing import Any

from kairos.events import Envelope
from kairos.privacy import PersonalData, Revealer, as_sealed

# Health-related content of the contract (ARCHITECTURE.md rule 7), withheld from receivers.
WITHHELD_KEYS = frozenset({"answers", "notes"})


def body(envelope: Envelope, personal: PersonalData) -> bytes:
    """The request body of a delivery of `envelope`, revealed now."""
    revealer = personal.revealer()
    data = _withheld(envelope.data)
    revealer.prefetch(data)  # one key-store query for every person in the event
    revealed = envelope.model_copy(update={"data": _revealed(data, revealer)})
    return revealed.model_dump_json().encode()


def _withheld(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _empty(item) if key in WITHHELD_KEYS else _withheld(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_withheld(item) for item in value]
    return value


def _empty(value: Any) -> Any:
    if isinstance(value, dict) and as_sealed(value) is None:
        return {key: None for key in value}
    return None


def _revealed(value: Any, revealer: Revealer) -> Any:
    if as_sealed(value) is not None:
        return revealer.reveal(value)
    if isinstance(value, dict):
        return {key: _revealed(item, revealer) for key, item in value.items()}
    if isinstance(value, list):
        return [_revealed(item, revealer) for item in value]
    return value
