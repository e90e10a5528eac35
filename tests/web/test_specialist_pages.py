"""A specialist's side in Chromium: sign-in with the e-mailed link (a reused or expired
link is refused), the dashboard that shows a booking made on the public page without a
reload, approving and declining (the client gets the matching e-mail), marking started
consultations completed or the client a no-show, the schedule and services editors
changing the public page's slots (with a preview before saving), and another
specialist's data out of reach."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis
from playwright.sync_api import BrowserContext, Locator, Page, expect

from booking.sign_in import code_key
from kairos_dev.infra.process import wait_until
from kairos_dev.testing.web_stack import Offering, WebStack, answered
from tests.web.pages import check_page

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

LINK = re.compile(r"https?://[^\s\"<>]+/sign-in/verify#code=[A-Za-z0-9_-]+")


def mails_to(admin: httpx.Client, address: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = admin.get("/dev/mail/messages").json()["messages"]
    return [m for m in messages if address in m["to"]]


def signed_in_link(page: Page, admin: httpx.Client, email: str) -> str:
    """Ask for a link on /sign-in and read it from the mail viewer's API."""
    before = len(mails_to(admin, email))
    page.goto("/sign-in")
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Send me a sign-in link").click()
    expect(page.get_by_role("status")).to_contain_text("a sign-in link is on its way")
    wait_until(lambda: len(mails_to(admin, email)) > before, what="the sign-in mail", timeout=10)
    found = LINK.search(mails_to(admin, email)[0]["text"])
    assert found, mails_to(admin, email)[0]["text"]
    return found[0]


def sign_in(page: Page, admin: httpx.Client, email: str) -> None:
    page.goto(signed_in_link(page, admin, email))
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", name=re.compile("^Consultations of"))).to_be_visible()


def book_on_public_page(context: BrowserContext, offering: Offering, client: str) -> str:
    """A client books the first free time on the public booking page; the booking's id."""
    page = context.new_page()
    page.goto(f"/book/{offering.specialist_id}")
    page.locator("button.slot").first.click()
    page.get_by_label("Name").fill(client)
    page.get_by_label("E-mail").fill(f"{client.split()[0].lower()}@example.com")
    page.get_by_role("button", name="Book this time").click()
    expect(page).to_have_url(re.compile(r"/bookings/[0-9a-f-]+/confirmation$"))
    booking_id = page.url.rsplit("/", 2)[-2]
    page.close()
    return booking_id


def first_slots(admin: httpx.Client, service_id: str, day: str) -> list[str]:
    query = {"service_id": service_id, "from": day, "to": day, "timezone": "UTC"}
    return [s["start"] for s in answered(admin.get("/v1/slots", params=query))["slots"]]


def test_the_emailed_link_signs_in_once_and_a_reload_keeps_the_session(
    page: Page, offering: Callable[..., Offering], admin: httpx.Client
) -> None:
    ada = offering()
    email = ada.email
    page.goto("/sign-in")
    check_page(page, "specialist-sign-in")
    link = signed_in_link(page, admin, email)
    assert "?code" not in link  # the fragment: never sent to a server
    page.goto(link)
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    assert "code=" not in page.url
    page.reload()
    expect(
        page.get_by_role("heading", name=f"Consultations of {ada.specialist_name}")
    ).to_be_visible()
    check_page(page, "specialist-dashboard")

    # Signed out, the same link again: refused in words, with a way to a new one.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    page.goto(link)
    expect(page.get_by_role("alert")).to_contain_text("already been used or has expired")
    check_page(page, "specialist-sign-in-refused")
    page.goto("/dashboard")
    expect(page.get_by_text("Sign in to see this page.")).to_be_visible()

    # An address that is no specialist's gets the same answer, and no mail.
    page.goto("/sign-in")
    page.get_by_label("E-mail").fill("nobody-here@example.com")
    page.get_by_role("button", name="Send me a sign-in link").click()
    expect(page.get_by_role("status")).to_contain_text("a sign-in link is on its way")
    assert mails_to(admin, "nobody-here@example.com") == []


def test_an_expired_link_is_refused(
    page: Page, offering: Callable[..., Offering], admin: httpx.Client, redis_url: str
) -> None:
    ada = offering()
    link = signed_in_link(page, admin, ada.email)
    # The stack runs on the real clock: the stored code's 15 minutes are made to have
    # passed instead, as the service would find them a quarter of an hour later.
    key = code_key(link.rsplit("#code=", 1)[1])
    with redis.Redis.from_url(redis_url) as store:
        stored = store.get(key)
        assert stored is not None
        entry = json.loads(stored)
        entry["expires_at"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        store.set(key, json.dumps(entry), keepttl=True)

    page.goto(link)

    expect(page.get_by_role("alert")).to_contain_text("already been used or has expired")
    page.goto("/dashboard")
    expect(page.get_by_text("Sign in to see this page.")).to_be_visible()


def test_bookings_arrive_live_and_are_approved_or_declined(
    new_context: Callable[..., BrowserContext],
    offering: Callable[..., Offering],
    admin: httpx.Client,
) -> None:
    ada = offering(requires_approval=True)
    specialist = new_context().new_page()
    sign_in(specialist, admin, ada.email)
    expect(specialist.get_by_text("No upcoming consultations.")).to_be_visible()

    clients = new_context()
    first = book_on_public_page(clients, ada, "Bo Client")
    second = book_on_public_page(clients, ada, "Cy Client")
    # No reload: the dashboard polls for what changed.
    approve_card = specialist.locator(f'[data-booking="{first}"]')
    decline_card = specialist.locator(f'[data-booking="{second}"]')
    expect(approve_card).to_contain_text("Bo Client")
    expect(decline_card).to_contain_text("Cy Client")
    expect(approve_card).to_contain_text("Waiting for approval")
    check_page(specialist, "specialist-dashboard-pending")

    approve_card.get_by_role("button", name="Approve").click()
    expect(approve_card).to_contain_text("Confirmed")
    decline_card.get_by_role("button", name="Decline").click()
    decline_card.get_by_label("Reason for the client (optional)").fill("I am away that week")
    decline_card.get_by_role("button", name="Decline request").click()
    expect(decline_card).to_have_count(0)  # declined ones leave the dashboard
    assert answered(admin.get(f"/v1/bookings/{first}"))["status"] == "confirmed"
    assert answered(admin.get(f"/v1/bookings/{second}"))["status"] == "declined"

    def subjects(address: str) -> list[str]:
        return [m["subject"] for m in mails_to(admin, address)]

    wait_until(lambda: len(subjects("cy@example.com")) >= 2, what="Cy's decline e-mail", timeout=20)
    declined = next(
        m for m in mails_to(admin, "cy@example.com") if "declin" in m["subject"].lower()
    )
    assert "I am away that week" in declined["text"]
    wait_until(
        lambda: any("confirm" in s.lower() for s in subjects("bo@example.com")),
        what="Bo's confirmation e-mail",
        timeout=20,
    )


def starting_soon(admin: httpx.Client, offering: Offering) -> str:
    """A confirmed booking of `offering` (UTC, no notice) starting at the next whole
    minute at least 20 s away: today's only hours begin then. Its id."""
    now = datetime.now(UTC)
    if now.hour == 23 and now.minute >= 57:  # today's hours could not begin in time
        time.sleep((60 - now.minute) * 60 - now.second + 1)
        now = datetime.now(UTC)
    start = (now + timedelta(seconds=80)).replace(second=0, microsecond=0)
    hours = {"windows": [{"start": f"{start:%H:%M}", "end": "24:00"}]}
    path = f"/v1/specialists/{offering.specialist_id}/overrides/{start.date()}"
    answered(admin.put(path, json=hours))
    body = {
        "service_id": offering.service_id,
        "starts_at": start.isoformat().replace("+00:00", "Z"),
        "client": {"name": "Ed Client", "email": "ed@example.com", "timezone": "UTC"},
        "answers": {"reason": "A sore back"},
    }
    booked = answered(admin.post("/v1/bookings", json=body), 201)
    assert booked["status"] == "confirmed", booked
    return str(booked["id"])


def test_a_started_consultation_is_marked_completed_and_another_a_no_show(
    new_context: Callable[..., BrowserContext],
    offering: Callable[..., Offering],
    admin: httpx.Client,
) -> None:
    question = {"key": "reason", "label": "What brings you here?", "type": "text", "required": True}
    ada, bea = (
        offering(timezone="UTC", minimum_notice_minutes=0, questions=[question]) for _ in range(2)
    )
    held, missed = starting_soon(admin, ada), starting_soon(admin, bea)
    pages = {}
    for who, booking in ((ada, held), (bea, missed)):
        pages[booking] = new_context().new_page()
        sign_in(pages[booking], admin, who.email)
    held_card = pages[held].locator(f'[data-booking="{held}"]')
    missed_card = pages[missed].locator(f'[data-booking="{missed}"]')
    expect(held_card).to_contain_text("Confirmed")
    expect(held_card.locator("dl.answers")).to_contain_text("What brings you here?A sore back")
    # Before the start (its waiting room is open): joining, but no outcome yet.
    expect(held_card.get_by_role("button", name="Join as host")).to_be_visible()
    expect(held_card.get_by_role("button", name="Mark completed")).to_have_count(0)

    # Once started (the dashboard's clock ticks every 15 s): the outcomes are offered.
    started = {"timeout": 120_000}
    held_card.get_by_role("button", name="Mark completed").click(**started)
    expect(held_card).to_contain_text("Completed")
    assert answered(admin.get(f"/v1/bookings/{held}"))["status"] == "completed"
    # Notes, after the session.
    held_card.locator("summary", has_text="Notes").click()
    held_card.get_by_label("Notes").fill("Stretches twice a day.")
    held_card.get_by_role("button", name="Save notes").click()
    expect(held_card.get_by_text("Notes saved.")).to_be_visible()

    # The client never came: the video service suggests the no-show, and it is marked.
    expect(missed_card.get_by_role("status")).to_contain_text(
        "suggests the client did not show up", **started
    )
    check_page(pages[missed], "specialist-dashboard-no-show-suggested")
    missed_card.get_by_role("button", name="Client did not show").click()
    expect(missed_card).to_contain_text("Missed")
    booking = answered(admin.get(f"/v1/bookings/{missed}"))
    assert booking["status"] == "no_show", booking

    # The history: filtered by client and status, with the duration, recording and notes.
    history = pages[held]
    history.get_by_role("link", name="History", exact=True).click()
    history.get_by_label("Client e-mail").fill("ed@example.com")
    history.get_by_label("Status").select_option(label="Completed")
    history.get_by_role("button", name="Show").click()
    row = history.locator(f'.history [data-booking="{held}"]')
    expect(history.locator(".history > li")).to_have_count(1)
    expect(row).to_contain_text("30 min booked")
    row.get_by_role("button", name="Recording and notes").click()
    expect(row.locator("dl.times")).to_contain_text("Not held")  # nobody joined the call
    expect(row.locator("dl.times")).to_contain_text("Stretches twice a day.")
    check_page(history, "specialist-history-filtered")
    history.get_by_label("Status").select_option(label="Missed")
    history.get_by_role("button", name="Show").click()
    expect(history.get_by_text("No consultations match.")).to_be_visible()  # Bea's, not Ada's


def test_weekly_hours_and_a_day_off_change_the_public_slots(
    page: Page, offering: Callable[..., Offering], admin: httpx.Client
) -> None:
    ada = offering(timezone="UTC", minimum_notice_minutes=0)
    sign_in(page, admin, ada.email)
    page.get_by_role("link", name="Schedule").click()
    expect(page.get_by_role("heading", name="Schedule")).to_be_visible()
    check_page(page, "specialist-schedule")

    weekly = page.locator("form[aria-labelledby=weekly-title]")
    preview = page.locator("section[aria-labelledby=preview-title]")
    # Round the clock: the preview offers evening times too.
    expect(preview.locator("li").filter(has_text="20:00").first).to_be_visible()

    # Every day 09:00 to 12:00 only: the preview shows it before anything is saved.
    for day in range(7):
        name = page.locator("fieldset.weekday legend").nth(day).inner_text()
        page.get_by_label(f"{name}, window 1: from").fill("09:00")
        page.get_by_label(f"{name}, window 1: until").fill("12:00")

    def mornings_only() -> bool:
        times = [text[-5:] for text in preview.locator("li").all_inner_texts()]
        # Six whole days of three slots, and what is left of today's.
        return len(times) >= 18 and set(times) <= {"09:00", "10:00", "11:00"}

    wait_until(mornings_only, what="a preview of the mornings only", timeout=10)
    saved = answered(admin.get(f"/v1/specialists/{ada.specialist_id}"))
    assert saved["weekly"][0] == {"day": 0, "start": "00:00", "end": "24:00"}  # not yet
    check_page(page, "specialist-schedule-preview")

    # Monday with a bad (inverted) window: refused with the API's message, in the preview
    # already and again on saving.
    monday = page.locator("fieldset.weekday legend").nth(0).inner_text()
    page.get_by_label(f"{monday}, window 1: until").fill("08:00")
    api_says = admin.put(
        f"/v1/specialists/{ada.specialist_id}/schedule",
        json={"weekly": [{"day": 0, "start": "09:00", "end": "08:00"}]},
    ).json()["error"]["message"]
    expect(preview.get_by_role("alert")).to_contain_text(api_says)
    page.get_by_role("button", name="Save weekly hours").click()
    expect(weekly.get_by_role("alert")).to_contain_text(api_says)
    page.get_by_label(f"{monday}, window 1: until").fill("12:00")
    page.get_by_role("button", name="Save weekly hours").click()
    expect(page.get_by_text("Saved. Clients now see the new hours.")).to_be_visible()

    day = _tomorrow()
    morning = [f"{day}T{hour}:00:00Z" for hour in ("09", "10", "11")]
    wait_until(
        lambda: first_slots(admin, ada.service_id, day) == morning,
        what="only the morning offered",
        timeout=10,
    )

    # A day off tomorrow: no slots on the public page that day.
    page.get_by_label("Date", exact=True).fill(day)
    page.get_by_role("radio", name="Day off").check()
    page.get_by_role("button", name="Save this date").click()
    expect(
        page.get_by_role("button", name=re.compile("^Back to the weekly hours on"))
    ).to_be_visible()
    check_page(page, "specialist-schedule-day-off")
    # The month view marks it (tomorrow may be in the month after the one shown first).
    overrides = page.locator("section[aria-labelledby=overrides-title]")
    if day[:7] != datetime.now(UTC).date().isoformat()[:7]:
        overrides.get_by_role("button", name="Next month").click()
    marked = overrides.locator("table.overrides-month td.off button")
    expect(marked).to_have_text(str(int(day[8:])))
    expect(marked).to_have_accessible_name(re.compile(r": Day off$"))
    wait_until(
        lambda: first_slots(admin, ada.service_id, day) == [], what="the day off", timeout=10
    )
    public = page.context.new_page()
    public.goto(f"/book/{ada.specialist_id}")
    after = (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()
    if after[:7] == day[:7]:  # both in the month the page opens on
        free = re.compile(r"\bfree\b")
        expect(public.locator(f'button.day[data-date="{after}"]')).to_have_class(free)
        expect(public.locator(f'button.day[data-date="{day}"]')).not_to_have_class(free)
    public.close()


def test_a_services_duration_and_buffers_change_the_slots(
    page: Page, offering: Callable[..., Offering], admin: httpx.Client
) -> None:
    ada = offering(timezone="UTC", minimum_notice_minutes=0, slot_interval_minutes=None)
    answered(
        admin.put(
            f"/v1/specialists/{ada.specialist_id}/schedule",
            json={"weekly": [{"day": d, "start": "09:00", "end": "12:00"} for d in range(7)]},
        )
    )
    day = _tomorrow()
    wait_until(lambda: len(first_slots(admin, ada.service_id, day)) == 6, what="30-minute slots")
    sign_in(page, admin, ada.email)
    page.get_by_role("link", name="Services").click()
    form = page.locator("form.service-form").first
    form.get_by_label("Duration (minutes)").fill("60")
    form.get_by_label("Buffer after (minutes)").fill("30")
    form.get_by_role("button", name=re.compile("^Save")).click()
    expect(form.get_by_text("Saved.")).to_be_visible()
    check_page(page, "specialist-services")
    # Three hours of one-hour consultations with half an hour's buffer after: fewer starts
    # than the six of 30 minutes.
    wait_until(
        lambda: len(first_slots(admin, ada.service_id, day)) < 6,
        what="fewer, longer slots",
        timeout=10,
    )
    service = answered(admin.get(f"/v1/services/{ada.service_id}"))
    assert (service["duration_minutes"], service["buffer_after_minutes"]) == (60, 30)

    # A value the API refuses is shown next to its field.
    form.get_by_label("Duration (minutes)").fill("1")
    form.get_by_role("button", name=re.compile("^Save")).click()
    expect(form.locator(".field .error")).to_be_visible()


def test_history_and_calendars_pages_and_another_specialists_data_out_of_reach(
    page: Page,
    offering: Callable[..., Offering],
    admin: httpx.Client,
    new_context: Callable[..., BrowserContext],
) -> None:
    ada, bea = offering(), offering()
    theirs = book_on_public_page(new_context(), bea, "Di Client")
    sign_in(page, admin, ada.email)
    for name, heading in (
        ("History", "History"),
        ("Calendars", "Calendars"),
        ("Schedule", "Schedule"),
    ):
        page.get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        check_page(page, f"specialist-{name.lower()}")

    # The pages only ever ask for Ada's own data; guessing Bea's is refused by the API.
    refused = page.evaluate(
        """async ([other, booking]) => {
            const { token } = JSON.parse(localStorage.getItem("kairos.specialist-session"));
            const get = (path) => fetch(path, { headers: { Authorization: `Bearer ${token}` } })
                .then((r) => r.status);
            return [
                await get(`/v1/bookings?specialist_id=${other}`),
                await get(`/v1/bookings/${booking}`),
                await get(`/v1/bookings/${booking}/session`),
                await get(`/v1/specialists/${other}/calendars`),
            ];
        }""",
        [bea.specialist_id, theirs],
    )
    assert refused == [403, 403, 403, 403]
    # Nor does a page show it: a booking's page needs the client's link.
    page.goto(f"/bookings/{theirs}")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_text("Di Client")).to_have_count(0)


def test_connecting_google_returns_to_the_calendars_page_with_the_connection(
    page: Page, offering: Callable[..., Offering], admin: httpx.Client, stack: WebStack
) -> None:
    ada = offering()
    owner = f"ada-{ada.specialist_id[:8]}@gmail.example"
    told = httpx.post(f"{stack.google_url}/_fake/next-user", params={"user": owner})
    assert told.status_code == 204, told.text
    sign_in(page, admin, ada.email)
    page.get_by_role("link", name="Calendars", exact=True).click()
    expect(page.get_by_text("No calendar is connected.")).to_be_visible()

    # The fake's consent approves at once and sends the browser to the callback.
    page.get_by_role("button", name="Connect Google").click()

    expect(page).to_have_url(re.compile(r"/calendars\?connected=[0-9a-f-]+$"))
    expect(page.get_by_role("status").filter(has_text="Connected Google")).to_be_visible()
    card = page.locator(".card").filter(has_text=owner)
    expect(card).to_contain_text("Connected")
    # The calendar is read after the answer; the page asks again until it has been.
    expect(card).to_contain_text("last synced", timeout=15_000)
    check_page(page, "specialist-calendars-connected")
    listed = answered(admin.get(f"/v1/specialists/{ada.specialist_id}/calendars"))
    assert [c["account"] for c in listed["calendars"]] == [owner]

    # A consent that fails (here: declined, for a state this browser never started)
    # comes back to the page with the reason.
    page.goto("/v1/calendars/google/callback?state=forged&error=access_denied")
    expect(page).to_have_url(re.compile(r"/calendars\?failed=invalid_state$"))
    expect(page.get_by_role("alert")).to_contain_text("The calendar was not connected")
    check_page(page, "specialist-calendars-failed")


def test_the_specialist_pages_work_by_keyboard(
    page: Page, offering: Callable[..., Offering], admin: httpx.Client
) -> None:
    ada = offering()
    page.goto("/sign-in")
    email = page.get_by_label("E-mail")
    expect(email).to_be_visible()  # the page's code has loaded
    for _ in range(15):  # the skip link, the top navigation, then the form
        page.keyboard.press("Tab")
        if email.evaluate("(input) => input === document.activeElement"):
            break
    expect(email).to_be_focused()
    page.keyboard.type(ada.email)
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("a sign-in link is on its way")

    # Signed in: the top navigation leads to the schedule, whose hours take typing and
    # whose buttons take Enter.
    sign_in(page, admin, ada.email)
    tab_to(page, page.get_by_role("link", name="Schedule", exact=True))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Schedule", exact=True)).to_be_visible()
    monday = page.locator("fieldset.weekday legend").nth(0).inner_text()
    until = page.get_by_label(f"{monday}, window 1: until")
    tab_to(page, until)
    page.keyboard.press("Control+A")
    page.keyboard.type("12:00")
    tab_to(page, page.get_by_role("button", name="Save weekly hours"))
    page.keyboard.press("Enter")
    expect(page.get_by_text("Saved. Clients now see the new hours.")).to_be_visible()
    saved = answered(admin.get(f"/v1/specialists/{ada.specialist_id}"))
    assert saved["weekly"][0] == {"day": 0, "start": "00:00", "end": "12:00"}


def tab_to(page: Page, target: Locator, presses: int = 80) -> None:
    """Press Tab until `target` has the focus (it must get it within `presses`)."""
    for _ in range(presses):
        if target.evaluate("(element) => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    expect(target).to_be_focused()


def _tomorrow() -> str:
    return (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
