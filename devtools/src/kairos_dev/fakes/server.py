"""Running a fake as a small server: `python -m kairos_dev.fakes.<name> --port N`."""

from __future__ import annotations

import argparse
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI

from kairos_dev.fakes.recorded import Listed, Recorded

L = TypeVar("L", bound=Listed)


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True, help="the HTTP port")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    return parser


def app_with_health(title: str) -> FastAPI:
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve(app: FastAPI, host: str, port: int) -> None:
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def message_routes(app: FastAPI, path: str, recorded: Recorded[L]) -> None:
    """`GET path` lists what the fake received as `{messages: [...]}`, newest first
    (API.md's dev shapes); `DELETE path` forgets it (a test's fresh start)."""

    @app.get(path)
    def list_messages() -> dict[str, list[dict[str, Any]]]:
        return {"messages": [item.as_json() for item in recorded.newest_first()]}

    @app.delete(path, status_code=204)
    def clear_messages() -> None:
        recorded.clear()
