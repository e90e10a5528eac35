"""One API reference at the one origin: the services' OpenAPI documents merged into one.

The gateway (kairos_dev.gateway) serves the result at /openapi.json and Swagger UI at
/docs. Each service keeps its own document; merging takes from each only the paths
the gateway routes to that service (its /healthz, /readyz stay its own), and all of
its components. A component name two services define differently (two `Booking`
schemas, say) is kept under the first service's name and given to the later one as
`<service>.<name>`, with that service's references rewritten, so nothing collides;
identical definitions (the shared `Error`, the security schemes) appear once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from kairos.web.openapi import ERROR_SCHEMA, HTTP_METHODS

TITLE = "Kairos API"
_GATEWAY_ERRORS = {
    "502": "bad_gateway: the service behind this path is not running or does not answer",
    "504": "gateway_timeout: the service behind this path did not answer in time",
}


def merge_documents(
    documents: Mapping[str, dict[str, Any]],
    route: Callable[[str], str | None],
    missing: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """{service: its OpenAPI document} as one document of the paths `route` sends to
    each service; `missing` names services whose document could not be had, and why."""
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": "1", "description": _description(missing or {})},
        "paths": {},
        "components": {},
    }
    tags: dict[str, dict[str, Any]] = {}
    for service, original in documents.items():
        document = _without_collisions(service, original, merged["components"])
        for section, entries in document.get("components", {}).items():
            merged["components"].setdefault(section, {}).update(entries)
        for path, item in document.get("paths", {}).items():
            if route(path) == service:
                merged["paths"][path] = _with_gateway_errors(item, merged["components"])
        for tag in document.get("tags", []):
            tags.setdefault(tag["name"], tag)
    if tags:
        merged["tags"] = list(tags.values())
    merged["paths"] = dict(sorted(merged["paths"].items()))
    return merged


def _description(missing: Mapping[str, str]) -> str:
    text = "Every public endpoint of Kairos, at one origin."
    if missing:
        absent = "; ".join(f"{service} ({why})" for service, why in sorted(missing.items()))
        text += f" Not included, as their documents could not be fetched: {absent}."
    return text


def _without_collisions(
    service: str, document: dict[str, Any], taken: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """`document` with its components that clash with `taken` renamed `<service>.<name>`."""
    refs: dict[str, str] = {}
    schemes: dict[str, str] = {}
    renamed: dict[str, dict[str, Any]] = {}
    for section, entries in document.get("components", {}).items():
        renamed[section] = {}
        for name, definition in entries.items():
            new_name = name
            if name in taken.get(section, {}) and taken[section][name] != definition:
                new_name = f"{service}.{name}"
                refs[f"#/components/{section}/{name}"] = f"#/components/{section}/{new_name}"
                if section == "securitySchemes":
                    schemes[name] = new_name
            renamed[section][new_name] = definition
    if not refs:
        return document
    rewritten: dict[str, Any] = _rewrite({**document, "components": renamed}, refs, schemes)
    return rewritten


def _rewrite(node: Any, refs: Mapping[str, str], schemes: Mapping[str, str]) -> Any:
    """`node` with its $refs and security requirement names renamed."""
    if isinstance(node, list):
        return [_rewrite(value, refs, schemes) for value in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            result[key] = refs.get(value, value)
        elif key == "security" and isinstance(value, list):
            result[key] = [{schemes.get(n, n): s for n, s in req.items()} for req in value]
        else:
            result[key] = _rewrite(value, refs, schemes)
    return result


def _with_gateway_errors(item: dict[str, Any], components: Mapping[str, Any]) -> dict[str, Any]:
    """A path item whose operations also list the errors the gateway itself answers."""
    if ERROR_SCHEMA not in components.get("schemas", {}):
        return item
    item = copy.deepcopy(item)
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}}
    for method in HTTP_METHODS:
        if operation := item.get(method):
            responses = operation.setdefault("responses", {})
            for status, description in _GATEWAY_ERRORS.items():
                responses.setdefault(status, {"description": description, "content": content})
    return item
