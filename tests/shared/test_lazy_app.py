"""lazy_app: a server process builds its app on first access and then collects garbage
as a server should (kairos.web.collector); importing the module does neither."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kairos.web.collector import THRESHOLDS

pytestmark = pytest.mark.unit

# In a process of its own: the settings are the process's, and this one's stay as they are.
PROBE = """
import gc, json, sys
from fastapi import FastAPI
from kairos.web import lazy_app
module_getattr = lazy_app(FastAPI, server_collector=sys.argv[1] == "server")
before = (gc.get_threshold(), gc.get_freeze_count())
app = module_getattr("app")
print(json.dumps({
    "before": before[0], "after": gc.get_threshold(),
    "frozen": gc.get_freeze_count() > before[1], "same_app": module_getattr("app") is app,
}))
"""


def probe(mode: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout))


def test_a_server_collects_less_often_and_never_walks_what_it_built_first() -> None:
    seen = probe("server")
    assert seen["before"] == [700, 10, 10]  # CPython's defaults, untouched by the import
    assert seen["after"] == list(THRESHOLDS)
    assert seen["frozen"] is True
    assert seen["same_app"] is True


def test_an_app_built_without_the_server_collector_keeps_cpython_s_defaults() -> None:
    seen = probe("plain")
    assert seen["after"] == [700, 10, 10]
    assert seen["frozen"] is False
