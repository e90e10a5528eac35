"""`kairos dev` runs the stack, and stops all of it when any service stops."""

from __future__ import annotations

import io
import socket
import sys
from pathlib import Path

import pytest

from kairos.devstack import ServiceSpec, run_dev
from kairos.infra.process import free_port, port_is_free

FAKE_API = """
import http.server, sys
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
"""
FAKE_SEED = """
import os, pathlib, sys
names = ["DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "ADMIN_API_KEY", "JWT_SECRET"]
pathlib.Path(sys.argv[1]).write_text(" ".join(n for n in names if os.environ.get(n)))
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
    port, marker = free_port(), str(fake_services / "seeded")
    api = ServiceSpec(
        "api", "fake_api", ("fake_api", str(port)), port=port,
        ready_url=f"http://127.0.0.1:{port}/readyz",
    )  # fmt: skip
    state_file = str(fake_services / "state" / "dev.env")
    worker = ServiceSpec("worker", "fake_worker", ("fake_worker", state_file))
    out = io.StringIO()

    code = run_dev(
        services=[api, worker],
        seed=ServiceSpec("seed", "fake_seed", ("fake_seed", marker)),
        out=out,
    )

    assert code == 1
    output = out.getvalue()
    assert "seed | seeded" in output
    assert "Kairos dev stack is up" in output
    assert "worker exited with code 3" in output
    assert Path(marker).read_text().split() == [
        "DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "ADMIN_API_KEY", "JWT_SECRET",
    ]  # fmt: skip
    assert port_is_free(port)
    assert not Path(state_file).exists()


@pytest.mark.unit
def test_dev_runner_names_a_missing_service_module_before_starting_anything() -> None:
    out = io.StringIO()
    missing = ServiceSpec("relay", "booking_missing.relay", ("booking_missing.relay",))

    assert run_dev(services=[missing], seed=None, out=out) == 1
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

        assert run_dev(services=[spec], seed=None, out=out) == 1
    assert f"port {port} on 127.0.0.1 is already in use" in out.getvalue()
