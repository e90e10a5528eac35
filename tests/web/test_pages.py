"""Every page at desktop and 375 px (screenshots, axe-core, no sideways scroll) that the
journey does not already cover, its states included, and booking with the keyboard
alone."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect

from kairos_dev.testing.web_stack import Offering
from tests.web.pages import check_page, tab_to

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]


def test_the_list_the_embed_a_pending_request_and_unknown_pages(
    page: Page, offering: Callable[..., Offering]
) -> None:
    ada = offering(requires_approval=True)
    page.goto("/")
    expect(page.get_by_role("link", name=f"Book with {ada.specialist_name}")).to_be_visible()
    check_page(page, "specialists")

    # The snippet a firm pastes embeds the booking page with the specialist chosen.
    page.goto(f"/book/{ada.specialist_id}")
    page.get_by_text("Put this booking page on your site").click()
    snippet = page.get_by_label("Paste this code into your web page:").input_value()
    src = re.search(r'src="([^"]+)"', snippet)
    assert src and src.group(1).endswith(f"/embed/{ada.specialist_id}")
    page.set_content(snippet.replace(src.group(1), src.group(1)))  # the firm's own page
    frame = page.frame_locator("iframe")
    expect(frame.get_by_role("heading", name=f"Book with {ada.specialist_name}")).to_be_visible()
    expect(frame.get_by_role("navigation")).to_have_count(0)
    page.goto(f"/embed/{ada.specialist_id}")
    expect(page.locator("button.slot").first).to_be_visible()
    check_page(page, "embed")

    # A service needing approval: the confirmation says the request is pending.
    page.locator("button.slot").first.click()
    page.get_by_label("Name").fill("Pat Pending")
    page.get_by_label("E-mail").fill("pat@example.com")
    page.get_by_role("button", name="Book this time").click()
    expect(page.get_by_role("heading", name="Request sent")).to_be_visible()
    expect(page.get_by_text("Waiting for the specialist's approval")).to_be_visible()
    check_page(page, "confirmation-pending")

    page.goto("/no/such/page")
    expect(page.get_by_role("heading", name="This page does not exist.")).to_be_visible()
    check_page(page, "not-found")
    # A manage link without its key says what to do.
    page.goto("/bookings/00000000-0000-0000-0000-000000000000")
    expect(page.get_by_role("alert")).to_contain_text("missing its access key")
    check_page(page, "manage-without-token")


def test_a_month_without_free_time_says_so_and_offers_the_next_free_day(
    page: Page, offering: Callable[..., Offering]
) -> None:
    # Bookable only from the 1st of next month on (the notice reaches past this month).
    now = datetime.now(UTC)
    next_month = (now.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0)
    ada = offering(minimum_notice_minutes=int((next_month - now).total_seconds() // 60) + 1)
    page.goto(f"/book/{ada.specialist_id}")
    expect(page.get_by_text("No free time this month.")).to_be_visible()
    offer = page.get_by_role("button", name=re.compile("^Next free day:"))
    expect(offer).to_be_visible()
    check_page(page, "booking-empty-month")
    offer.click()
    expect(page.locator("button.slot").first).to_be_visible()
    first = page.locator("button.slot").first.get_attribute("data-start") or ""
    assert first.startswith(next_month.strftime("%Y-%m"))


def test_a_client_books_with_the_keyboard_alone(
    page: Page, offering: Callable[..., Offering], admin: httpx.Client
) -> None:
    ada = offering(questions=[{"key": "topic", "label": "Topic", "type": "text", "required": True}])
    page.goto(f"/book/{ada.specialist_id}")
    expect(page.locator("button.slot").first).to_be_visible()
    keyboard = page.keyboard

    tab_to(page, "button.day.free")  # the first day with free time
    keyboard.press("Enter")
    tab_to(page, "button.slot")
    start = page.evaluate("() => document.activeElement.dataset.start")
    keyboard.press("Enter")
    tab_to(page, "input[type=text][required]")  # the intake question
    keyboard.type("Knee pain")
    keyboard.press("Tab")
    keyboard.type("Kay Board")
    keyboard.press("Tab")
    keyboard.type("kay@example.com")
    tab_to(page, "button[type=submit]")
    keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Booked")).to_be_visible()
    booking_id = page.url.rsplit("/", 2)[-2]
    stored = admin.get(f"/v1/bookings/{booking_id}").json()
    assert (stored["starts_at"], stored["answers"]) == (start, {"topic": "Knee pain"})
    assert stored["client"]["name"] == "Kay Board"
