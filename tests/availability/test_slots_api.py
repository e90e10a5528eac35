"""The contract of GET /v1/slots (API.md, "Slots"), its errors, `min_position`, and the
ops endpoints every service serves.

The answer is {service_id, timezone, slots: [{start, end, local_start}]}, ascending;
`from`/`to` are inclusive dates in `timezone`, which defaults to the specialist's. Bad
input is a 422 in the one error shape {"error": {"code", "message", "details"}}, never
a 500. `min_position` (a booking response's `notification_id`) makes the query wait, up
to about a second, until the read model has applied that event.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from tests.availability.conftest import World
from tests.booking.helpers import error_code, expect

pytestmark = pytest.mark.integration


@pytest.fixture
def world(shared_world: World) -> World:
    return shared_world


@pytest.fixture(scope="module")
def service_id(module_world: World) -> str:
    """A 60 minute service of a specialist in Berlin (UTC+1 in early March), weekdays
    09:00-17:00, that no test books."""
    sp = module_world.catalog.specialist("Europe/Berlin")
    service = module_world.catalog.service(sp["id"])
    module_world.sync()
    return str(service["id"])


@pytest.fixture
def as_deployed(world: World) -> Iterator[TestClient]:
    """The slots app answering a server error with a 500 instead of raising it here."""
    yield TestClient(world.slots_api.app, raise_server_exceptions=False)


MONDAY, TUESDAY, WEDNESDAY = "2026-03-09", "2026-03-10", "2026-03-11"
SATURDAY, SUNDAY = "2026-03-14", "2026-03-15"
# Berlin's 09:00..16:00 on a March weekday, in UTC.
BERLIN_DAY = [f"{h:02d}:00" for h in range(8, 16)]


def z(day: str, *times: str) -> list[str]:
    return [f"{day}T{t}:00Z" for t in times]


def starts(response: Any) -> list[str]:
    return [slot["start"] for slot in expect(response, 200)["slots"]]


# --- the answer ---------------------------------------------------------------------------------


def test_the_answer_names_the_service_and_zone_and_lists_slots_ascending(
    world: World, service_id: str
) -> None:
    body = expect(world.slots(service_id, MONDAY, TUESDAY), 200)

    assert set(body) == {"service_id", "timezone", "slots"}
    assert body["service_id"] == service_id
    assert body["timezone"] == "Europe/Berlin"  # the specialist's, as none was asked for
    assert [s["start"] for s in body["slots"]] == z(MONDAY, *BERLIN_DAY) + z(TUESDAY, *BERLIN_DAY)
    assert body["slots"][0] == {
        "start": "2026-03-09T08:00:00Z",
        "end": "2026-03-09T09:00:00Z",
        "local_start": "2026-03-09T09:00:00+01:00",
    }
    for slot in body["slots"]:
        assert set(slot) == {"start", "end", "local_start"}
        start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
        assert slot["start"].endswith("Z") and slot["end"].endswith("Z")
        assert end - start == timedelta(hours=1)
        assert datetime.fromisoformat(slot["local_start"]) == start
        assert slot["local_start"].endswith("+01:00")
    instants = [datetime.fromisoformat(s["start"]) for s in body["slots"]]
    assert instants == sorted(set(instants))


def test_a_viewer_zone_is_echoed_and_used_for_local_start(world: World, service_id: str) -> None:
    body = expect(world.slots(service_id, MONDAY, MONDAY, "America/Sao_Paulo"), 200)

    assert body["timezone"] == "America/Sao_Paulo"
    assert body["slots"][0]["start"] == "2026-03-09T08:00:00Z"
    assert body["slots"][0]["local_start"] == "2026-03-09T05:00:00-03:00"


def test_from_and_to_are_both_inclusive(world: World, service_id: str) -> None:
    assert starts(world.slots(service_id, MONDAY, MONDAY)) == z(MONDAY, *BERLIN_DAY)
    assert starts(world.slots(service_id, WEDNESDAY, WEDNESDAY)) == z(WEDNESDAY, *BERLIN_DAY)
    assert starts(world.slots(service_id, MONDAY, WEDNESDAY)) == (
        z(MONDAY, *BERLIN_DAY) + z(TUESDAY, *BERLIN_DAY) + z(WEDNESDAY, *BERLIN_DAY)
    )


def test_a_range_without_working_hours_answers_an_empty_list(world: World, service_id: str) -> None:
    body = expect(world.slots(service_id, SATURDAY, SUNDAY), 200)

    assert body == {"service_id": service_id, "timezone": "Europe/Berlin", "slots": []}


def test_a_range_of_exactly_62_days_is_answered(world: World, service_id: str) -> None:
    # 2 March to 2 May 2026 inclusive: 30 + 30 + 2 = 62 days. The 60 day booking horizon
    # ends at 1 May 00:00Z, so the last slot offered is Thursday 30 April 16:00 Berlin,
    # 14:00Z in summer time (CEST from 29 March).
    offered = starts(world.slots(service_id, "2026-03-02", "2026-05-02"))

    assert offered[0] == "2026-03-02T08:00:00Z"
    assert offered[-1] == "2026-04-30T14:00:00Z"
    weekdays = 44  # 2 March (Mon) to 30 April (Thu): 8 weeks and 4 days
    assert len(offered) == weekdays * 8


# --- errors -------------------------------------------------------------------------------------


def test_an_unknown_service_is_422_unknown_service(world: World) -> None:
    missing = str(uuid4())

    response = world.slots(missing, MONDAY, MONDAY)

    assert error_code(response, 422) == "unknown_service"
    assert response.json()["error"]["details"] == {"service_id": missing}


def test_a_specialists_id_is_not_a_service(world: World) -> None:
    sp = world.catalog.specialist("UTC")
    world.sync()

    assert error_code(world.slots(sp["id"], MONDAY, MONDAY), 422) == "unknown_service"


@pytest.mark.parametrize(
    "zone",
    [
        "Mars/Olympus_Mons",
        "Europe/Londres",
        "../../etc/passwd",
        "Europe",
        "",
        "EST+5",
        # files of the zone database that are not zones (the first is the machine's own)
        "localtime",
        "posixrules",
        "Factory",
        "right/UTC",
    ],
)
def test_an_unknown_zone_is_422_unknown_timezone(world: World, service_id: str, zone: str) -> None:
    response = world.slots(service_id, MONDAY, MONDAY, zone)

    assert error_code(response, 422) == "unknown_timezone"
    assert response.json()["error"]["details"] == {"timezone": zone}


@pytest.mark.parametrize("zone", ["Europe/Berlin\x00", "UTC\n"])
def test_a_zone_with_a_control_character_is_422_validation_error(
    world: World, service_id: str, zone: str
) -> None:
    response = world.slots(service_id, MONDAY, MONDAY, zone)

    assert error_code(response, 422) == "validation_error"


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (TUESDAY, MONDAY),  # `to` before `from`
        ("2026-03-02", "2026-05-03"),  # 63 days
        ("2026-01-01", "2026-12-31"),
    ],
)
def test_an_inverted_or_too_long_range_is_422_invalid_range(
    world: World, service_id: str, first: str, last: str
) -> None:
    assert error_code(world.slots(service_id, first, last), 422) == "invalid_range"


def test_range_checks_come_before_the_service_lookup(world: World) -> None:
    assert error_code(world.slots(str(uuid4()), TUESDAY, MONDAY), 422) == "invalid_range"


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-02-30"},
        {"from": "09/03/2026"},
        {"to": "tomorrow"},
        {"to": ""},
        {"from": "2026-03-09T25:00"},
        # a date is YYYY-MM-DD, not an instant or a Unix timestamp
        {"from": "2026-03-09T00:00:00"},
        {"to": "1773014400"},
        {"service_id": "not-a-uuid"},
        {"service_id": "123"},
        {"min_position": "0"},
        {"min_position": "-5"},
        {"min_position": "soon"},
    ],
)
def test_malformed_parameters_are_422_validation_error(
    world: World, service_id: str, params: dict[str, str]
) -> None:
    query = {"service_id": service_id, "from": MONDAY, "to": MONDAY, **params}

    response = world.slots_api.get("/v1/slots", params=query)

    assert error_code(response, 422) == "validation_error"


@pytest.mark.parametrize("missing", ["service_id", "from", "to"])
def test_a_missing_parameter_is_422_validation_error(
    world: World, service_id: str, missing: str
) -> None:
    query = {"service_id": service_id, "from": MONDAY, "to": MONDAY}
    del query[missing]

    response = world.slots_api.get("/v1/slots", params=query)

    assert error_code(response, 422) == "validation_error"
    assert missing in str(response.json()["error"]["details"])


def test_odd_but_well_formed_input_is_never_a_server_error(
    as_deployed: TestClient, service_id: str
) -> None:
    cases: list[dict[str, str]] = [
        {"from": "0001-01-01", "to": "0001-01-01"},
        {"from": "9999-12-31", "to": "9999-12-31"},
        {"from": "9999-12-31", "to": "0001-01-01"},
        {"from": "1970-01-01", "to": "1970-01-02", "timezone": "Pacific/Kiritimati"},
        {"from": "1970-01-02", "to": "1970-01-02", "timezone": "Etc/GMT+12"},
        {"from": "9000-12-31", "to": "9000-12-31", "timezone": "Etc/GMT-14"},
        {"from": "9000-12-31", "to": "9000-12-31", "timezone": "Etc/GMT+12"},
        {"from": MONDAY, "to": MONDAY, "timezone": "UTC\x00"},
        {"from": MONDAY, "to": MONDAY, "timezone": "A" * 5000},
        {"from": MONDAY, "to": MONDAY, "timezone": "Europe/London/"},
        {"from": MONDAY, "to": MONDAY, "timezone": "/usr/share/zoneinfo/UTC"},
        {"from": MONDAY, "to": MONDAY, "timezone": "Europe/../UTC"},
        {"from": MONDAY, "to": MONDAY, "timezone": "Ünïcødé/Zone"},
        {"from": MONDAY, "to": MONDAY, "service_id": "00000000-0000-0000-0000-000000000000"},
        {"from": "+2026-03-09", "to": MONDAY},
        {"from": "2026-03-09 ", "to": MONDAY},
        {"from": "20260309", "to": "20260309"},
    ]
    for case in cases:
        response = as_deployed.get("/v1/slots", params={"service_id": service_id, **case})

        assert response.status_code in (200, 422), (case, response.status_code, response.text)
        if response.status_code == 422:
            body = response.json()
            assert set(body) == {"error"} and set(body["error"]) == {
                "code",
                "message",
                "details",
            }, (case, body)


# --- min_position -------------------------------------------------------------------------------


def booked_monday_ten(world: World) -> tuple[str, dict[str, Any]]:
    """A fresh UTC specialist's service, synced, and a booking of Monday 10:00 not yet synced."""
    sp = world.catalog.specialist("UTC", weekly=[{"day": 0, "start": "09:00", "end": "12:00"}])
    service = world.catalog.service(sp["id"])
    assert world.offered(service["id"], MONDAY, MONDAY) == z(MONDAY, "09:00", "10:00", "11:00")
    booking = world.catalog.booked(service["id"], z(MONDAY, "10:00")[0])
    assert isinstance(booking["notification_id"], int)
    return str(service["id"]), booking


def timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def test_without_min_position_the_answer_may_lag_behind_a_booking(world: World) -> None:
    service, _ = booked_monday_ten(world)

    # The read model has not applied the booking yet: the slot still shows.
    assert starts(world.slots(service, MONDAY, MONDAY)) == z(MONDAY, "09:00", "10:00", "11:00")


def test_a_min_position_already_applied_answers_at_once(world: World) -> None:
    service, booking = booked_monday_ten(world)
    world.sync()

    response, elapsed = timed(
        lambda: world.slots(service, MONDAY, MONDAY, min_position=booking["notification_id"])
    )

    assert starts(response) == z(MONDAY, "09:00", "11:00")
    assert elapsed < 0.5


def test_a_min_position_waits_until_the_read_model_has_applied_the_booking(world: World) -> None:
    service, booking = booked_monday_ten(world)

    def sync_a_little_later() -> None:
        time.sleep(0.2)
        world.sync()

    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.perf_counter()
        syncing = pool.submit(sync_a_little_later)
        response = world.slots(service, MONDAY, MONDAY, min_position=booking["notification_id"])
        elapsed = time.perf_counter() - started
        syncing.result()

    # It waited for the sync (about 0.2 s), not for the whole second, and saw the booking.
    assert starts(response) == z(MONDAY, "09:00", "11:00")
    assert 0.15 <= elapsed < 0.9, elapsed


def test_a_min_position_never_reached_answers_after_about_a_second(world: World) -> None:
    service, booking = booked_monday_ten(world)
    world.sync()

    response, elapsed = timed(
        lambda: world.slots(
            service, MONDAY, MONDAY, min_position=booking["notification_id"] + 1_000_000
        )
    )

    # No error: the answer as the read model has it, after the bound.
    assert starts(response) == z(MONDAY, "09:00", "11:00")
    assert 0.9 <= elapsed < 2.5, elapsed


# --- ops endpoints ------------------------------------------------------------------------------


def test_liveness_is_served(world: World) -> None:
    assert expect(world.slots_api.get("/healthz"), 200) == {"status": "ok"}


def test_readiness_is_served_once_the_read_model_is_synced(world: World) -> None:
    world.sync()

    ready = expect(world.slots_api.get("/readyz"), 200)

    assert ready["status"] == "ready"
    assert ready["checks"]["postgres"] == "ok"
    assert set(ready["checks"].values()) == {"ok"}


def test_the_openapi_document_describes_get_slots(world: World) -> None:
    document = expect(world.slots_api.get("/openapi.json"), 200)

    operation = document["paths"]["/v1/slots"]["get"]
    parameters = {p["name"] for p in operation["parameters"]}
    assert parameters >= {"service_id", "from", "to", "timezone", "min_position"}
    assert "422" in operation["responses"]


def test_metrics_count_slot_queries_in_the_prometheus_format(world: World, service_id: str) -> None:
    world.slots(service_id, MONDAY, MONDAY)

    metrics = world.slots_api.get("/metrics")

    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'route="/v1/slots"' in metrics.text
    assert 'service="availability"' in metrics.text
    assert "kairos_http_requests_total{" in metrics.text
