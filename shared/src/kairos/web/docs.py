"""A Swagger UI page whose scripts come from this process, not from a CDN.

FastAPI's /docs loads Swagger UI from the internet at every visit, so it stays
blank on a machine without it. The swagger-ui-bundle-v2 package ships the same
assets (Swagger UI 5, which reads OpenAPI 3.1); every service and the dev
gateway serve them under /docs/assets through `docs_routes`.
"""

from __future__ import annotations

from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

DOCS_PATH = "/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"


def swagger_page(title: str, openapi_url: str) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{title} - API reference",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        # Swagger UI would otherwise send the document to an online validator for its badge.
        swagger_ui_parameters={"validatorUrl": None},
    )


def docs_routes(title: str, openapi_url: str) -> list[BaseRoute]:
    """GET /docs (the page) and /docs/assets/... (its scripts, styles and icon)."""

    async def page(_: Request) -> HTMLResponse:
        return swagger_page(title, openapi_url)

    return [
        Route(DOCS_PATH, page, methods=["GET"], include_in_schema=False),
        Mount(ASSETS_PATH, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets"),
    ]
