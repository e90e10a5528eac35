"""Workers' ops endpoints (/healthz, /readyz, /metrics) listen on this machine only,
unless OPS_HOST says otherwise (the k8s manifests set 0.0.0.0 for the kubelet's probes)."""

from __future__ import annotations

from collections.abc import Callable

import psutil
import pytest

from kairos_dev.infra import KafkaHandle
from kairos_dev.testing.services import ServiceProcess, service_env

pytestmark = [pytest.mark.integration]

WORKERS = [("booking.relay", "RELAY_OPS_PORT"), ("availability.projector", "PROJECTOR_OPS_PORT")]


def listening_hosts(process: ServiceProcess) -> set[str]:
    """The addresses `process` listens on at its ops port."""
    assert process.pid is not None
    return {
        c.laddr.ip
        for c in psutil.Process(process.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == process.port
    }


@pytest.mark.parametrize(("module", "port_env"), WORKERS)
def test_a_worker_serves_its_ops_endpoints_on_127_0_0_1_by_default(
    module: str,
    port_env: str,
    kafka: KafkaHandle,
    fresh_database: Callable[[], str],
    redis_url: str,
) -> None:
    env = service_env(fresh_database(), redis_url, kafka.bootstrap)
    env.pop("OPS_HOST", None)
    # Alive is enough: a projector is ready only once a relay's heartbeat says it is current.
    with ServiceProcess.worker(module, env, port_env=port_env, ready_path="/healthz") as worker:
        assert listening_hosts(worker) == {"127.0.0.1"}


def test_ops_host_opens_the_ops_endpoints_to_other_hosts(
    kafka: KafkaHandle, fresh_database: Callable[[], str], redis_url: str
) -> None:
    env = service_env(fresh_database(), redis_url, kafka.bootstrap, OPS_HOST="0.0.0.0")
    with ServiceProcess.worker("booking.relay", env, port_env="RELAY_OPS_PORT") as worker:
        assert listening_hosts(worker) == {"0.0.0.0"}
