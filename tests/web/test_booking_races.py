"""Two people after one slot, and one person clicking twice: one booking each time."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.web.conftest import Offering

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]


def fill_booking(page: Page, offering: Offering, start: str | None, name: str) -> str:
    """Open the booking page, pick `start` (default: the first time shown) and fill in the
    client's details; the start picked."""
    page.goto(f"/book/{offering.specialist_id}")
    slot = page.locator(f'button.slot[data-start="{start}"]' if start else "button.slot").first
    start = slot.get_attribute("data-start") or ""
    slot.click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("E-mail").fill(f"{name.lower().replace(' ', '.')}@example.com")
    return start


def bookings_of(admin: httpx.Client, offering: Offering) -> list[dict[str, object]]:
    listed = admin.get("/v1/bookings", params={"specialist_id": offering.specialist_id})
    assert listed.status_code == 200, listed.text
    bookings: list[dict[str, object]] = listed.json()["bookings"]
    return bookings


def test_two_clients_race_for_one_slot_and_the_second_is_shown_fresh_slots(
    new_context: Callable[..., BrowserContext],
    offering: Callable[..., Offering],
    admin: httpx.Client,
) -> None:
    ada = offering()
    first, second = new_context().new_page(), new_context().new_page()
    start = fill_booking(first, ada, None, "Bo First")
    fill_booking(second, ada, start, "Cy Second")

    first.get_by_role("button", name="Book this time").click()
    expect(first.get_by_role("heading", name="Booked")).to_be_visible()
    second.get_by_role("button", name="Book this time").click()

    expect(second.get_by_role("alert")).to_contain_text("Someone else has just booked this time")
    # Fresh slots, without the one just taken, and the form gone with the stale choice.
    expect(second.locator("button.slot").first).to_be_visible()
    expect(second.locator(f'button.slot[data-start="{start}"]')).to_have_count(0)
    expect(second.get_by_role("button", name="Book this time")).to_have_count(0)
    [booking] = bookings_of(admin, ada)
    assert (booking["starts_at"], booking["client_name"]) == (start, "Bo First")


def test_a_double_click_books_once(
    page: Page, offering: Callable[..., Offering], admin: httpx.Client
) -> None:
    ada = offering()
    fill_booking(page, ada, None, "Di Double")
    requests: list[str] = []
    page.on(
        "request",
        lambda request: (
            requests.append(request.headers.get("idempotency-key", ""))
            if request.method == "POST" and request.url.endswith("/v1/bookings")
            else None
        ),
    )
    page.get_by_role("button", name="Book this time").dblclick()
    expect(page.get_by_role("heading", name="Booked")).to_be_visible()
    assert len(bookings_of(admin, ada)) == 1
    assert requests and all(key and key == requests[0] for key in requests)
