"""The dev fakes (kairos_dev.fakes), each started as the dev stack starts it: a process."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kairos_dev.infra.process import free_port
from kairos_dev.testing import ServiceProcess


@dataclass(frozen=True)
class Fake:
    url: str  # its HTTP side
    port: int = 0  # another port it serves (the sink's SMTP)

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def get_bytes(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            data: bytes = response.read()
            return data

    def post(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path, data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def delete(self, path: str) -> None:
        request = urllib.request.Request(self.url + path, method="DELETE")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def messages(self, kind: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.get(f"/dev/{kind}/messages")["messages"]
        return messages


@contextmanager
def run_fake(module: str, *args: str) -> Iterator[Fake]:
    port = free_port()
    argv = [f"kairos_dev.fakes.{module}", "--port", str(port), *args]
    with ServiceProcess(module, argv, os.environ, port, ready_path="/healthz") as process:
        yield Fake(process.url)


@contextmanager
def smtp_sink() -> Iterator[Fake]:
    smtp_port = free_port()
    with run_fake("smtp_sink", "--smtp-port", str(smtp_port)) as fake:
        yield Fake(fake.url, smtp_port)
