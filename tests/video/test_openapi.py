"""The video service's OpenAPI document: API.md's Video paths, each with the errors it
answers in the one error shape and the credentials it takes."""

from __future__ import annotations

from tests.video.conftest import Video


def test_the_document_has_the_video_paths_with_their_errors_and_credentials(video: Video) -> None:
    document = video.http.get("/openapi.json").json()
    paths = document["paths"]
    join = paths["/v1/bookings/{booking_id}/join"]["post"]
    assert {"401", "403", "404", "409", "410", "425"} <= set(join["responses"])
    schemes = {name for requirement in join["security"] for name in requirement}
    assert len(schemes) == 3  # admin key (refused: 403), specialist JWT, manage token
    assert "get" in paths["/v1/bookings/{booking_id}/session"]
    assert "post" in paths["/v1/bookings/{booking_id}/recording-consent"]
    assert "put" in paths["/v1/bookings/{booking_id}/notes"]
    webhook = paths["/v1/webhooks/livekit"]["post"]
    assert "401" in webhook["responses"]
    for path, item in paths.items():
        if not path.startswith("/v1/"):
            continue  # /readyz answers 503 with its checks
        for operation in item.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, status
