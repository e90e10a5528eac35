"""The links in a booking's messages, from the booking service when a message is built.

A client manages and joins with their booking's manage token (API.md: no account). It
never travels on a topic: notifications asks booking for the current one
(kairos.booking_client: `GET /v1/bookings/{id}/manage-token`) when it builds a message,
so an e-mail carries the token of the moment and a token revoked since (`POST
…/manage-token`) no longer opens anything, though older e-mails still show it. The
token rides in the URL's fragment, which browsers never send to a server: it stays
out of the web server's and the gateway's access logs. A specialist signs in, so
their links carry no credential.
"""

from __future__ import annotations

from urllib.parse import quote
from uuid import UUID

from kairos.booking_client import BookingClient
from notifications.appointment import Links


class BookingLinks:
    """The `LinkIssuer` of the running service."""

    def __init__(self, booking: BookingClient, public_url: str) -> None:
        self._booking = booking
        self._public = public_url.rstrip("/")

    def links_for(self, booking_id: UUID, recipient: str) -> Links:
        page = f"{self._public}/bookings/{booking_id}"
        if recipient != "client":
            return Links(manage=page, join=f"{page}/join")
        fragment = f"#token={quote(self._booking.manage_token(booking_id), safe='')}"
        return Links(manage=page + fragment, join=f"{page}/join{fragment}")
