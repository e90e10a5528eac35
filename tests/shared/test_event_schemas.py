"""The committed JSON Schemas are the public topic contract: they must match the models."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from kairos.events import (
    BOOKING_TOPIC,
    CALENDAR_TOPIC,
    REGISTRIES,
    REGISTRY,
    VIDEO_TOPIC,
    Envelope,
    EventRegistry,
    UnknownEventType,
    contract_schemas,
)
from kairos.events.booking import BookingCancelled, BookingConfirmed, BookingRescheduled, Payload
from kairos.events.calendar import ExternalBusyChanged
from kairos.events.registry import SCHEMA_DIR
from kairos.events.video import SessionEnded


def test_every_committed_schema_matches_its_model() -> None:
    expected = contract_schemas(*REGISTRIES.values())
    committed = {path.name: json.loads(path.read_text()) for path in SCHEMA_DIR.glob("*.json")}
    stale = sorted(name for name in expected if committed.get(name) != expected[name])
    extra = sorted(set(committed) - set(expected))
    assert not stale and not extra, (
        f"out of date: {stale}, no longer produced: {extra}; run `make schemas` and commit"
    )


def test_each_topic_has_its_own_registry_of_the_documented_event_types() -> None:
    """API.md, Kafka topics: the types each topic carries (calendar-sync also says when a
    calendar is disconnected, so its busy time can stop blocking)."""
    for name in ("SlotRequested", "BookingConfirmed", "BookingRescheduled", "NoShowMarked"):
        assert REGISTRIES[BOOKING_TOPIC].latest_version(name) == 1
    for name in ("ExternalBusyChanged", "CalendarConnected", "CalendarDisconnected"):
        assert REGISTRIES[CALENDAR_TOPIC].latest_version(name) == 1
        with pytest.raises(UnknownEventType):
            REGISTRIES[BOOKING_TOPIC].latest_version(name)
    for name in ("SessionStarted", "SessionEnded", "RecordingAvailable"):
        assert REGISTRIES[VIDEO_TOPIC].latest_version(name) == 1
        with pytest.raises(UnknownEventType):
            REGISTRIES[CALENDAR_TOPIC].latest_version(name)
    for name in REGISTRIES[CALENDAR_TOPIC].schemas():
        assert (SCHEMA_DIR / name).is_file(), f"{name} is not committed"
    for name in REGISTRIES[VIDEO_TOPIC].schemas():
        assert (SCHEMA_DIR / name).is_file(), f"{name} is not committed"


def test_calendar_and_video_events_decode_from_their_topics_registries() -> None:
    busy = _envelope(
        "ExternalBusyChanged",
        1,
        {
            "connection_id": str(uuid4()),
            "specialist_id": str(uuid4()),
            "range_start": "2026-03-09T00:00:00Z",
            "range_end": "2026-04-09T00:00:00Z",
            "busy": [{"starts_at": "2026-03-09T10:00:00Z", "ends_at": "2026-03-09T11:00:00Z"}],
        },
        producer="calendar-sync",
    )
    decoded = REGISTRIES[CALENDAR_TOPIC].decode(busy)
    assert isinstance(decoded, ExternalBusyChanged)
    assert decoded.busy[0].ends_at - decoded.busy[0].starts_at == timedelta(hours=1)

    ended = _envelope(
        "SessionEnded",
        1,
        {
            "booking_id": str(uuid4()),
            "room": "booking-1",
            "started_at": None,
            "ended_at": "2026-03-09T11:00:00Z",
            "participants": ["specialist"],
            "no_show_suggested": "client",
        },
        producer="video",
    )
    session = REGISTRIES[VIDEO_TOPIC].decode(ended)
    assert isinstance(session, SessionEnded) and session.no_show_suggested == "client"
    with pytest.raises(UnknownEventType):
        REGISTRY.decode(ended)  # not a booking.events.v1 type


def test_a_booking_event_published_before_snapshots_existed_still_decodes() -> None:
    booking_id = uuid4()
    old_confirmed = REGISTRY.decode(
        _envelope("BookingConfirmed", 1, {"booking_id": str(booking_id)})
    )
    assert isinstance(old_confirmed, BookingConfirmed)
    assert old_confirmed.booking_id == booking_id and old_confirmed.booking is None

    instant = "2026-03-09T09:00:00Z"
    old_rescheduled = REGISTRY.decode(
        _envelope(
            "BookingRescheduled",
            1,
            {
                "booking_id": str(booking_id),
                "starts_at": instant,
                "ends_at": instant,
                "busy_from": instant,
                "busy_until": instant,
                "previous_starts_at": instant,
                "previous_ends_at": instant,
            },
        )
    )
    assert isinstance(old_rescheduled, BookingRescheduled) and old_rescheduled.booking is None


def _envelope(
    type_: str, version: int, data: dict[str, object], producer: str = "booking"
) -> Envelope:
    return Envelope(
        event_id=uuid4(),
        type=type_,
        version=version,
        occurred_at=datetime.now(UTC),
        producer=producer,
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
        schema = registered["properties"][field]
        # A personal field is sealed, or a plain string in events stored before sealing.
        [string] = [s for s in schema.get("anyOf", [schema]) if s.get("type") == "string"]
        assert "\\x00" in string["pattern"]
    sealed = registered["$defs"]["Sealed"]
    assert set(sealed["required"]) == {"subject", "sealed"}
