"""The committed JSON Schemas are the public topic contract: they must match the models."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from kairos.events import REGISTRY, Envelope, EventRegistry, UnknownEventType
from kairos.events.booking import BookingCancelled, Payload
from kairos.events.registry import SCHEMA_DIR


def test_every_committed_schema_matches_its_model() -> None:
    expected = REGISTRY.schemas()
    committed = {path.name: json.loads(path.read_text()) for path in SCHEMA_DIR.glob("*.json")}
    stale = sorted(name for name in expected if committed.get(name) != expected[name])
    extra = sorted(set(committed) - set(expected))
    assert not stale and not extra, (
        f"out of date: {stale}, no longer produced: {extra}; run `make schemas` and commit"
    )


def _envelope(type_: str, version: int, data: dict[str, object]) -> Envelope:
    return Envelope(
        event_id=uuid4(),
        type=type_,
        version=version,
        occurred_at=datetime.now(UTC),
        producer="booking",
        notification_id=1,
        aggregate_id=uuid4(),
        specialist_id=uuid4(),
        data=data,
    )


def test_an_old_version_is_upcast_to_the_current_model() -> None:
    class BookingCancelledV1(Payload):
        booking_id: UUID
        reason: str | None
        refund_eligible: bool

    registry = EventRegistry()
    registry.register(BookingCancelledV1, version=1, name="BookingCancelled")
    registry.register(BookingCancelled, version=2)
    registry.register_upcaster("BookingCancelled", 1, lambda d: {**d, "cancelled_by": "client"})

    booking_id = uuid4()
    old = {"booking_id": str(booking_id), "reason": None, "refund_eligible": True}
    payload = registry.decode(_envelope("BookingCancelled", 1, old))

    assert isinstance(payload, BookingCancelled)
    assert payload.booking_id == booking_id and payload.cancelled_by == "client"


def test_a_version_without_an_upcaster_is_refused() -> None:
    class ServiceDefinedV2(Payload):
        service_id: UUID

    registry = EventRegistry()
    registry.register(BookingCancelled, version=1)
    registry.register(ServiceDefinedV2, version=2, name="BookingCancelled")
    with pytest.raises(UnknownEventType):
        registry.decode(_envelope("BookingCancelled", 1, {"booking_id": str(uuid4())}))


def test_unknown_types_versions_and_bad_payloads_are_refused() -> None:
    with pytest.raises(UnknownEventType):
        REGISTRY.decode(_envelope("NoSuchEvent", 1, {}))
    with pytest.raises(UnknownEventType):
        REGISTRY.decode(_envelope("BookingCancelled", 7, {}))
    with pytest.raises(ValidationError):
        REGISTRY.decode(_envelope("BookingCancelled", 1, {"booking_id": "not-a-uuid"}))


def _slot_requested(**changes: object) -> dict[str, object]:
    instant = "2026-03-09T09:00:00Z"
    data: dict[str, object] = {
        "booking_id": str(uuid4()),
        "service_id": str(uuid4()),
        "starts_at": instant,
        "ends_at": instant,
        "busy_from": instant,
        "busy_until": instant,
        "client": {"name": "Lee", "email": "lee@example.org", "timezone": "UTC"},
        "answers": {"topic": "two\nlines"},
        "notes": "tab\tand newline\n",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "poison",
    [
        {"client": {"name": "Le\x00e", "email": "lee@example.org", "timezone": "UTC"}},
        {"client": {"name": "Lee", "email": "le\x00e@example.org", "timezone": "UTC"}},
        {"answers": {"topic": "a\x00b"}},
        {"answers": {"to\x00pic": "ab"}},
        {"notes": "\x00"},
    ],
)
def test_the_contract_refuses_a_nul_anywhere_in_an_event(poison: dict[str, object]) -> None:
    assert REGISTRY.decode(_envelope("SlotRequested", 1, _slot_requested()))

    with pytest.raises(ValidationError):
        REGISTRY.decode(_envelope("SlotRequested", 1, _slot_requested(**poison)))


def test_the_committed_schemas_state_that_no_string_holds_a_nul() -> None:
    registered = json.loads((SCHEMA_DIR / "SpecialistRegistered.v1.json").read_text())

    for field in ("name", "email", "timezone"):
        assert "\\x00" in registered["properties"][field]["pattern"]
