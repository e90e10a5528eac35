"""Where a booking's time goes under load: python -m bench.booking_profile.

The booking service as bench.booking runs it (same seed, same requests, 20 clients),
sampled from outside by py-spy across its uvicorn workers, twice: once only while a
thread holds the GIL (the CPU the service itself spends in Python), once every
thread that is not idle (which adds the waits on PostgreSQL, Redis and the locks).
Each sample is charged to the innermost frame of a project or third-party package
(the standard library is charged to its caller, so `json` inside eventsourcing counts
as eventsourcing); results in bench/results/booking_profile.json: components by
share, and the top functions by own time.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from bench.booking import CONCURRENT_CLIENTS, _load, _requests, _seed
from kairos_dev.infra import ensure_postgres, ensure_redis
from kairos_dev.testing import ServiceProcess, service_env

SPECIALISTS = 300
REQUESTS = 3_000
RATE = 250
TOP = 25
OUTPUT = Path(__file__).parent / "results" / "booking_profile.json"
# A py-spy frame: "function (package/module.py:line)", the path relative to sys.path.
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:)]*)(?::\d+)?\)$")
_STDLIB = frozenset(sys.stdlib_module_names)


def _component(frames: list[str]) -> str:
    """The package of the innermost frame outside the standard library."""
    for frame in reversed(frames):
        match = _FRAME.match(frame)
        if match is None:
            continue
        package = match["file"].split("/", 1)[0].removesuffix(".py")
        if package and package not in _STDLIB and not package.startswith("<"):
            return package
    return "(standard library / interpreter)"


def _shares(raw: str) -> dict[str, Any]:
    components: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        samples = int(count)
        total += samples
        components[_component(frames)] += samples
        functions[frames[-1] if frames else "?"] += samples

    def share(counter: Counter[str]) -> dict[str, float]:
        return {key: round(100 * n / total, 1) for key, n in counter.most_common(TOP)}

    return {
        "samples": total,
        "components_pct": share(components),
        "functions_pct": share(functions),
    }


def _sampled(service: ServiceProcess, bodies: Any, gil_only: bool) -> dict[str, Any]:
    """py-spy's raw samples stay next to the JSON (bench/results/booking_profile.*.raw), to
    be read again or drawn as a flame graph."""
    out = OUTPUT.with_suffix(".gil.raw" if gil_only else ".active.raw")
    out.parent.mkdir(exist_ok=True)
    command = [
        str(Path(sys.executable).with_name("py-spy")),
        "record",
        "--pid",
        str(service.pid),
        "--subprocesses",
        "--nonblocking",
        "--rate",
        str(RATE),
        "--format",
        "raw",
        "--output",
        str(out),
        *(["--gil"] if gil_only else []),
    ]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        load = asyncio.run(_load(service.url, bodies, REQUESTS, CONCURRENT_CLIENTS))
    finally:
        spy.send_signal(2)  # SIGINT: py-spy writes what it has sampled
        spy.wait(timeout=60)
    return {"load": load, **_shares(out.read_text())}


def main() -> None:
    if sys.argv[1:] == ["--read"]:  # the shares of the raw samples of the last run again
        for raw in sorted(OUTPUT.parent.glob(OUTPUT.stem + ".*.raw")):
            print(raw.name, json.dumps(_shares(raw.read_text()), indent=2))
        return
    workers = len(os.sched_getaffinity(0))
    with ensure_postgres() as postgres, ensure_redis(db=2) as redis:
        database_url = postgres.create_database(prefix="kairos_bench")
        try:
            services = _seed(database_url, SPECIALISTS)
            tomorrow = datetime.combine(
                datetime.now(UTC).date() + timedelta(days=1), clock_time(), tzinfo=UTC
            )
            bodies = _requests(services, tomorrow)
            env = service_env(database_url, redis.url)
            with ServiceProcess.api("booking.main:app", env, workers=workers) as service:
                asyncio.run(_load(service.url, bodies, 500, CONCURRENT_CLIENTS))  # warm up
                profiles = {
                    "holding_the_gil": _sampled(service, bodies, gil_only=True),
                    "not_idle": _sampled(service, bodies, gil_only=False),
                }
        finally:
            postgres.drop_database(database_url.rsplit("/", 1)[-1])
    result = {"ran_at": datetime.now(UTC).isoformat(), "description": __doc__.strip(), **profiles}
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
