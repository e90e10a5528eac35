"""The links in a booking's messages, from the booking service when messages are built.

A client manages and joins with their booking's manage token (API.md: no account). It
never travels on a topic: notifications asks booking for the current ones
(kairos.booking_client: `POST /v1/bookings/manage-tokens`, the tokens of a batch of
messages' bookings in one call) when it builds the messages, so an e-mail carries the
token of the moment and a token revoked since (`POST …/{id}/manage-token`) no longer
opens anything, though older e-mails still show it. The token rides in the URL's
fragment, which browsers never send to a server: it stays out of the web server's and
the gateway's access logs. A specialist signs in, so their links carry no credential.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote
from uuid import UUID

from kairos.booking_client import BookingClient
from notifications.appointment import Links


@dataclass(frozen=True)
class BookingTokenLinks:
    """The links of one batch: the clients' tokens as booking gave them."""

    public: str
    tokens: Mapping[UUID, str]

    def links_for(self, booking_id: UUID, recipient: str) -> Links:
        page = f"{self.public}/bookings/{booking_id}"
        if recipient != "client":
            return Links(manage=page, join=f"{page}/join")
        token = self.tokens.get(booking_id)
        if token is None:
            raise LookupError(f"booking {booking_id}: not known to the booking service")
        fragment = f"#token={quote(token, safe='')}"
        return Links(manage=page + fragment, join=f"{page}/join{fragment}")


class BookingLinks:
    """The `LinkIssuer` of the running service."""

    def __init__(self, booking: BookingClient, public_url: str) -> None:
        self._booking = booking
        self._public = public_url.rstrip("/")

    def links_of(self, wanted: Iterable[tuple[UUID, str]]) -> BookingTokenLinks:
        """One call to booking for the tokens of the clients among `wanted` (none when
        there is no client among them)."""
        clients = {booking_id for booking_id, recipient in wanted if recipient == "client"}
        return BookingTokenLinks(self._public, self._booking.manage_tokens(clients))

    def links_for(self, booking_id: UUID, recipient: str) -> Links:
        """One recipient's links (a request's, the invite.ics)."""
        return self.links_of([(booking_id, recipient)]).links_for(booking_id, recipient)
