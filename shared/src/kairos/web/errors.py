"""The one error shape of the public API: {"error": {"code", "message", "details"}}.

Every response also carries `X-Request-Id`: the caller's own, when it sent a
well-formed one (so a request can be followed across services), or a new one. The
id is bound to the request's log context, so every line logged while serving it
names it. An exception no handler took is logged with that id and answered
`500 {"error": {"code": "internal", ...}}` instead of Starlette's plain-text page;
the id in its body is how a user's report finds the log line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from uuid import uuid4

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kairos.errors import KairosError

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    415: "unsupported_media_type",
    422: "validation_error",
    425: "too_early",
    429: "too_many_requests",
}


class ApiError(KairosError):
    """Raise from a route for a refusal no domain error names (a malformed cursor, a
    missing credential): the status and code are given where it is raised."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message, details)
        self.status, self.code = status, code


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": jsonable_encoder(details)}}
    return JSONResponse(body, status_code=status, headers=headers)


REQUEST_ID_HEADER = "X-Request-Id"
# Enough for a UUID or a tracing id; nothing a log line or a header could trip on.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,128}")


def request_id_of(scope: Scope) -> str:
    """The caller's request id if it is well-formed, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and _VALID_REQUEST_ID.fullmatch(value.decode("latin-1")):
            return str(value.decode("latin-1"))
    return uuid4().hex


class _RequestIds:
    """Pure ASGI middleware: names each request and answers what escaped every handler."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                structlog.get_logger("kairos.web").error(
                    "unhandled_exception",
                    request_id=request_id,
                    method=scope["method"],
                    path=scope["path"],
                    exc_info=exc,
                )
                if started:  # too late for an error body: the server drops the connection
                    raise
                response = error_response(
                    500,
                    "internal",
                    "an unexpected error occurred; quote the request id when reporting it",
                    {"request_id": request_id},
                    headers={REQUEST_ID_HEADER: request_id},
                )
                await response(scope, receive, send)


def http_error_response(exc: StarletteHTTPException) -> JSONResponse:
    """A framework HTTP error (404, 405, ...) in the error shape."""
    code = _CODES_BY_STATUS.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, message, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Map refusals (KairosError: ApiError, every domain error), HTTP errors, request
    validation errors and anything unexpected to the error shape, and give every response
    a request id."""
    app.add_middleware(_RequestIds)

    @app.exception_handler(KairosError)
    async def _refused(_: Request, exc: KairosError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return error_response(422, "validation_error", "the request is not valid", details)
