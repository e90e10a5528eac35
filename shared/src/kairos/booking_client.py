"""The booking service as the other services call it: over HTTP, with the admin key.

Two things live only in booking and are never on a topic: a booking's manage token
(the notifications service puts it in a client's links when it builds a message)
and that token's generation, which revoking moves on (booking.manage_tokens). Video,
calendar-sync and notifications check a client's manage token themselves
(kairos.auth), and ask booking for the generation on each such request: no cache, so
a revoked token stops opening anything at once everywhere, at the cost of one local
HTTP round trip (a primary-key lookup) per request that carries a manage token.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

import httpx
from pydantic import Field

from kairos.auth import Generations
from kairos.effects import TransientEffectError
from kairos.settings import CallerAuthSettings
from kairos.web.errors import ApiError


class BookingClient:
    """`http` reaches the booking API (its base URL, a timeout); `admin_api_key` opens it."""

    def __init__(self, http: httpx.Client, admin_api_key: str) -> None:
        self._http = http
        self._auth = {"Authorization": f"Bearer {admin_api_key}"}

    def manage_tokens(self, booking_ids: Collection[UUID]) -> dict[UUID, str]:
        """Each booking's manage token as it stands now, in one call (booking takes up to
        500 ids); an id booking does not know is absent."""
        if not booking_ids:
            return {}
        wanted = {"booking_ids": [str(booking_id) for booking_id in booking_ids]}
        body = self._call("POST", "/v1/bookings/manage-tokens", wanted)
        return {UUID(booking_id): token for booking_id, token in body["manage_tokens"].items()}

    def token_generation(self, booking_id: UUID) -> int:
        """The generation a manage token of the booking must name to open it now."""
        path = f"/v1/bookings/{booking_id}/manage-token/generation"
        generation: int = self._call("GET", path)["generation"]
        return generation

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, headers=self._auth, json=body)
        except httpx.HTTPError as error:
            raise TransientEffectError(f"booking API unreachable: {type(error).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientEffectError(f"booking API answered {response.status_code}")
        if response.status_code == 404:
            raise LookupError(f"{path}: not known to the booking service")
        response.raise_for_status()  # 401/403: a configuration error (the admin key)
        answer: dict[str, Any] = response.json()
        return answer

    def close(self) -> None:
        self._http.close()


class BookingApiSettings(CallerAuthSettings):
    """Where a service reaches the booking API (inside the cluster), with its admin key."""

    booking_api_url: str = Field(description="e.g. http://booking-api:8000")
    # Shorter than a client's patience: a join waits on it.
    booking_api_timeout_seconds: float = Field(5.0, gt=0)

    def booking_client(self, http: httpx.Client | None = None) -> BookingClient:
        """The client of BOOKING_API_URL, or of `http` (a test's in-process booking app)."""
        if http is None:
            http = httpx.Client(
                base_url=self.booking_api_url, timeout=self.booking_api_timeout_seconds
            )
        return BookingClient(http, self.admin_api_key.get_secret_value())


def request_generations(booking: BookingClient) -> Generations:
    """The `generations` of kairos.auth for a request handler: booking's answer, and a
    503 for the caller to retry when booking does not answer (never a silent 401)."""

    def generation(booking_id: UUID) -> int:
        try:
            return booking.token_generation(booking_id)
        except TransientEffectError:
            raise ApiError(
                503, "unavailable", "the booking service does not answer; try again"
            ) from None

    return generation
