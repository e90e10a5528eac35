"""The dev gateway over real sockets: routing, what passes through, and its own answers."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, create_model
from starlette.types import Receive, Scope, Send

from kairos.web import document_api, install_error_handlers
from kairos.web.security import AnyCredential
from kairos_dev.gateway import Gateway, parse_upstreams, server_config
from kairos_dev.infra.process import free_port
from kairos_dev.testing import served
from kairos_dev.testing.served import plain_config

LIVE = ("booking", "availability", "calendar-sync", "video")


def echo(service: str) -> Any:
    """An upstream that answers with what it received; X-Echo-* request headers steer it."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {name.decode(): value.decode() for name, value in scope["headers"]}
        await asyncio.sleep(float(headers.get("x-echo-sleep", "0")))
        body = json.dumps(
            {
                "service": service,
                "method": scope["method"],
                "path": scope["path"],
                "raw_path": scope["raw_path"].decode(),
                "query": scope["query_string"].decode(),
                "headers": headers,
                "body": b"".join(chunks).decode("latin-1"),
            }
        ).encode()
        status = int(headers.get("x-echo-status", "200"))
        response_headers = [
            (b"content-type", b"application/json"),
            (b"x-upstream", service.encode()),
            (b"set-cookie", b"a=1"),
            (b"set-cookie", b"b=2"),
            (b"keep-alive", b"timeout=5"),
        ]
        if headers.get("x-echo-gzip"):
            body = gzip.compress(body)
            response_headers.append((b"content-encoding", b"gzip"))
        if status in (204, 304):
            body = b""
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    return app


def Served(app: Any) -> served.Served:
    """An app on a real port in a thread; a Gateway as `python -m` serves it."""
    return served.Served(app, config=server_config if isinstance(app, Gateway) else plain_config)


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, str]]:
    servers = [Served(echo(name)) for name in LIVE]
    for server in servers:
        server.__enter__()
    try:
        yield {name: server.url for name, server in zip(LIVE, servers, strict=True)}
    finally:
        for server in servers:
            server.__exit__()


def gateway_client(upstreams: Mapping[str, str], **options: Any) -> Iterator[httpx.Client]:
    with Served(Gateway(upstreams, **options)) as gateway, httpx.Client(base_url=gateway.url) as c:
        yield c


@pytest.fixture(scope="module")
def client(upstreams: dict[str, str]) -> Iterator[httpx.Client]:
    yield from gateway_client(upstreams)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert error["message"]
    details: dict[str, Any] = error["details"]
    return details


@pytest.mark.integration
@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/v1/specialists", "booking"),
        ("/v1/specialists/3f2a/schedule", "booking"),
        ("/v1/services/3f2a", "booking"),
        ("/v1/bookings", "booking"),
        ("/v1/bookings/3f2a/cancel", "booking"),
        ("/v1/bookings/3f2a/joiner", "booking"),
        ("/v1/slots", "availability"),
        ("/v1/bookings/3f2a/join", "video"),
        ("/v1/bookings/3f2a/session", "video"),
        ("/v1/bookings/3f2a/notes", "video"),
        ("/v1/webhooks/livekit", "video"),
        ("/v1/specialists/3f2a/calendars", "calendar-sync"),
        ("/v1/calendars/google/connect", "calendar-sync"),
        ("/v1/webhooks/google", "calendar-sync"),
        ("/v1/webhooks/microsoft", "calendar-sync"),
        ("/V1/Slots", "availability"),
    ],
)
def test_each_path_reaches_the_service_that_owns_it(
    client: httpx.Client, path: str, service: str
) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response.json()["service"] == service
    assert response.json()["path"] == path


@pytest.mark.integration
def test_method_path_query_headers_and_body_pass_through(
    client: httpx.Client, upstreams: dict[str, str]
) -> None:
    body = b'{"reason": "caf\xc3\xa9"}\x00\xff'
    response = client.post(
        "/v1/bookings/3f2a%2F9/cancel?x=1&y=a%20b&y=c",
        content=body,
        headers={
            "Authorization": "Bearer secret",
            "Content-Type": "application/octet-stream",
            "X-Request-Id": "r-1",
            "X-Forwarded-For": "203.0.113.7",
            "Accept-Encoding": "identity",
            "Connection": "keep-alive, x-per-hop",
            "X-Per-Hop": "1",
        },
    )

    assert response.status_code == 200
    seen = response.json()
    assert (seen["service"], seen["method"]) == ("booking", "POST")
    assert seen["raw_path"] == "/v1/bookings/3f2a%2F9/cancel"
    assert seen["query"] == "x=1&y=a%20b&y=c"
    assert seen["body"].encode("latin-1") == body
    headers = seen["headers"]
    assert headers["authorization"] == "Bearer secret"
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-length"] == str(len(body))
    assert headers["x-request-id"] == "r-1"
    assert headers["accept-encoding"] == "identity"  # the client's, not httpx's
    assert headers["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == client.base_url.netloc.decode()
    assert headers["host"] == upstreams["booking"].removeprefix("http://")
    assert "x-per-hop" not in headers
    assert headers.get("connection", "keep-alive") == "keep-alive"  # the gateway's own


@pytest.mark.integration
def test_header_values_pass_through_without_surrounding_whitespace(client: httpx.Client) -> None:
    # The demo seed sends `Authorization: Bearer ` when it has no token; httpx would not.
    connection = http.client.HTTPConnection(client.base_url.host, client.base_url.port)
    try:
        connection.request("GET", "/v1/specialists", headers={"Authorization": "Bearer "})
        response = connection.getresponse()
        seen = json.loads(response.read())
    finally:
        connection.close()

    assert response.status == 200
    assert seen["headers"]["authorization"] == "Bearer"


@pytest.mark.integration
def test_the_clients_own_headers_only_reach_the_upstream(client: httpx.Client) -> None:
    # A bare request: whatever else the upstream sees, the gateway added.
    with httpx.Client(base_url=client.base_url) as bare:
        bare.headers.clear()
        seen = bare.get("/v1/slots").json()["headers"]

    assert set(seen) == {"host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}


@pytest.mark.integration
@pytest.mark.parametrize("status", [200, 201, 204, 302, 409, 422, 500, 503])
def test_status_and_response_headers_pass_through(client: httpx.Client, status: int) -> None:
    response = client.put("/v1/specialists/3f2a/schedule", headers={"X-Echo-Status": str(status)})

    assert response.status_code == status
    assert response.headers["x-upstream"] == "booking"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert "keep-alive" not in response.headers
    assert response.headers.get_list("server") == ["uvicorn"]  # the upstream's, no second one
    assert len(response.headers.get_list("date")) == 1
    if status == 204:
        assert response.content == b""
    else:
        assert response.json()["method"] == "PUT"


@pytest.mark.integration
def test_an_encoded_body_reaches_the_client_as_the_upstream_encoded_it(
    client: httpx.Client,
) -> None:
    response = client.get("/v1/slots?service_id=1", headers={"X-Echo-Gzip": "1"})

    assert response.headers["content-encoding"] == "gzip"
    assert response.json()["query"] == "service_id=1"  # httpx decoded it: the bytes were intact


@pytest.mark.integration
def test_a_head_request_gets_the_headers_only(client: httpx.Client) -> None:
    response = client.head("/v1/specialists")

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-upstream"] == "booking"


@pytest.mark.integration
@pytest.mark.parametrize("path", ["/", "/metrics", "/redoc", "/v1/bookingsx", "/v2/slots"])
def test_an_unrouted_path_is_not_found(client: httpx.Client, path: str) -> None:
    assert assert_error(client.get(path), 404, "not_found") == {"path": path}


@pytest.mark.integration
def test_a_service_that_is_not_configured_is_a_bad_gateway(upstreams: dict[str, str]) -> None:
    for client in gateway_client({"booking": upstreams["booking"]}):
        response = client.post("/v1/bookings/3f2a/join")

        assert assert_error(response, 502, "bad_gateway") == {"service": "video"}
        assert client.get("/v1/bookings/3f2a").json()["service"] == "booking"


@pytest.mark.integration
def test_a_service_that_does_not_answer_is_a_bad_gateway() -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for client in gateway_client({"availability": down}):
        response = client.get("/v1/slots?service_id=1")

        assert assert_error(response, 502, "bad_gateway") == {"service": "availability"}
        assert down in response.json()["error"]["message"]


@pytest.mark.integration
def test_a_service_that_answers_too_late_is_a_gateway_timeout(
    upstreams: dict[str, str],
) -> None:
    for client in gateway_client(upstreams, timeout=httpx.Timeout(0.2)):
        response = client.get("/v1/slots", headers={"X-Echo-Sleep": "2"})

        assert assert_error(response, 504, "gateway_timeout") == {"service": "availability"}


@pytest.mark.integration
def test_health_and_readiness_do_not_depend_on_the_upstreams() -> None:
    for client in gateway_client({}):
        for path in ("/healthz", "/readyz"):
            response = client.get(path)
            assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.integration
def test_python_m_kairos_gateway_serves_the_upstreams_of_its_environment(
    upstreams: dict[str, str],
) -> None:
    port = free_port()
    env = {**os.environ, "GATEWAY_UPSTREAMS": f"availability={upstreams['availability']}"}
    command = [sys.executable, "-m", "kairos_dev.gateway", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 20
            while True:
                assert process.poll() is None, process.stdout and process.stdout.read()
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the gateway did not start"
                    time.sleep(0.1)
            assert client.get("/v1/slots").json()["service"] == "availability"
            assert_error(client.get("/v1/bookings"), 502, "bad_gateway")
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.unit
def test_python_m_kairos_gateway_refuses_an_upstream_no_route_leads_to() -> None:
    env = {**os.environ, "GATEWAY_UPSTREAMS": "bookings=http://127.0.0.1:8010"}
    result = subprocess.run(
        [sys.executable, "-m", "kairos_dev.gateway"], env=env, capture_output=True, text=True
    )

    assert result.returncode == 2
    assert "no route leads to bookings" in result.stderr


@pytest.mark.unit
def test_upstreams_parse_from_service_url_pairs() -> None:
    text = " booking=http://127.0.0.1:8010/ , availability = http://127.0.0.1:8020,"
    assert parse_upstreams(text) == {
        "booking": "http://127.0.0.1:8010",
        "availability": "http://127.0.0.1:8020",
    }
    assert parse_upstreams("") == {}


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("booking", "expected service=url"),
        ("booking=", "expected service=url"),
        ("booking=127.0.0.1:8010", "not an http(s) base URL"),
        ("booking=http://127.0.0.1:8010?x=1", "not an http(s) base URL"),
        ("booking=http://a,booking=http://b", "booking is given twice"),
    ],
)
def test_malformed_upstreams_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_upstreams(text)


@pytest.mark.integration
def test_a_header_value_with_non_ascii_bytes_reaches_the_upstream_unchanged(
    client: httpx.Client,
) -> None:
    # README's booking example sends `Idempotency-Key: 7b1c…`, "…" in UTF-8 (obs-text).
    key = "7b1c…".encode()
    response = client.post("/v1/bookings", headers={"Idempotency-Key": key})

    assert response.status_code == 200
    assert response.json()["headers"]["idempotency-key"].encode() == key


# --- the API reference: two FastAPI upstreams, as the services document themselves ---


def thing(field: str) -> type[BaseModel]:
    """A model called `Thing` with one field: two services each define one, differently."""
    model: type[BaseModel] = create_model("Thing", **{field: (str, ...)})  # type: ignore[call-overload]
    return model


BookingThing, SlotThing = thing("id"), thing("start")


def documented(name: str, model: type[BaseModel], path: str) -> FastAPI:
    """A service with one public path, answering a `Thing`."""
    app = FastAPI(title=f"Kairos {name}")
    install_error_handlers(app)
    document_api(app)

    @app.get(path, response_model=model)
    def thing(authorization: AnyCredential) -> dict[str, str]:
        return {"id": "1", "start": "2026-01-01T00:00:00Z"}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.fixture(scope="module")
def documented_client() -> Iterator[httpx.Client]:
    with (
        Served(documented("booking", BookingThing, "/v1/bookings")) as booking,
        Served(documented("availability", SlotThing, "/v1/slots")) as availability,
    ):
        upstreams = {"booking": booking.url, "availability": availability.url}
        yield from gateway_client(upstreams)


def gateway_host(client: httpx.Client) -> str:
    return client.base_url.netloc.decode()


@pytest.mark.integration
def test_a_redirect_of_an_upstream_to_itself_points_at_the_gateway(
    documented_client: httpx.Client,
) -> None:
    response = documented_client.get("/v1/bookings/")  # FastAPI redirects to no slash

    assert response.status_code == 307
    assert response.headers["location"] == f"http://{gateway_host(documented_client)}/v1/bookings"
    assert documented_client.get(response.headers["location"]).status_code == 200


@pytest.mark.integration
def test_the_merged_document_has_every_services_paths_and_components_without_collisions(
    documented_client: httpx.Client,
) -> None:
    document = documented_client.get("/openapi.json").json()

    # Only what the gateway routes: each service's own /healthz stays its own.
    assert set(document["paths"]) == {"/v1/bookings", "/v1/slots"}
    schemas = document["components"]["schemas"]
    # Each service's `Thing` is kept, one under a name of its own, and each path still
    # refers to its own service's.
    assert sorted(name for name in schemas if name.endswith("Thing")) in (
        ["Thing", "availability.Thing"],
        ["Thing", "booking.Thing"],
    )
    for path, field in (("/v1/bookings", "id"), ("/v1/slots", "start")):
        ok = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        name = ok["schema"]["$ref"].removeprefix("#/components/schemas/")
        assert schemas[name]["properties"].keys() == {field}
    slots = document["paths"]["/v1/slots"]["get"]["responses"]
    # Shared definitions, identical in both, appear once under their own names.
    assert "Error" in schemas and "availability.Error" not in schemas
    assert set(document["components"]["securitySchemes"]) == {
        "adminKey",
        "specialistJwt",
        "manageToken",
    }
    assert {"401", "403", "502", "504"} <= set(slots)


@pytest.mark.integration
def test_the_merged_document_names_a_service_that_does_not_answer(
    upstreams: dict[str, str],
) -> None:
    with Served(documented("booking", BookingThing, "/v1/bookings")) as booking:
        down = f"http://127.0.0.1:{free_port()}"
        for client in gateway_client({"booking": booking.url, "availability": down}):
            document = client.get("/openapi.json").json()

    assert set(document["paths"]) == {"/v1/bookings"}
    assert "availability" in document["info"]["description"]


@pytest.mark.integration
@pytest.mark.parametrize("served_by", ["gateway", "service"])
def test_the_docs_page_loads_its_assets_from_the_same_origin(
    documented_client: httpx.Client, served_by: str
) -> None:
    if served_by == "service":
        app = documented("booking", BookingThing, "/v1/bookings")
        with Served(app) as service, httpx.Client(base_url=service.url) as own:
            check_docs_page(own)
    else:
        check_docs_page(documented_client)


def check_docs_page(client: httpx.Client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert any(a.endswith("swagger-ui.css") for a in assets)
    assert "url: '/openapi.json'" in page.text
    for asset in assets:
        assert asset.startswith("/docs/assets/"), f"{asset} is not served here"
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert response.content
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/redoc").status_code == 404  # FastAPI's CDN page is gone


@pytest.mark.integration
def test_the_gateways_own_errors_under_docs_have_the_error_shape(
    documented_client: httpx.Client,
) -> None:
    assert_error(documented_client.get("/docs/assets/nothing.js"), 404, "not_found")
    assert_error(documented_client.post("/openapi.json"), 405, "method_not_allowed")


@pytest.mark.unit
def test_the_gateway_serves_the_web_app_at_every_path_outside_the_api(
    upstreams: dict[str, str], tmp_path: Any
) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>app</title>")
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    (tmp_path.parent / "secret.txt").write_text("outside")
    for web in gateway_client(upstreams, web_root=tmp_path):
        for route in ("/", "/book/some-specialist", "/bookings/b-1/join"):
            page = web.get(route)
            assert page.status_code == 200, route
            assert page.text == "<!doctype html><title>app</title>"
            assert page.headers["cache-control"] == "no-cache"
        asset = web.get("/assets/index-abc.js")
        assert asset.text == "console.log(1)"
        assert "immutable" in asset.headers["cache-control"]
        # A path out of the root is only ever the app's index, never the file.
        assert "outside" not in web.get("/%2E%2E/secret.txt").text
        # The API and the dev pages keep their own answers, unknown paths included.
        assert web.get("/v1/bookings/x").json()["service"] == "booking"
        assert_error(web.get("/v1/nothing-here"), 404, "not_found")
        assert_error(web.get("/dev/nothing-here"), 404, "not_found")
        assert web.post("/book/x").status_code == 405
