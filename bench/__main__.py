"""Run every benchmark: python -m bench [name ...]. Results land in bench/results/<name>.json."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import availability, booking, calendar, effects, notifications, video, web, webhooks

RESULTS = Path(__file__).parent / "results"
BENCHMARKS: dict[str, Callable[[], dict[str, Any]]] = {
    "booking": booking.run,
    "availability": availability.run,
    "effects": effects.run,
    "video": video.run,
    "calendar": calendar.run,
    "notifications": notifications.run,
    "web": web.run,
    "webhooks": webhooks.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help=f"any of {sorted(BENCHMARKS)}")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; choose from {sorted(BENCHMARKS)}")
    RESULTS.mkdir(exist_ok=True)
    for name in args.names or BENCHMARKS:
        result = {
            "benchmark": name,
            "ran_at": datetime.now(UTC).isoformat(),
            "machine": {"python": platform.python_version(), "cpus": _cpus()},
            **BENCHMARKS[name](),
        }
        path = RESULTS / f"{name}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        print(f"wrote {path}", file=sys.stderr)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
