"""Running a fake as a small server: `python -m kairos_dev.fakes.<name> --port N`."""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI


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
