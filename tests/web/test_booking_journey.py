"""A client's whole journey in Chromium: the list of specialists, the booking page in
another time zone, intake, booking, the confirmation (both zones, the .ics invite), the
manage page, rescheduling (the old time is offered again) and cancelling (the refund
policy shown first)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest
from playwright.sync_api import Page, expect

from kairos_dev.testing.web_stack import Offering
from tests.web.pages import check_page

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

QUESTIONS = [
    {"key": "reason", "label": "Reason for the visit", "type": "select", "required": True,
     "options": ["Check-up", "Follow-up"]},
    {"key": "details", "label": "Anything else?", "type": "textarea", "required": False},
]  # fmt: skip


def shown_slots(page: Page, day: str | None = None) -> dict[str, str]:
    """The day's slot buttons as {UTC start: the time they show}, of `day` (YYYY-MM-DD)
    once picked if given."""
    if day is not None:
        page.locator(f'button.day[data-date="{day}"]').click()
        heading = f"Free times on {date.fromisoformat(day):%A, %-d %B %Y}"
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    slots = page.locator("button.slot")
    expect(slots.first).to_be_visible()
    return {button.get_attribute("data-start") or "": button.inner_text() for button in slots.all()}


def local_time(start: str, zone: str) -> str:
    instant = datetime.fromisoformat(start.replace("Z", "+00:00"))
    return instant.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def test_a_client_books_reschedules_and_cancels_in_another_time_zone(
    page: Page, offering: Callable[..., Offering], admin: httpx.Client, tmp_path: Path
) -> None:
    # Every time offered is over a day ahead: a cancellation is refunded.
    ada = offering(questions=QUESTIONS, minimum_notice_minutes=26 * 60)

    page.goto("/")
    expect(page.get_by_role("heading", name="Book a consultation")).to_be_visible()
    page.get_by_role("link", name=f"Book with {ada.specialist_name}").click()
    expect(page).to_have_url(re.compile(f"/book/{ada.specialist_id}$"))
    expect(page.get_by_role("heading", name=f"Book with {ada.specialist_name}")).to_be_visible()
    page.get_by_label("24-hour clock").check()
    in_utc = shown_slots(page)
    assert all(text == local_time(start, "UTC") for start, text in in_utc.items())

    # The browser said UTC; the client lives in Kathmandu (+05:45).
    page.get_by_label("Time zone", exact=True).fill("Asia/Kathmandu")
    expect(page.get_by_text("GMT+5:45")).to_be_visible()
    expect(page.locator("button.slot").first).to_have_text(re.compile(r":(45|15)$"))
    in_kathmandu = shown_slots(page)
    same = set(in_utc) & set(in_kathmandu)
    assert same, "no slot of the UTC day is on the Kathmandu day"
    for start in same:
        assert in_kathmandu[start] == local_time(start, "Asia/Kathmandu")
        shifted = datetime.strptime(in_utc[start], "%H:%M") + timedelta(hours=5, minutes=45)
        assert in_kathmandu[start] == shifted.strftime("%H:%M")
    check_page(page, "booking")

    first = sorted(in_kathmandu)[0]
    page.locator(f'button.slot[data-start="{first}"]').click()
    page.get_by_label("Name").fill("Bo Client")
    page.get_by_label("E-mail").fill("bo@example.com")
    # A required question unanswered is refused next to it, before anything is sent.
    page.get_by_role("button", name="Book this time").click()
    expect(page.get_by_text("Please answer this question.")).to_be_visible()
    check_page(page, "booking-form-errors")
    page.get_by_label("Reason for the visit").select_option("Follow-up")
    page.get_by_label("Anything else?").fill("Bring the old results")
    page.get_by_role("button", name="Book this time").click()

    expect(page).to_have_url(re.compile(r"/bookings/[0-9a-f-]+/confirmation$"))
    booking_id = page.url.rsplit("/", 2)[-2]
    expect(page.get_by_role("heading", name="Booked")).to_be_visible()
    expect(page.get_by_text("Your time (Asia/Kathmandu)")).to_be_visible()
    expect(page.get_by_text(f"Specialist's time ({ada.timezone})")).to_be_visible()
    check_page(page, "confirmation")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download .ics file").click()
    ics = tmp_path / "invite.ics"
    download.value.save_as(ics)
    [event] = icalendar.Calendar.from_ical(ics.read_bytes()).walk("VEVENT")
    assert event.decoded("dtstart") == datetime.fromisoformat(first.replace("Z", "+00:00"))
    google = page.get_by_role("link", name="Google Calendar").get_attribute("href") or ""
    assert "token" not in google and "calendar.google.com" in google
    stored = admin.get(f"/v1/bookings/{booking_id}").json()
    assert stored["answers"] == {"reason": "Follow-up", "details": "Bring the old results"}
    assert stored["client"]["timezone"] == "Asia/Kathmandu"

    # The manage link carries the token in its fragment; the page keeps it out of the URL.
    page.get_by_role("link", name="Manage this booking").click()
    expect(page.get_by_role("heading", name="Your booking")).to_be_visible()
    assert "token" not in page.url
    expect(page.locator(".booking-status")).to_have_text("Confirmed")
    check_page(page, "manage")

    page.get_by_role("button", name="Reschedule").click()
    # Two days on, a day surely offered in full; a same-day move onto the slots that restart
    # after the booking is tests/booking/test_application.py's.
    new_start = next(iter(shown_slots(page, local_day(first, "Asia/Kathmandu", days=2))))
    page.locator(f'button.slot[data-start="{new_start}"]').click()
    page.get_by_role("button", name=re.compile("^Move to")).click()
    expect(page.get_by_text("Your booking has moved to the new time.")).to_be_visible()
    assert admin.get(f"/v1/bookings/{booking_id}").json()["starts_at"] == new_start
    manage_url = page.url

    # The old time is offered again on the booking page.
    page.goto(f"/book/{ada.specialist_id}")
    page.get_by_label("Time zone", exact=True).fill("Asia/Kathmandu")
    assert first in shown_slots(page, local_day(first, "Asia/Kathmandu"))

    page.goto(manage_url)
    page.get_by_role("button", name="Cancel booking").click()
    # More than 24 hours ahead: the policy says refunded, before anything is cancelled.
    expect(page.get_by_text("you will be refunded")).to_be_visible()
    assert admin.get(f"/v1/bookings/{booking_id}").json()["status"] == "confirmed"
    check_page(page, "manage-cancel")
    page.get_by_role("button", name="Yes, cancel").click()
    expect(page.get_by_text("Cancelled. You will be refunded.")).to_be_visible()
    expect(page.locator(".booking-status")).to_have_text("Cancelled")
    assert admin.get(f"/v1/bookings/{booking_id}").json()["status"] == "cancelled"


def local_day(start: str, zone: str, days: int = 0) -> str:
    instant = datetime.fromisoformat(start.replace("Z", "+00:00"))
    return (instant.astimezone(ZoneInfo(zone)).date() + timedelta(days=days)).isoformat()
