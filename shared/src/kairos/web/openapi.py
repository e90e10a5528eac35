"""An OpenAPI document that tells the truth about errors, and /docs that work offline.

FastAPI documents each operation's success and a 422 `{"detail": ...}` that the
API never sends (kairos.web.errors answers in the error shape). `document_api(app)`
rewrites the generated document once, from what the routes already declare:

- an `Error` schema, `{"error": {"code", "message", "details"}}`, for every 4xx;
- 422 on every operation that takes parameters or a body (validation), and 400 on
  those with a body (one that cannot even be decoded);
- 401 and 403 on every operation with a security requirement (kairos.web.security);
- 404 on every operation with a path parameter (the thing it names may not exist);
- whatever else a route lists in `responses=` (e.g. `{409: {"description": ...}}`),
  in the error shape unless the route gave a schema of its own.

So a new route is documented by declaring its parameters and credential, not by
listing its errors again.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from kairos.web.docs import docs_routes

ERROR_SCHEMA = "Error"
_ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
_ERROR_COMPONENT: dict[str, Any] = {
    "type": "object",
    "title": ERROR_SCHEMA,
    "description": "Every error the API answers: a stable snake_case `code` to branch on,"
    " a human-readable `message`, and `details` whose shape depends on the code.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "examples": ["validation_error"]},
                "message": {"type": "string"},
                "details": {"description": "code-specific; may be null"},
            },
            "required": ["code", "message", "details"],
        }
    },
    "required": ["error"],
}
# FastAPI's models of the {"detail": ...} body it would send without our handlers.
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_FASTAPI_422_DESCRIPTION = "Validation Error"

DESCRIPTIONS = {
    400: "bad_request: the body cannot be decoded",
    401: "unauthorized: no credential was sent",
    403: "forbidden: the credential does not give access to this resource",
    404: "not_found: what the path names does not exist",
    409: "conflict: the resource is not in a state that allows this",
    422: "validation_error (or a more specific code): the request is not valid",
    425: "too_early",
    429: "too_many_requests",
    500: "internal: an unexpected error; details.request_id names it in the logs",
    503: "busy: try again after Retry-After seconds",
}
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def document_api(app: FastAPI) -> None:
    """Serve `app`'s OpenAPI document with its real errors, and Swagger UI from local assets."""
    _serve_docs_offline(app)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_errors(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with the error shape and each operation's error responses."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    schemas[ERROR_SCHEMA] = _ERROR_COMPONENT
    for item in document.get("paths", {}).values():
        for method in HTTP_METHODS:
            if operation := item.get(method):
                _document_errors(operation, item.get("parameters", []))
    return document


def _document_errors(operation: dict[str, Any], path_item_parameters: list[Any]) -> None:
    parameters = [*path_item_parameters, *operation.get("parameters", [])]
    responses: dict[str, Any] = operation.setdefault("responses", {})
    derived: set[int] = {500}  # the catch-all of kairos.web.errors, on every operation
    if parameters or "requestBody" in operation:
        derived.add(422)
    if "requestBody" in operation:  # a body that cannot be decoded at all
        derived.add(400)
    if operation.get("security"):
        derived |= {401, 403}
    if any(p.get("in") == "path" for p in parameters):
        derived.add(404)
    for code in derived:
        responses.setdefault(str(code), {})
    for status, response in responses.items():
        if not (status.isdigit() and 400 <= int(status) < 600):
            continue
        content = response.get("content", {}).get("application/json", {})
        if not content.get("schema") or _is_fastapi_validation(content["schema"]):
            response["content"] = {"application/json": {"schema": _ERROR_REF}}
            if response.get("description") in (None, _FASTAPI_422_DESCRIPTION):
                response["description"] = DESCRIPTIONS.get(int(status), "error")
    operation["responses"] = dict(sorted(responses.items()))


def _is_fastapi_validation(schema: dict[str, Any]) -> bool:
    return schema.get("$ref", "").rsplit("/", 1)[-1] in _FASTAPI_VALIDATION_SCHEMAS


def _serve_docs_offline(app: FastAPI) -> None:
    # FastAPI's own /docs and /redoc pages load their scripts from a CDN: replaced.
    cdn_pages = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url} - {None}
    app.router.routes[:] = [
        route for route in app.router.routes if getattr(route, "path", None) not in cdn_pages
    ]
    app.docs_url = app.redoc_url = app.swagger_ui_oauth2_redirect_url = None
    if app.openapi_url:
        app.router.routes.extend(docs_routes(app.title, app.openapi_url))
