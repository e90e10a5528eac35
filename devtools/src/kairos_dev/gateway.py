"""The dev gateway: one public origin for `kairos dev`, routing by path as the k8s Ingress does.

API.md promises one origin for every service. In Kubernetes that is the Ingress
(deploy/k8s/base/ingress.yaml); in `kairos dev` it is this small reverse proxy.
Its path table is the routes the services register (kairos_dev.registration), tried
longest first as ingress-nginx tries the Ingress's; tests/deploy checks that the two
tables never drift apart.

Run it as

    GATEWAY_UPSTREAMS=booking=http://127.0.0.1:8010,availability=http://127.0.0.1:8020 \\
        python -m kairos_dev.gateway --host 127.0.0.1 --port 8000

GATEWAY_UPSTREAMS holds comma-separated `service=base-url` pairs. The service
names are those of the registered services with routes (the k8s Service names);
an unknown name is refused at start, so a typo cannot silently leave a service
unrouted.

Method, path, query, headers and body go on unchanged, less hop-by-hop headers,
with X-Forwarded-For/-Proto/-Host added; status, headers and body come back the
same way. The gateway answers itself, in the API's error shape, when it cannot:
404 `not_found` for a path no route matches, 502 `bad_gateway` for a service
without an upstream (one not written yet) or one that does not answer, 504
`gateway_timeout` after TIMEOUT. Its own /healthz and /readyz answer 200
without asking the upstreams, so it can start before, after or without them.

It also serves the one API reference of this origin: /openapi.json, the documents
of its upstreams merged (kairos_dev.gateway_docs), and /docs, Swagger UI from local
assets (kairos.web.docs); and, given GATEWAY_WEB_ROOT (the built web app, web/dist),
the web app at every other path outside /v1/ and /dev/ (kairos_dev.web_app).

Header values go on as the bytes they arrived as (obs-text, e.g. UTF-8 in an
Idempotency-Key, included). A redirect of an upstream to its own address
(FastAPI's trailing-slash redirect) is rewritten to this origin.

Requests and responses are buffered whole (the API has no streaming endpoints).
"""

from __future__ import annotations

import argparse
import asyncio
import http.cookiejar
import json
import logging
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from kairos.web.docs import DOCS_PATH, docs_routes
from kairos.web.errors import http_error_response
from kairos_dev.gateway_docs import TITLE, merge_documents
from kairos_dev.registration import DevService, registered_services
from kairos_dev.web_app import WEB_ROOT_ENV, WebApp

log = logging.getLogger("kairos_dev.gateway")

UPSTREAMS_ENV = "GATEWAY_UPSTREAMS"

# Long enough for any request of this API, short enough that a hung upstream
# surfaces as an error rather than a client that waits forever.
TIMEOUT = httpx.Timeout(30.0, connect=5.0)

# Headers about one connection, not the message (RFC 9110 7.6.1); never forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Replaced by our own: Host is the upstream's, Content-Length that of the body we send.
_REPLACED = frozenset(
    {b"host", b"content-length", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
)
OPENAPI_PATH = "/openapi.json"
# The reference page waits for this long at most for a service's document.
DOCUMENT_TIMEOUT = 5.0


def routes_of(services: Iterable[DevService]) -> list[tuple[str, str]]:
    """(path regex, service) of `services`, in the order they are tried: longest first,
    as ingress-nginx writes regex locations (the first match wins); which is why a path
    that overrides a more general one of another service must be the longer."""
    table = [(path, service.name) for service in services for path in service.routes]
    return sorted(table, key=lambda entry: (-len(entry[0]), entry[0]))


class Router:
    """The service that serves a path, by the routes of `services` (routes_of)."""

    def __init__(self, services: Iterable[DevService]) -> None:
        services = list(services)
        #: The services routes lead to, in the order given (their documents' order in
        #: the merged reference: a later one's clashing component names are prefixed).
        self.services = tuple(service.name for service in services if service.routes)
        #: Those whose OpenAPI documents make the merged reference (not the dev fakes).
        self.documented = tuple(
            service.name for service in services if service.routes and not service.dev_only
        )
        self.table = routes_of(services)
        # ingress-nginx matches case-insensitively (`location ~*`); so do we.
        self._compiled = [(re.compile(path, re.IGNORECASE), name) for path, name in self.table]

    def __call__(self, path: str) -> str | None:
        for pattern, service in self._compiled:
            if pattern.match(path):
                return service
        return None


def parse_upstreams(text: str) -> dict[str, str]:
    """`booking=http://127.0.0.1:8010,availability=...` as {service: base URL}."""
    upstreams: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, url = (s.strip() for s in item.partition("="))
        if not sep or not name or not url:
            raise ValueError(f"expected service=url, got {item!r}")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(f"{name}: {url!r} is not an http(s) base URL")
        if name in upstreams:
            raise ValueError(f"{name} is given twice")
        upstreams[name] = url.rstrip("/")
    return upstreams


class Gateway:
    """The ASGI app: route, forward, and answer for upstreams that cannot."""

    def __init__(
        self,
        upstreams: Mapping[str, str],
        *,
        services: Iterable[DevService] | None = None,
        timeout: httpx.Timeout = TIMEOUT,
        web_root: Path | None = None,
    ) -> None:
        """Routes to `services` (default: the registered ones) by their routes; serves
        the web app built in `web_root` at the other paths."""
        self.route = Router(registered_services() if services is None else services)
        routed = self.route.services
        if unknown := sorted(set(upstreams) - set(routed)):
            raise ValueError(
                f"no route leads to {', '.join(unknown)}; services are {', '.join(routed)}"
            )
        self.upstreams = {name: url.rstrip("/") for name, url in upstreams.items()}
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._web = WebApp(web_root) if web_root is not None else None
        self._reference = Starlette(
            routes=[
                Route(OPENAPI_PATH, self._openapi, methods=["GET"]),
                *docs_routes(TITLE, OPENAPI_PATH),
            ],
            exception_handlers={HTTPException: _http_error},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:  # websocket: no public endpoint uses one
            await receive()
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http_client(self) -> httpx.AsyncClient:
        # Created on first use, inside the server's event loop.
        if self._client is None:
            # trust_env=False: an HTTP_PROXY in the developer's shell must not
            # capture traffic to 127.0.0.1.
            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                trust_env=False,
                # A jar would keep one client's cookies and send them with everyone's requests.
                cookies=http.cookiejar.CookieJar(
                    http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
                ),
            )
            # httpx adds Accept-Encoding, User-Agent, ... of its own; a proxy must
            # send the client's. (An added Accept-Encoding would get the client a
            # compressed body it never asked for.)
            self._client.headers.clear()
        return self._client

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path in ("/healthz", "/readyz"):
            await _send_json(send, 200, {"status": "ok"})
            return
        if path in (OPENAPI_PATH, DOCS_PATH) or path.startswith(DOCS_PATH + "/"):
            await self._reference(scope, receive, send)
            return
        service = self.route(path)
        if service is None and self._web is not None and self._web.serves(path):
            await self._web(scope, receive, send)
            return
        if service is None:
            await _send_error(send, 404, "not_found", f"no service serves {path}", {"path": path})
            return
        base = self.upstreams.get(service)
        if base is None:
            message = f"{service} is not running in this stack"
            await _send_error(send, 502, "bad_gateway", message, {"service": service})
            return
        body = await _read_body(receive)
        if body is None:  # the client went away
            return

        # raw_path keeps the client's percent-encoding (an id holding %2F stays one segment).
        target = base + (scope.get("raw_path") or path.encode()).decode("latin-1")
        if query := scope.get("query_string", b""):
            target += "?" + query.decode("latin-1")
        client = self._http_client()
        request = client.build_request(
            scope["method"], target, headers=_request_headers(scope), content=body
        )
        try:
            response = await client.send(request, stream=True)
            try:
                # Raw bytes: the body goes on exactly as the upstream encoded it.
                content = b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            log.warning("%s %s: %s timed out: %r", scope["method"], path, service, exc)
            message = f"{service} did not answer in time ({type(exc).__name__})"
            await _send_error(send, 504, "gateway_timeout", message, {"service": service})
            return
        except httpx.LocalProtocolError as exc:  # the request itself cannot be sent on
            message = f"the request cannot be forwarded: {exc}"
            await _send_error(send, 400, "bad_request", message, {"service": service})
            return
        except httpx.TransportError as exc:
            log.warning("%s %s: %s at %s: %r", scope["method"], path, service, base, exc)
            reason = str(exc) or type(exc).__name__
            message = f"no answer from {service} at {base} ({reason})"
            await _send_error(send, 502, "bad_gateway", message, {"service": service})
            return

        headers = [
            (name, self._at_this_origin(value, scope) if name == b"location" else value)
            for name, value in _end_to_end(response.headers.raw)
        ]
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": content})

    def _at_this_origin(self, location: bytes, scope: Scope) -> bytes:
        """An upstream's absolute Location to its own address, to this origin instead (as
        nginx's default proxy_redirect does): the client cannot reach the upstream."""
        host = _host(scope)
        if host is None:
            return location
        scheme: str = scope.get("scheme", "http")
        origin = scheme.encode("latin-1") + b"://" + host
        for base in self.upstreams.values():
            prefix = base.encode("latin-1")
            rest = location[len(prefix) :]
            if location.startswith(prefix) and (not rest or rest[:1] in (b"/", b"?")):
                return origin + rest
        return location

    async def _openapi(self, _: Request) -> JSONResponse:
        """The documents of the running upstreams, merged; those that cannot be fetched
        are named in the description rather than failing the whole reference."""
        services = [service for service in self.route.documented if service in self.upstreams]
        fetched = await asyncio.gather(*(self._document(service) for service in services))
        documents = {s: d for s, d in zip(services, fetched, strict=True) if isinstance(d, dict)}
        missing = {s: d for s, d in zip(services, fetched, strict=True) if isinstance(d, str)}
        return JSONResponse(merge_documents(documents, self.route, missing))

    async def _document(self, service: str) -> dict[str, Any] | str:
        """`service`'s OpenAPI document, or why it could not be had."""
        try:
            response = await self._http_client().get(
                self.upstreams[service] + OPENAPI_PATH, timeout=DOCUMENT_TIMEOUT
            )
            response.raise_for_status()
            document: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("%s: no OpenAPI document: %r", service, exc)
            return str(exc) or type(exc).__name__
        return document


def _end_to_end(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` without hop-by-hop ones, including those the Connection header names.

    Bytes throughout: a value may hold obs-text (RFC 9110 5.5), which has no one
    text encoding, and must reach the other side unchanged."""
    headers = [(name.lower(), value) for name, value in headers]
    named = {
        token.strip().lower().decode("latin-1")
        for name, value in headers
        if name == b"connection"
        for token in value.split(b",")
    }
    return [
        (name, value)
        for name, value in headers
        if name.decode("latin-1") not in _HOP_BY_HOP | named
    ]


def _request_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    # Surrounding whitespace is not part of a value (RFC 9110 5.5); uvicorn keeps it,
    # httpx refuses to send it (`Authorization: Bearer ` with an empty token).
    received: list[tuple[bytes, bytes]] = [(n, v.strip()) for n, v in scope["headers"]]
    headers = [(n, v) for n, v in _end_to_end(received) if n not in _REPLACED]
    # Appended to, as nginx's $proxy_add_x_forwarded_for does: earlier hops stay first.
    prior = [v for n, v in received if n == b"x-forwarded-for"]
    peer = [scope["client"][0].encode("latin-1")] if scope.get("client") else []
    if forwarded_for := b", ".join([*prior, *peer]):
        headers.append((b"x-forwarded-for", forwarded_for))
    headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode("latin-1")))
    if host := _host(scope):
        headers.append((b"x-forwarded-host", host))
    return headers


def _host(scope: Scope) -> bytes | None:
    return next((v.strip() for n, v in scope["headers"] if n.lower() == b"host"), None)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_json(send: Send, status: int, body: Any) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return http_error_response(exc)


async def _send_error(send: Send, status: int, code: str, message: str, details: Any) -> None:
    await _send_json(
        send, status, {"error": {"code": code, "message": message, "details": details}}
    )


def server_config(gateway: Gateway, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        gateway,
        host=host,
        port=port,
        # The upstreams log each request and send their own Server and Date headers.
        access_log=False,
        server_header=False,
        date_header=False,
        # We are the edge: the peer address is the client, whatever it claims.
        proxy_headers=False,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m kairos_dev.gateway",
        description=f"Dev reverse proxy; upstreams from ${UPSTREAMS_ENV} (service=url,...).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    # uvicorn configures only its own loggers; this makes our warnings look like theirs
    # (and keeps httpx's INFO line per request out: the upstreams log their requests).
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s:  %(message)s")
    try:
        upstreams = parse_upstreams(os.environ.get(UPSTREAMS_ENV, ""))
    except ValueError as exc:
        parser.exit(2, f"gateway: {UPSTREAMS_ENV}: {exc}\n")
    web_root = os.environ.get(WEB_ROOT_ENV)
    try:
        gateway = Gateway(upstreams, web_root=Path(web_root) if web_root else None)
    except ValueError as exc:
        parser.exit(2, f"gateway: {exc}\n")
    for service in gateway.route.services:
        print(f"{service} -> {gateway.upstreams.get(service, 'not running (502)')}", flush=True)
    uvicorn.Server(server_config(gateway, args.host, args.port)).run()


if __name__ == "__main__":
    main()
