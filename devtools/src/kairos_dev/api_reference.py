"""The merged API reference, built in-process from the services' routers: no running
service, database or broker is needed, so a check can compare it with what the web
app's generated client was made from (`make web-api`).

Each documented service's document is that of `kairos.web.service_app` over the
routers it registers (DevService.routers): the same factory and routers its
create_app uses, so the same paths, schemas, errors and security schemes. The
documents are merged as the gateway merges the running services' (gateway_docs).

    python -m kairos_dev.api_reference > openapi.json
"""

from __future__ import annotations

import json
import pkgutil
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import APIRouter

from kairos.web import service_app
from kairos_dev.gateway import Router
from kairos_dev.gateway_docs import merge_documents
from kairos_dev.registration import DevService, registered_services


def service_document(service: DevService) -> dict[str, Any]:
    """The OpenAPI document `service`'s API serves, from its registered routers."""
    if service.routers is None:
        raise ValueError(f"{service.name} registers no routers (DevService.routers)")
    routers: Iterable[APIRouter] = pkgutil.resolve_name(service.routers)
    document: dict[str, Any] = service_app(service.name, {}, routers).openapi()
    return document


def merged_reference(services: Sequence[DevService] | None = None) -> dict[str, Any]:
    """The reference the gateway serves at /openapi.json when every service runs."""
    services = registered_services() if services is None else services
    route = Router(services)
    by_name = {service.name: service for service in services}
    documents = {name: service_document(by_name[name]) for name in route.documented}
    return merge_documents(documents, route)


def main() -> None:
    json.dump(merged_reference(), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
