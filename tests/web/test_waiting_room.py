"""The waiting room: a countdown and a disabled "Enter room" before the window opens;
inside it, entering asks the video service for a token and starts the connection to the
LiveKit URL it gives. (The local LiveKit speaks only the server API, not a browser's
signalling, so the call itself stops at that connection attempt.)"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from kairos_dev.infra.process import wait_until
from kairos_dev.testing.web_stack import Offering, WebStack
from tests.web.pages import check_page

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]


def book(admin: httpx.Client, offering: Offering, starts_at: datetime) -> dict[str, Any]:
    response = admin.post(
        "/v1/bookings",
        json={
            "service_id": offering.service_id,
            "starts_at": starts_at.isoformat(),
            "client": {"name": "Bo Client", "email": "bo@example.com", "timezone": "UTC"},
        },
    )
    assert response.status_code == 201, response.text
    booking: dict[str, Any] = response.json()

    def session_known() -> bool:
        headers = {"Authorization": f"Bearer {booking['manage_token']}"}
        return admin.get(f"/v1/bookings/{booking['id']}/session", headers=headers).is_success

    wait_until(session_known, what="the video service knows the booking", timeout=30)
    return booking


def next_start(interval_minutes: int, after: timedelta) -> datetime:
    now = datetime.now(UTC).replace(second=0, microsecond=0) + after
    return now + timedelta(minutes=-now.minute % interval_minutes)


def test_before_the_window_the_room_counts_down_and_cannot_be_entered(
    page: Page, offering: Callable[..., Offering], admin: httpx.Client
) -> None:
    ada = offering(slot_interval_minutes=60)
    booking = book(admin, ada, next_start(60, timedelta(days=2)))

    page.goto(f"/bookings/{booking['id']}/join#token={booking['manage_token']}")
    expect(page.get_by_role("heading", name="Waiting room")).to_be_visible()
    assert "token" not in page.url
    expect(page.get_by_text(f"Consultation with {ada.specialist_name}")).to_be_visible()
    timer = page.get_by_role("timer")
    before = timer.inner_text()
    assert re.fullmatch(r"[12] d \d+ h \d+ min \d+ s", before), before  # ~2 days
    expect(timer).not_to_have_text(before)  # it counts down, live
    expect(page.get_by_role("button", name="Enter room")).to_be_disabled()

    page.get_by_role("button", name="Check camera and microphone").click()
    expect(page.get_by_text("Your camera and microphone work.")).to_be_visible()
    check_page(page, "waiting-room")


def test_inside_the_window_entering_requests_a_token_and_connects_to_livekit(
    page: Page, offering: Callable[..., Offering], admin: httpx.Client, stack: WebStack
) -> None:
    ada = offering(slot_interval_minutes=5, minimum_notice_minutes=0)
    booking = book(admin, ada, next_start(5, timedelta(minutes=5)))

    page.goto(f"/bookings/{booking['id']}/join#token={booking['manage_token']}")
    expect(page.get_by_text("The room is open.")).to_be_visible()
    enter = page.get_by_role("button", name="Enter room")
    expect(enter).to_be_enabled()
    check_page(page, "waiting-room-open")
    livekit = stack.livekit_url.replace("http://", "ws://")
    with (
        page.expect_response(re.compile(r"/v1/bookings/[^/]+/join$")) as joined,
        page.expect_websocket(lambda ws: ws.url.startswith(livekit)) as connecting,
    ):
        enter.click()
    grant = joined.value.json()
    assert joined.value.status == 200 and grant["role"] == "guest"
    assert grant["url"] == livekit  # the configured LiveKit, as a browser reaches it
    # The browser opened LiveKit's signalling socket with the token it was given.
    assert f"access_token={grant['token']}" in connecting.value.url
