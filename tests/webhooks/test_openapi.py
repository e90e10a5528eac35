"""The webhooks service's OpenAPI document: API.md's Webhooks paths, each with the errors
it answers in the one error shape, and the admin key as their credential."""

from __future__ import annotations

from tests.webhooks.conftest import Hooks


def test_the_document_has_the_webhook_paths_with_their_errors_and_credential(hooks: Hooks) -> None:
    document = hooks.api.get("/openapi.json").json()
    paths = document["paths"]
    operations = {
        ("/v1/webhooks/subscriptions", "post"): {"401", "403", "422"},
        ("/v1/webhooks/subscriptions", "get"): {"401", "403"},
        ("/v1/webhooks/subscriptions/{subscription_id}", "delete"): {"401", "403", "404"},
        ("/v1/webhooks/subscriptions/{subscription_id}/enable", "post"): {"401", "403", "404"},
        ("/v1/webhooks/subscriptions/{subscription_id}/deliveries", "get"): {"401", "404", "422"},
        ("/v1/webhooks/deliveries/{delivery_id}/resend", "post"): {"401", "404", "409"},
    }
    for (path, method), errors in operations.items():
        operation = paths[path][method]
        assert errors <= set(operation["responses"]), (path, method)
        assert operation["security"] == [{"adminKey": []}], (path, method)
    created = paths["/v1/webhooks/subscriptions"]["post"]["responses"]["201"]
    schema = created["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "secret" in document["components"]["schemas"][schema]["required"]
    for path, item in paths.items():
        if not path.startswith("/v1/"):
            continue
        for operation in item.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, status)
