"""A service's fields are written once per layer: the API's create schema, the domain's
terms and the event contract's payload name the same fields, and a service stored before
the domain grouped its terms still reads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, replace
from decimal import Decimal

import pytest
from eventsourcing.persistence import StoredEvent

from booking.application import Bookings
from booking.domain import Service, ServiceTerms
from booking.integration import IntegrationMapper
from booking.schemas import ReminderIn, ServiceFields
from kairos.events import booking as contract
from tests.booking.helpers import service_terms

pytestmark = pytest.mark.unit

QUESTION = {"key": "goal", "label": "Goal", "type": "text", "required": True, "options": None}


@pytest.fixture
def app() -> Iterator[Bookings]:
    app = Bookings(env={})
    yield app
    app.close()


def test_the_api_the_domain_and_the_contract_name_the_same_fields() -> None:
    domain = {f.name for f in fields(ServiceTerms)}

    assert set(ServiceFields.model_fields) == domain
    assert set(contract.ServiceDefinition.model_fields) == domain | {"service_id", "specialist_id"}
    assert set(ReminderIn.model_fields) == set(contract.Reminder.model_fields)


def as_stored_by_version_1(app: Bookings, event: Service.Defined) -> StoredEvent:
    """`event` as the code before ServiceTerms stored it: the terms beside the owner."""
    stored = app.mapper.to_stored_event(event)
    state = app.mapper.transcoder.decode(stored.state)
    del state["class_version"]
    state.update(state.pop("terms"))
    return replace(stored, state=app.mapper.transcoder.encode(state))


def test_a_service_stored_before_its_terms_were_grouped_reads_as_it_was_defined(
    app: Bookings,
) -> None:
    specialist_id = app.register_specialist("Dr. Grey", "grey@example.org", "UTC")
    terms = service_terms(price=Decimal("80.00"), currency="EUR", questions=[QUESTION])
    service = Service.define(specialist_id, terms)
    [defined] = service.collect_events()
    app.recorder.insert_events([as_stored_by_version_1(app, defined)])

    read = app.service(service.id)
    assert (read.specialist_id, read.terms) == (specialist_id, terms)

    [read_event] = app.repository.event_store.get(service.id)
    assert IntegrationMapper(app).payload(read_event) == contract.ServiceDefined(
        service_id=service.id, specialist_id=specialist_id, **vars(terms)
    )


def test_a_new_service_is_stored_with_its_terms_grouped(app: Bookings) -> None:
    specialist_id = app.register_specialist("Dr. Grey", "grey@example.org", "UTC")
    service = app.define_service(specialist_id, service_terms())

    [stored] = app.recorder.select_events(service.id)
    state = app.mapper.transcoder.decode(stored.state)
    assert state["class_version"] == 2
    assert state["specialist_id"] == specialist_id
    assert ServiceTerms(**state["terms"]) == service_terms()


REMINDERS = [{"before_minutes": 120, "channels": ["sms"], "to": ["client"], "join_link": False}]


def test_reminders_and_the_no_show_notice_travel_in_the_service_events(app: Bookings) -> None:
    specialist_id = app.register_specialist("Dr. Grey", "grey@example.org", "UTC")
    service = app.define_service(
        specialist_id, service_terms(reminders=REMINDERS, no_show_notice="Sorry we missed you")
    )
    app.update_service(service.id, {"reminders": None})
    mapper = IntegrationMapper(app)

    defined, updated = (mapper.payload(e) for e in app.repository.event_store.get(service.id))

    assert isinstance(defined, contract.ServiceDefined)
    assert defined.reminders == [contract.Reminder.model_validate(r) for r in REMINDERS]
    assert defined.no_show_notice == "Sorry we missed you"
    assert isinstance(updated, contract.ServiceUpdated)
    assert (updated.reminders, updated.no_show_notice) == (None, "Sorry we missed you")
    published = defined.model_dump(mode="json")
    assert contract.ServiceDefined.model_validate(published) == defined


def test_the_video_terms_travel_in_the_service_events_and_are_checked_at_the_api(
    app: Bookings,
) -> None:
    specialist_id = app.register_specialist("Dr. Ames", "ames@example.org", "UTC")
    service = app.define_service(
        specialist_id, service_terms(recording="required", waiting_room_minutes=15)
    )
    app.update_service(service.id, {"recording": "optional"})
    mapper = IntegrationMapper(app)

    defined, updated = (mapper.payload(e) for e in app.repository.event_store.get(service.id))

    assert isinstance(defined, contract.ServiceDefined)
    assert (defined.recording, defined.waiting_room_minutes) == ("required", 15)
    assert isinstance(updated, contract.ServiceUpdated)
    assert (updated.recording, updated.waiting_room_minutes) == ("optional", 15)
    base = {"name": "X", "duration_minutes": 30}
    for refused in ({"recording": "sometimes"}, {"waiting_room_minutes": 121}):
        with pytest.raises(ValueError):
            ServiceFields.model_validate(base | refused)


def test_a_service_event_published_before_reminders_existed_still_decodes(app: Bookings) -> None:
    specialist_id = app.register_specialist("Dr. Grey", "grey@example.org", "UTC")
    service = app.define_service(specialist_id, service_terms())
    [defined] = app.repository.event_store.get(service.id)
    published = IntegrationMapper(app).payload(defined)
    assert published is not None
    old = published.model_dump(mode="json", exclude={"reminders", "no_show_notice"})

    read = contract.ServiceDefined.model_validate(old)

    assert (read.reminders, read.no_show_notice) == (None, None)
    assert read == published
