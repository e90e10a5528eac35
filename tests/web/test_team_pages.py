"""Teams and webhooks in Chromium: a client books a team (round-robin: told the member
they got; collective: every member), and an admin signs in with the admin key, forms a
team with a service, reassigns a round-robin booking (refused while the member is
busy), registers a webhook at the dev receiver, watches its delivery arrive and sends
it again. Every page at 1280 and 375 px with axe-core; the admin's forms by keyboard."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from kairos_dev.infra.process import wait_until
from kairos_dev.testing.services import TEST_SECRETS
from kairos_dev.testing.web_stack import Offering, WebStack, answered, offer
from tests.web.pages import check_page, tab_to

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

ADMIN_KEY = TEST_SECRETS["ADMIN_API_KEY"]


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    members: list[Offering]
    #: The team's services by assignment.
    services: dict[str, str]


def team_of(admin: httpx.Client, size: int, *assignments: str) -> Team:
    """A team of `size` specialists working round the clock, with a service per
    assignment ("Round robin" or "Collective"), returned once the slots API offers each."""
    members = [offer(admin) for _ in range(size)]
    name = f"Partners {uuid4().hex[:6]}"
    body = {"name": name, "members": [{"specialist_id": m.specialist_id} for m in members]}
    team = answered(admin.post("/v1/teams", json=body), 201)["id"]
    services = {}
    for assignment in assignments:
        service = {
            "team_id": team,
            "assignment": assignment,
            "name": assignment.replace("_", " ").capitalize(),
            "duration_minutes": 30,
            "slot_interval_minutes": 60,
            "minimum_notice_minutes": 120,
        }
        services[assignment] = answered(admin.post("/v1/services", json=service), 201)["id"]
        wait_for_slots(admin, services[assignment])
    return Team(team, name, members, services)


def wait_for_slots(admin: httpx.Client, service_id: str) -> None:
    today = datetime.now(UTC).date()
    query = {"service_id": service_id, "from": today.isoformat(), "to": str(today + timedelta(7))}
    wait_until(
        lambda: bool(admin.get("/v1/slots", params=query).json().get("slots")),
        what="the team service's slots are offered",
        timeout=30,
        interval=0.1,
    )


def book_first_slot(page: Page, name: str) -> dict[str, Any]:
    """Books the first time shown; returns the booking id and the time's UTC start."""
    slot = page.locator("button.slot").first
    start = slot.get_attribute("data-start")
    slot.click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("E-mail").fill(f"{name.split()[0].lower()}@example.com")
    page.get_by_role("button", name="Book this time").click()
    expect(page.get_by_role("heading", name="Booked")).to_be_visible()
    return {"id": page.url.rsplit("/", 2)[-2], "start": start}


def test_a_client_books_a_team_and_is_told_who_they_got(page: Page, admin: httpx.Client) -> None:
    team = team_of(admin, 2, "round_robin", "collective")
    names = {m.specialist_id: m.specialist_name for m in team.members}
    first, second = (m.specialist_name for m in team.members)

    page.goto("/")
    page.get_by_role("link", name=f"Book with {team.name}").click()
    expect(page).to_have_url(re.compile(f"/teams/{team.id}$"))
    expect(page.get_by_role("heading", name=f"Book with the team {team.name}")).to_be_visible()
    expect(page.get_by_text(f"Members: {first} and {second}")).to_be_visible()
    page.get_by_role("radio", name=re.compile("^Round robin")).check()
    expect(page.get_by_text("Whoever of the team is free")).to_be_visible()
    expect(page.locator("button.slot").first).to_be_visible()
    check_page(page, "team-booking")

    booked = book_first_slot(page, "Rob Robin")
    stored = answered(admin.get(f"/v1/bookings/{booked['id']}"))
    assert stored["team_id"] == team.id and stored["specialist_id"] in names
    expect(page.locator(".assigned")).to_have_text(
        f"Your specialist: {names[stored['specialist_id']]}"
    )
    check_page(page, "team-confirmation-round-robin")

    page.goto(f"/teams/{team.id}?service={team.services['collective']}")
    expect(page.get_by_role("radio", name=re.compile("^Collective"))).to_be_checked()
    expect(page.locator("button.slot").first).to_be_visible()
    booked = book_first_slot(page, "Col Lective")
    expect(page.locator(".assigned")).to_have_text(f"With the whole team: {first} and {second}")
    stored = answered(admin.get(f"/v1/bookings/{booked['id']}"))
    assert stored["specialist_ids"] == [m.specialist_id for m in team.members]
    check_page(page, "team-confirmation-collective")


def sign_in_as_admin(page: Page, key: str = ADMIN_KEY) -> None:
    page.goto("/admin/sign-in")
    page.get_by_label("Admin API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def test_an_admin_forms_a_team_with_a_service_and_reassigns_its_booking(
    page: Page, admin: httpx.Client
) -> None:
    members = [offer(admin) for _ in range(3)]
    page.goto("/admin/teams")
    expect(page.get_by_text("Sign in as an admin to see this page.")).to_be_visible()
    sign_in_as_admin(page, "not-the-admin-key-" + "x" * 20)
    expect(page.get_by_text("This key is not the admin key.")).to_be_visible()
    check_page(page, "admin-sign-in-refused")
    sign_in_as_admin(page)
    expect(page.get_by_role("heading", name="Teams", exact=True)).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Webhooks")).to_be_visible()
    # The key is this tab's alone: nowhere lasting, never in the address.
    assert page.evaluate("() => Object.keys(localStorage)") == []
    assert ADMIN_KEY not in page.url

    name = f"Counsel {uuid4().hex[:6]}"
    new_team = page.get_by_role("region", name="Create a team")
    new_team.get_by_label("Team name").fill(name)
    for i, member in enumerate(members, start=1):
        if i > 1:
            new_team.get_by_role("button", name="Add a member").click()
        new_team.get_by_role("combobox", name=f"Member {i}", exact=True).select_option(
            label=member.specialist_name
        )
    new_team.get_by_label("Member 1: weight").fill("2")
    new_team.get_by_role("button", name="Create team").click()
    panel = page.get_by_role("region", name=name, exact=True)
    expect(panel.get_by_text("Members:")).to_contain_text(members[2].specialist_name)
    team_id = next(t["id"] for t in answered(admin.get("/v1/teams"))["teams"] if t["name"] == name)
    stored = answered(admin.get(f"/v1/teams/{team_id}"))["members"]
    assert [(m["specialist_id"], m["weight"]) for m in stored] == [
        (members[0].specialist_id, 2), (members[1].specialist_id, 1), (members[2].specialist_id, 1)
    ]  # fmt: skip

    panel.get_by_label("Service name").fill("Second opinion")
    panel.get_by_label("Duration (minutes)").fill("30")
    panel.get_by_role("radio", name="Whoever of the team is free").check()
    panel.get_by_role("button", name="Create service").click()
    expect(panel.get_by_text("Second opinion created.")).to_be_visible()
    expect(panel.get_by_role("listitem").filter(has_text="Second opinion")).to_contain_text(
        "30 min · Whoever of the team is free"
    )
    check_page(page, "admin-teams")
    [service] = answered(admin.get(f"/v1/teams/{team_id}/profile"))["services"]
    wait_for_slots(admin, service["id"])

    # Two clients at one time hold two members; the third is free then.
    start = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    booked = [
        answered(admin.post("/v1/bookings", json=booking_body(service["id"], start, n)), 201)
        for n in range(2)
    ]
    names = {m.specialist_id: m.specialist_name for m in members}
    busy = names[booked[1]["specialist_id"]]
    free = next(n for i, n in names.items() if i not in {b["specialist_id"] for b in booked})
    page.reload()
    panel = page.get_by_role("region", name=name, exact=True)
    row = panel.locator(f'.reassign[data-booking="{booked[0]["id"]}"]')
    expect(row).to_contain_text(f"with {names[booked[0]['specialist_id']]}")
    target = row.get_by_role("combobox")
    target.select_option(label=busy)
    row.get_by_role("button", name="Reassign").click()
    expect(panel.get_by_role("alert")).to_have_text(f"{busy} is not free at that time.")
    check_page(page, "admin-teams-reassign-refused")
    target.select_option(label=free)
    row.get_by_role("button", name="Reassign").click()
    expect(panel.get_by_role("status").filter(has_text="Reassigned")).to_have_text(
        f"Reassigned to {free}."
    )
    moved = answered(admin.get(f"/v1/bookings/{booked[0]['id']}"))
    assert names[moved["specialist_id"]] == free

    page.get_by_role("button", name="Admin sign out").click()
    expect(nav.get_by_role("link", name="Teams")).to_have_count(0)
    assert page.evaluate("() => sessionStorage.getItem('kairos.admin-key')") is None


def booking_body(service_id: str, start: datetime, n: int) -> dict[str, Any]:
    client = {"name": f"Client {n}", "email": f"client{n}@example.com", "timezone": "UTC"}
    return {"service_id": service_id, "starts_at": start.isoformat(), "client": client}


def test_an_admin_registers_a_webhook_sees_a_delivery_and_sends_it_again(
    new_context: Callable[..., BrowserContext], admin: httpx.Client, stack: WebStack
) -> None:
    context = new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    admin.delete("/dev/webhooks/messages")
    # By keyboard: the sign-in, the way to the page, and the endpoint's form.
    page.goto("/admin/sign-in")
    expect(page.get_by_label("Admin API key")).to_be_visible()
    tab_to(page, "input[type=password]")
    page.keyboard.type(ADMIN_KEY)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Teams", exact=True)).to_be_visible()
    tab_to(page, 'a[href="/admin/webhooks"]')
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
    check_page(page, "admin-webhooks-empty")
    tab_to(page, "input[type=url]")
    page.keyboard.type(stack.webhook_sink_url)
    tab_to(page, "button[type=submit]")
    page.keyboard.press("Enter")

    expect(page.get_by_text("it will not be shown again")).to_be_visible()
    secret = page.get_by_label("Signing secret").input_value()
    assert secret
    tab_to(page, ".secret button")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Copied.")).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == secret
    check_page(page, "admin-webhooks-secret")
    page.reload()
    expect(page.get_by_role("heading", name=stack.webhook_sink_url, exact=True)).to_be_visible()
    assert secret not in page.content()  # shown once

    ada = offer(admin)
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    body = booking_body(ada.service_id, start + timedelta(hours=3), 0)
    answered(admin.post("/v1/bookings", json=body), 201)
    deliveries = page.get_by_role("region", name=f"Deliveries to {stack.webhook_sink_url}")

    def delivered(count: int) -> bool:
        deliveries.get_by_role("button", name="Refresh").click()
        page.wait_for_timeout(200)
        return deliveries.locator(".delivery-state", has_text="Delivered").count() >= count

    wait_until(lambda: delivered(1), what="a delivery shows as delivered", timeout=30, interval=0.5)
    first = deliveries.locator(".delivery").last  # the oldest: the booking's first event
    kind = first.locator("dd").first.inner_text()
    expect(first.locator(".delivery-attempts")).to_have_text("1")
    check_page(page, "admin-webhooks-deliveries")
    delivery_id = first.get_attribute("data-delivery")
    received = received_deliveries(admin, delivery_id)
    assert len(received) == 1 and received[0]["type"] == kind

    first.get_by_role("button", name=f"Re-send {kind}").click()
    expect(deliveries.get_by_text("Queued to be sent again.")).to_be_visible()
    wait_until(
        lambda: len(received_deliveries(admin, delivery_id)) == 2,
        what="the re-sent delivery arrives",
        timeout=30,
        interval=0.2,
    )

    page.get_by_role("button", name=f"Delete {stack.webhook_sink_url}").click()
    page.get_by_role("button", name=f"Delete {stack.webhook_sink_url}").click()
    expect(page.get_by_text("No endpoints registered.")).to_be_visible()
    assert answered(admin.get("/v1/webhooks/subscriptions"))["subscriptions"] == []


def received_deliveries(admin: httpx.Client, delivery_id: str | None) -> list[dict[str, Any]]:
    """What the dev receiver got with this Kairos-Delivery id."""
    messages = answered(admin.get("/dev/webhooks/messages"))["messages"]
    return [m for m in messages if m["delivery"] == delivery_id]
