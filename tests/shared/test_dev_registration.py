"""Services join `kairos dev` by registering themselves (entry point group
`kairos.dev_services`): a new service's package brings an entry point and a small
module, and the stack runs it, shows it, and the gateway routes to it, with no edit
to kairos_dev."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from kairos.plugins import PluginError
from kairos_dev import devstack
from kairos_dev.devstack import DevStackError, plan
from kairos_dev.gateway import Gateway, Router, parse_upstreams
from kairos_dev.registration import DevService, api, in_start_order, registered_services, worker
from tests.shared.installed import install

pytestmark = pytest.mark.unit

# A service as a new team would write it: its module, and its pyproject.toml's entry point.
CLINIC_NOTES = """
from kairos_dev.registration import DevService, api, worker

SERVICE = DevService(
    "clinic-notes",
    routes=(r"/v1/clinic-notes(/|$)", r"/v1/bookings/[^/]+/clinic-notes(/|$)"),
    processes=(
        api("clinic-notes-api", "clinic_notes.main:app", port=8040),
        worker("clinic-notes-worker", "clinic_notes.worker", port=8041, port_env="OPS_PORT"),
    ),
    topics=("clinic-notes.events.v1",),
    after=("booking",),
    hints=lambda api_url: [("Notes", f"curl {api_url}/v1/clinic-notes")],
)
"""


@pytest.fixture
def clinic_notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(
        tmp_path,
        monkeypatch,
        "kairos-clinic-notes",
        modules={"clinic_notes.dev": CLINIC_NOTES},
        entry_points={"kairos.dev_services": {"clinic-notes": "clinic_notes.dev:SERVICE"}},
    )


#: The installed services in start order: notifications after booking (whose events it
#: consumes), after the fakes it sends to.
INSTALLED = (
    "booking",
    "availability",
    "calendar-sync",
    "dev-mail",
    "dev-push",
    "dev-sms",
    "notifications",
    "video",
)


def test_the_installed_services_register_themselves_in_start_order() -> None:
    names = [service.name for service in registered_services()]

    assert names == list(INSTALLED)


def test_a_new_service_joins_the_stack_the_banner_and_the_gateway_by_registering(
    clinic_notes: None,
) -> None:
    stack_plan = plan()

    by_name = {spec.name: spec for spec in stack_plan.processes}
    assert by_name["clinic-notes-api"].args == (
        "uvicorn", "clinic_notes.main:app", "--host", "127.0.0.1", "--port", "8040",
    )  # fmt: skip
    assert dict(by_name["clinic-notes-worker"].env) == {"OPS_PORT": "8041"}
    assert stack_plan.processes[-1].name == "gateway"
    upstreams = dict(stack_plan.processes[-1].env)["GATEWAY_UPSTREAMS"]
    assert parse_upstreams(upstreams)["clinic-notes"] == "http://127.0.0.1:8040"
    assert stack_plan.topics == (
        "booking.events.v1",
        "calendar.events.v1",
        "clinic-notes.events.v1",
        "video.events.v1",
    )

    stack = SimpleNamespace(
        database_url="postgresql://db", redis=SimpleNamespace(url="redis://r"),
        kafka=SimpleNamespace(bootstrap="127.0.0.1:9092"),
    )  # fmt: skip
    banner = devstack._banner(stack, {"ADMIN_API_KEY": "k"}, stack_plan)  # type: ignore[arg-type]
    assert "  Notes           curl http://127.0.0.1:8000/v1/clinic-notes" in banner
    assert "  clinic-notes-api docs http://127.0.0.1:8040/docs" in "\n".join(banner)

    route = Gateway({"clinic-notes": "http://127.0.0.1:8040"}).route
    assert route("/v1/clinic-notes/7") == "clinic-notes"
    # Longer than booking's /v1/bookings, so it wins, as in ingress-nginx.
    assert route("/v1/bookings/3f2a/clinic-notes") == "clinic-notes"
    assert route("/v1/bookings/3f2a") == "booking"


def test_a_service_starts_after_those_whose_events_it_consumes() -> None:
    consumer = DevService("a-consumer", after=("z-producer", "not-installed"))
    producer = DevService("z-producer")

    ordered = in_start_order([consumer, producer, DevService("m-other")])

    assert [s.name for s in ordered] == ["m-other", "z-producer", "a-consumer"]
    with pytest.raises(PluginError, match="each start after another"):
        in_start_order([DevService("x", after=("y",)), DevService("y", after=("x",))])


def test_two_services_cannot_claim_one_port() -> None:
    first = DevService("one", processes=(api("one-api", "one.main:app", port=8050),))
    second = DevService("two", processes=(worker("two-worker", "two.w", 8050, "OPS_PORT"),))

    with pytest.raises(DevStackError, match="port 8050 is registered twice"):
        plan([first, second])


def test_a_service_has_one_api_at_most() -> None:
    twice = DevService(
        "twice",
        processes=(api("a", "t.main:app", port=8060), api("b", "t.other:app", port=8061)),
    )

    with pytest.raises(PluginError, match="one API process per service, not a, b"):
        plan([twice])


def test_the_gateway_names_the_services_in_registration_order() -> None:
    router = Router(registered_services())

    assert router.services == INSTALLED
    # The dev fakes' pages are not part of the API reference.
    assert router.documented == (
        "booking",
        "availability",
        "calendar-sync",
        "notifications",
        "video",
    )
