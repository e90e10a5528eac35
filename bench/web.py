"""The web app: the booking page's initial JavaScript, and how soon a client sees slots.

- `booking_page_js`: the JavaScript web/dist/index.html loads before anything else (its
  entry script and the chunks it preloads), gzipped as a server sends it; the call
  chunk (LiveKit, loaded only on "Enter room") is reported beside it. Goal: ≤ 150 KB.
- `first_slots`: Chromium (Debian's, by path) opens /book/<specialist> with an empty
  cache, SAMPLES times, on a running stack (kairos_dev.testing.web_stack: every service
  as a process behind the dev gateway serving web/dist). Measured in the page, from the
  navigation's start: when the first slot button is in the document, and, as the
  baseline of the same load, when the slots API's answer had arrived (Resource Timing).
  `after_slots_answer` is the ratio of the two: what the app adds once the data is there.
"""

from __future__ import annotations

import gzip
import re
import statistics
import subprocess
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

from kairos_dev.infra import ensure_kafka, ensure_postgres, ensure_redis
from kairos_dev.infra.postgres import database_name
from kairos_dev.testing.web_stack import ADMIN, CHROMIUM, CHROMIUM_FLAGS, offer, web_stack

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "web" / "dist"
SAMPLES = 30
GOAL_KB = 150
# Set before the app runs: the moment the first slot button enters the document.
FIRST_SLOT_OBSERVER = """
new MutationObserver((_, observer) => {
  if (document.querySelector("button.slot")) {
    window.__firstSlotAt = performance.now();
    observer.disconnect();
  }
}).observe(document, { childList: true, subtree: true });
"""


def _gzipped_kb(path: Path) -> float:
    return round(len(gzip.compress(path.read_bytes(), compresslevel=9)) / 1024, 2)


def initial_javascript() -> dict[str, Any]:
    html = (DIST / "index.html").read_text()
    loaded = re.findall(r'<script[^>]+src="/([^"]+\.js)"', html)
    loaded += re.findall(r'<link[^>]+rel="modulepreload"[^>]+href="/([^"]+\.js)"', html)
    files = {name: _gzipped_kb(DIST / name) for name in sorted(set(loaded))}
    call = {p.name: _gzipped_kb(p) for p in (DIST / "assets").glob("CallView-*.js")}
    total = round(sum(files.values()), 2)
    return {
        "files_gzip_kb": files,
        "total_gzip_kb": total,
        "goal_kb": GOAL_KB,
        "within_goal": total <= GOAL_KB,
        "call_chunk_gzip_kb": call,
    }


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=20, method="inclusive")
    return {"p50": round(q[9], 1), "p95": round(q[18], 1), "max": round(ordered[-1], 1)}


def first_slots() -> dict[str, Any]:
    with (
        ensure_postgres() as postgres,
        ensure_redis(db=2) as redis,
        ensure_kafka(prefer_own_process=True) as kafka,
    ):
        databases = [postgres.create_database(prefix="kairos_bench_web") for _ in range(2)]
        try:
            with (
                web_stack(databases[0], databases[1], redis.url, kafka.bootstrap, DIST) as stack,
                httpx.Client(base_url=stack.url, headers=ADMIN, timeout=15) as admin,
                sync_playwright() as driver,
            ):
                ada = offer(admin)
                browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
                shown: list[float] = []
                answered: list[float] = []
                for _ in range(SAMPLES):
                    context = browser.new_context(base_url=stack.url, timezone_id="UTC")
                    page = context.new_page()
                    page.add_init_script(FIRST_SLOT_OBSERVER)
                    page.goto(f"/book/{ada.specialist_id}")
                    page.wait_for_function("() => window.__firstSlotAt !== undefined")
                    shown.append(page.evaluate("() => window.__firstSlotAt"))
                    answered.append(
                        page.evaluate(
                            """() => Math.max(...performance.getEntriesByType("resource")
                                .filter((e) => e.name.includes("/v1/slots"))
                                .map((e) => e.responseEnd))"""
                        )
                    )
                    context.close()
                browser.close()
        finally:
            for url in databases:
                postgres.drop_database(database_name(url))
    return {
        "samples": SAMPLES,
        "navigation_to_first_slot_ms": _summary(shown),
        "baseline_navigation_to_slots_answer_ms": _summary(answered),
        "after_slots_answer": round(statistics.median(shown) / statistics.median(answered), 3),
    }


def run() -> dict[str, Any]:
    subprocess.run(["make", "-s", "web"], cwd=ROOT, check=True)
    return {"booking_page_js": initial_javascript(), "first_slots": first_slots()}
