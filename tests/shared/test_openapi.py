"""document_api: what an operation declares (parameters, body, credential) decides the
errors its OpenAPI operation documents, all in the one error shape."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from kairos.web import document_api, install_error_handlers
from kairos.web.security import AdminCredential, StaffCredential

pytestmark = pytest.mark.unit

ERROR_REF = {"$ref": "#/components/schemas/Error"}


class Note(BaseModel):
    text: str


def app_with_routes() -> FastAPI:
    app = FastAPI(title="Kairos example")
    install_error_handlers(app)
    document_api(app)

    @app.get("/v1/open")
    def open_to_all() -> dict[str, str]:
        return {}

    @app.get("/v1/search")
    def search(q: str) -> dict[str, str]:
        return {}

    @app.post("/v1/notes", status_code=201)
    def add_note(note: Note, authorization: AdminCredential) -> Note:
        return note

    @app.post("/v1/notes/{note_id}/close", responses={409: {"description": "already closed"}})
    def close_note(note_id: UUID, authorization: StaffCredential) -> dict[str, str]:
        return {}

    return app


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    with TestClient(app_with_routes()) as client:
        body: dict[str, Any] = client.get("/openapi.json").json()
    return body


def responses(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method]["responses"]
    return found


def test_an_operation_without_inputs_or_credential_documents_only_the_catch_all_500(
    document: dict[str, Any],
) -> None:
    open_ = responses(document, "/v1/open", "get")
    assert set(open_) == {"200", "500"}
    assert open_["500"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


def test_parameters_bring_422_and_a_body_also_400(document: dict[str, Any]) -> None:
    assert set(responses(document, "/v1/search", "get")) == {"200", "422", "500"}
    assert {"400", "422"} <= set(responses(document, "/v1/notes", "post"))


def test_a_credential_brings_its_security_schemes_and_401_and_403(
    document: dict[str, Any],
) -> None:
    add = document["paths"]["/v1/notes"]["post"]
    close = document["paths"]["/v1/notes/{note_id}/close"]["post"]

    assert add["security"] == [{"adminKey": []}]
    assert close["security"] == [{"adminKey": []}, {"specialistJwt": []}]
    assert {"401", "403"} <= set(add["responses"]) & set(close["responses"])
    schemes = document["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http"}
    assert {s["scheme"] for s in schemes.values()} == {"bearer"}
    assert all(s["description"] for s in schemes.values())


def test_a_path_parameter_brings_404_and_a_routes_own_errors_keep_their_description(
    document: dict[str, Any],
) -> None:
    close = responses(document, "/v1/notes/{note_id}/close", "post")

    assert set(close) == {"200", "401", "403", "404", "409", "422", "500"}
    assert close["409"]["description"] == "already closed"


def test_every_error_is_in_the_error_shape_and_fastapis_detail_shape_is_gone(
    document: dict[str, Any],
) -> None:
    for item in document["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    assert response["content"]["application/json"]["schema"] == ERROR_REF
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    error = schemas["Error"]["properties"]["error"]
    assert error["required"] == ["code", "message", "details"]


def test_a_documented_422_is_what_the_api_answers() -> None:
    with TestClient(app_with_routes()) as client:
        body = client.get("/v1/search").json()

    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
