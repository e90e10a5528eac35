"""The service update schema is derived from the create schema: same fields, same limits."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from booking.schemas import ServiceFields, ServiceUpdate
from kairos.events.booking import DEFAULT_REMINDERS

pytestmark = pytest.mark.unit


def question(key: str) -> dict[str, Any]:
    return {"key": key, "label": key.upper(), "type": "text"}


def reminder(before_minutes: int) -> dict[str, Any]:
    return {"before_minutes": before_minutes, "channels": ["email"], "to": ["client"]}


def test_an_update_may_send_any_field_of_the_create_schema_and_nothing_else() -> None:
    assert set(ServiceUpdate.model_fields) == set(ServiceFields.model_fields)
    assert ServiceUpdate().changes() == {}
    with pytest.raises(ValidationError):
        ServiceUpdate.model_validate({"colour": "blue"})


@pytest.mark.parametrize(
    "change",
    [
        {"duration_minutes": 4},
        {"max_advance_days": 0},
        {"currency": "eur"},
        {"name": ""},
        {"questions": [question(f"q{n}") for n in range(51)]},
        {"questions": [question("goal"), question("goal")]},
        {"reminders": [reminder(60), reminder(60)]},
        {"reminders": [reminder(30 * 24 * 60 + 1)]},
        {"no_show_notice": "x" * 5001},
    ],
)
def test_an_update_is_held_to_the_limits_of_the_create_schema(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ServiceFields.model_validate({"name": "Check-up", "duration_minutes": 30, **change})
    with pytest.raises(ValidationError):
        ServiceUpdate.model_validate(change)


def test_only_the_fields_a_service_may_lack_can_be_nulled() -> None:
    assert ServiceUpdate(price=None, max_per_day=None).changes() == {
        "price": None,
        "max_per_day": None,
    }
    with pytest.raises(ValueError, match="cannot be null: duration_minutes, name"):
        ServiceUpdate(name=None, duration_minutes=None).changes()


def test_sent_questions_are_changes_in_full_with_their_defaults() -> None:
    changes = ServiceUpdate.model_validate({"questions": [question("goal")]}).changes()

    assert changes == {"questions": [{**question("goal"), "required": False, "options": None}]}


def test_the_default_reminders_are_as_documented_and_hold_to_the_apis_rules() -> None:
    defaults = [r.model_dump() for r in DEFAULT_REMINDERS]

    assert [(r["before_minutes"], r["channels"], r["to"], r["join_link"]) for r in defaults] == [
        (48 * 60, ["email", "push"], ["client", "specialist"], False),
        (24 * 60, ["email"], ["client"], False),
        (60, ["sms", "push"], ["client"], False),
        (15, ["email", "push"], ["client", "specialist"], True),
    ]
    service = ServiceFields(name="Check-up", duration_minutes=30, reminders=defaults)
    assert service.model_dump()["reminders"] == defaults
