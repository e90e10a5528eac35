"""The links in a booking's messages, from the booking service when a message is built.

A client manages and joins with their booking's manage token (API.md: no account). It
never travels on a topic: notifications asks booking for the current one
(`GET /v1/bookings/{id}/manage-token`, with the admin key) when it builds a message,
so an e-mail carries the token of the moment and a token revoked since (`POST
…/manage-token`) no longer opens anything, though older e-mails still show it. The
token rides in the URL's fragment, which browsers never send to a server: it stays
out of the web server's and the gateway's access logs. A specialist signs in, so
their links carry no credential.
"""

from __future__ import annotations

from urllib.parse import quote
from uuid import UUID

import httpx

from kairos.effects import TransientEffectError
from notifications.appointment import Links


class BookingLinks:
    """The `LinkIssuer` of the running service: `http` reaches the booking API."""

    def __init__(self, http: httpx.Client, admin_api_key: str, public_url: str) -> None:
        self._http = http
        self._auth = {"Authorization": f"Bearer {admin_api_key}"}
        self._public = public_url.rstrip("/")

    def manage_token(self, booking_id: UUID) -> str:
        """The booking's manage token as it stands now."""
        try:
            response = self._http.get(f"/v1/bookings/{booking_id}/manage-token", headers=self._auth)
        except httpx.HTTPError as error:
            raise TransientEffectError(f"booking API unreachable: {type(error).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientEffectError(f"booking API answered {response.status_code}")
        if response.status_code == 404:
            raise LookupError(f"booking {booking_id} is not known to the booking service")
        response.raise_for_status()  # 401/403: a configuration error, parks the effect
        token: str = response.json()["manage_token"]
        return token

    def links_for(self, booking_id: UUID, recipient: str) -> Links:
        page = f"{self._public}/bookings/{booking_id}"
        if recipient != "client":
            return Links(manage=page, join=f"{page}/join")
        fragment = f"#token={quote(self.manage_token(booking_id), safe='')}"
        return Links(manage=page + fragment, join=f"{page}/join{fragment}")
