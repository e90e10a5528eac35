"""The web app's built files (web/dist), served at `/` by the dev gateway as the web
image's server does in k8s: a file when one matches the path, else index.html, so the
app's own routes (/book/<id>, /bookings/<id>, ...) open on a reload or from an e-mail.
API paths (/v1/, /dev/) never fall back: an unknown one stays the API's 404.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

WEB_ROOT_ENV = "GATEWAY_WEB_ROOT"
#: Paths of the API and the dev tools: never the web app's.
API_PREFIXES = ("/v1/", "/dev/")
# Vite names assets by their content: they never change, so they can be cached for good.
_IMMUTABLE = "public, max-age=31536000, immutable"


def repository_web_dist() -> Path | None:
    """web/dist of the repository this package is installed from (editable), if built."""
    for directory in Path(__file__).resolve().parents:
        if (directory / "web" / "package.json").exists():
            dist = directory / "web" / "dist"
            return dist if (dist / "index.html").exists() else None
    return None


class WebApp:
    """An ASGI app serving the files under `root`, with index.html for any other path."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        if not (self.root / "index.html").is_file():
            raise ValueError(f"{root} has no index.html (build the web app: make web)")

    @staticmethod
    def serves(path: str) -> bool:
        return not path.startswith(API_PREFIXES) and path not in ("/v1", "/dev")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self._response(scope["path"], scope["method"])
        await response(scope, receive, send)

    def _response(self, path: str, method: str) -> Response:
        if method not in ("GET", "HEAD"):
            return Response(status_code=405, headers={"Allow": "GET, HEAD"})
        file = (self.root / path.lstrip("/")).resolve()
        if file.is_file() and file.is_relative_to(self.root):
            cache = _IMMUTABLE if file.parent.name == "assets" else "no-cache"
            return FileResponse(file, headers={"Cache-Control": cache})
        # index.html is never cached: a new build must reach the next page load.
        return FileResponse(self.root / "index.html", headers={"Cache-Control": "no-cache"})
