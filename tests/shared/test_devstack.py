"""`kairos dev` runs the stack the services register, and stops all of it when any
service stops."""

from __future__ import annotations

import io
import socket
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from kairos_dev import devstack
from kairos_dev.devstack import Plan, ServiceSpec, gateway_spec, plan, run_dev
from kairos_dev.gateway import Gateway, parse_upstreams
from kairos_dev.infra.process import free_port, port_is_free
from kairos_dev.registration import API_URL
from kairos_dev.web_app import WEB_ROOT_ENV, repository_web_dist

# The stack of the registered services: booking, availability, calendar-sync, video.
PLAN = plan()
SERVICES = PLAN.processes

FAKE_API = """
import http.server, sys
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
"""
FAKE_SEED = """
import os, pathlib, sys, urllib.request
names = ["DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "ADMIN_API_KEY", "JWT_SECRET"]
pathlib.Path(sys.argv[1]).write_text(" ".join(n for n in names if os.environ.get(n)))
with urllib.request.urlopen(sys.argv[2]) as response:  # through the gateway
    pathlib.Path(sys.argv[3]).write_text(str(response.status))
print("seeded")
"""
# Runs until the stack is up (the runner wrote its state file), then fails.
FAKE_WORKER = """
import pathlib, sys, time
while not pathlib.Path(sys.argv[1]).exists():
    time.sleep(0.05)
sys.exit(3)
"""


@pytest.fixture
def fake_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, source in [("fake_api", FAKE_API), ("fake_seed", FAKE_SEED)]:
        (tmp_path / f"{name}.py").write_text(source)
    (tmp_path / "fake_worker.py").write_text(FAKE_WORKER)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("KAIROS_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


@pytest.mark.integration
def test_dev_runner_seeds_then_stops_everything_when_a_service_exits(
    fake_services: Path,
) -> None:
    port, gateway_port, marker = free_port(), free_port(), str(fake_services / "seeded")
    fetched = str(fake_services / "fetched")
    api = ServiceSpec(
        "api", "fake_api", ("fake_api", str(port)), port=port,
        ready_url=f"http://127.0.0.1:{port}/readyz",
    )  # fmt: skip
    gateway = gateway_spec(gateway_port, {"booking": f"http://127.0.0.1:{port}"})
    state_file = str(fake_services / "state" / "dev.env")
    worker = ServiceSpec("worker", "fake_worker", ("fake_worker", state_file))
    out = io.StringIO()

    seed = ServiceSpec(
        "seed", "fake_seed",
        ("fake_seed", marker, f"http://127.0.0.1:{gateway_port}/v1/specialists", fetched),
    )  # fmt: skip

    code = run_dev(Plan((api, gateway, worker), seeds=(seed,)), out=out)

    assert code == 1
    output = out.getvalue()
    assert "seed | seeded" in output
    assert "Kairos dev stack is up" in output
    assert "worker exited with code 3" in output
    assert Path(marker).read_text().split() == [
        "DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "ADMIN_API_KEY", "JWT_SECRET",
    ]  # fmt: skip
    assert Path(fetched).read_text() == "200"
    assert port_is_free(port)
    assert port_is_free(gateway_port)
    assert not Path(state_file).exists()


@pytest.mark.unit
def test_dev_runner_names_a_missing_service_module_before_starting_anything() -> None:
    out = io.StringIO()
    missing = ServiceSpec("relay", "booking_missing.relay", ("booking_missing.relay",))

    assert run_dev(Plan((missing,)), out=out) == 1
    assert "module booking_missing.relay is not importable" in out.getvalue()
    assert "infra |" not in out.getvalue()


@pytest.mark.unit
def test_dev_runner_refuses_a_taken_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        spec = ServiceSpec("api", "json", (sys.executable,), port=port)
        out = io.StringIO()

        assert run_dev(Plan((spec,)), out=out) == 1
    assert f"port {port} on 127.0.0.1 is already in use" in out.getvalue()


@pytest.mark.unit
def test_the_gateway_is_the_public_origin_and_forwards_to_every_api_of_the_stack() -> None:
    *services, gateway = SERVICES
    assert (gateway.module, gateway.port) == ("kairos_dev.gateway", 8000)
    assert gateway.ready_url == f"{API_URL}/readyz"
    env = dict(gateway.env)
    # It serves the web app when it has been built (make web), at every other path.
    assert env.get(WEB_ROOT_ENV) == (str(dist) if (dist := repository_web_dist()) else None)
    upstreams = parse_upstreams(env["GATEWAY_UPSTREAMS"])
    Gateway(upstreams)  # every name is a service the routes lead to
    apis = {f"http://127.0.0.1:{spec.port}" for spec in services if spec.api}
    assert set(upstreams.values()) == apis
    assert upstreams == {
        "booking": "http://127.0.0.1:8010",
        "availability": "http://127.0.0.1:8020",
        "calendar-sync": "http://127.0.0.1:8070",
        "notifications": "http://127.0.0.1:8050",
        # the dev fakes of notifications' channels, for their /dev pages
        "dev-mail": "http://127.0.0.1:8052",
        "dev-sms": "http://127.0.0.1:8053",
        "dev-push": "http://127.0.0.1:8054",
        "video": "http://127.0.0.1:8030",
    }
    [seed] = PLAN.seeds
    assert seed.args == ("booking.seed", "--base-url", API_URL)
    assert API_URL == "http://127.0.0.1:8000"


@pytest.mark.unit
def test_the_stack_runs_each_process_on_a_port_of_its_own() -> None:
    by_name = {spec.name: spec for spec in SERVICES}
    assert {name: spec.port for name, spec in by_name.items()} == {
        "booking-api": 8010,
        "relay": 8001,
        "availability": 8020,
        "projector": 8021,
        "booking-calendar": 8003,
        "calendar-busy": 8022,
        "radicale": 5232,
        "google-fake": 8091,
        "microsoft-fake": 8092,
        "calendar-sync-api": 8070,
        "calendar-relay": 8071,
        "calendar-consumer": 8072,
        "calendar-poller": 8073,
        "notifications-api": 8050,
        "notifications": 8051,
        "smtp-sink": 8052,
        "twilio-fake": 8053,
        "push-fake": 8054,
        "video-sessions": 8002,
        "livekit": 7880,
        "video-api": 8030,
        "video-relay": 8031,
        "video-consumer": 8032,
        "video-reconcile": 8033,
        "gateway": 8000,
    }
    assert by_name["availability"].args == (
        "uvicorn", "availability.main:app", "--host", "127.0.0.1", "--port", "8020",
    )  # fmt: skip
    assert by_name["projector"].args == ("availability.projector",)
    assert dict(by_name["projector"].env) == {"PROJECTOR_OPS_PORT": "8021"}
    assert dict(by_name["relay"].env) == {"RELAY_OPS_PORT": "8001"}
    for spec in (s for s in SERVICES if s.name != "microsoft-fake"):  # HTTPS: no probe
        # A fake is ready once it is up (/healthz), Radicale (a third-party server) when
        # its web page answers; a service once its dependencies answer (/readyz).
        if spec.name == "radicale":
            probe = "/.web/"
        # (the local LiveKit answers LiveKit's own /readyz, like a service)
        elif spec.module.startswith("kairos_dev.fakes.") and spec.name != "livekit":
            probe = "/healthz"
        else:
            probe = "/readyz"
        assert spec.ready_url == f"http://127.0.0.1:{spec.port}{probe}", spec.name


@pytest.mark.unit
def test_the_banner_shows_each_services_docs_and_metrics_and_a_slots_query() -> None:
    stack = SimpleNamespace(
        database_url="postgresql://db", redis=SimpleNamespace(url="redis://r"),
        kafka=SimpleNamespace(bootstrap="127.0.0.1:9092"),
    )  # fmt: skip

    banner = "\n".join(devstack._banner(stack, {"ADMIN_API_KEY": "k"}, PLAN))  # type: ignore[arg-type]

    assert "http://127.0.0.1:8000 " in banner
    assert "curl 'http://127.0.0.1:8000/v1/slots?service_id=<id>&from=" in banner
    assert "&timezone=Europe/London'" in banner
    for port in (8010, 8020):
        assert f"docs http://127.0.0.1:{port}/docs" in banner
    for port in (8010, 8001, 8020, 8021):
        assert f"metrics http://127.0.0.1:{port}/metrics" in banner
    assert "API reference   http://127.0.0.1:8000/docs" in banner  # the gateway merges them
