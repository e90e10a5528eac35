"""Deliveries end to end: booking events through the consumer's handler, the dispatcher
and the sender to a real HTTP receiver; signatures checked with the snippet docs/webhooks.md
gives receivers; retries, give-up and disabling on a clock the test moves."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from kairos.privacy import ERASED
from kairos_dev.fakes.tls import self_signed
from kairos_dev.fakes.webhook_sink import WebhookSink
from kairos_dev.fakes.webhook_sink import create_app as sink_app
from kairos_dev.testing.serving import serving
from tests.notifications.fakes import smtp_sink
from tests.webhooks.conftest import ADMIN, Hooks, Receiver
from webhooks.signing_secrets import TABLE

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verify() -> Callable[..., bool]:
    """The `verify` of docs/webhooks.md, run as a receiver would paste it."""
    [snippet] = re.findall(r"```python verify\n(.*?)```", DOCS.read_text(), re.S)
    namespace: dict[str, Any] = {}
    exec(compile(snippet, str(DOCS), "exec"), namespace)
    verify: Callable[..., bool] = namespace["verify"]
    return verify


def test_a_delivery_carries_the_event_signed_as_the_docs_say_and_the_snippet_verifies_it(
    hooks: Hooks, receiver: Receiver
) -> None:
    subscription = hooks.subscribe(receiver.url)
    booking = hooks.booking()
    confirmed = booking.confirmed()
    hooks.publish(confirmed)
    hooks.deliver()

    [got] = receiver.received()
    verify = documented_verify()
    assert got.signature is not None
    assert verify(subscription["secret"], got.signature, got.body)
    assert not verify(subscription["secret"], got.signature, got.body + b" ")
    assert not verify(subscription["secret"] + "x", got.signature, got.body)
    # An old timestamp is refused: a captured request cannot be replayed later.
    signed_at = int(re.findall(r"t=(\d+)", got.signature)[0])
    assert not verify(subscription["secret"], got.signature, got.body, now=signed_at + 301)

    [delivery] = hooks.deliveries(subscription["id"])
    assert got.delivery == delivery["id"]
    assert delivery | {"next_attempt_at": None} == delivery  # delivered: nothing next
    assert (delivery["state"], delivery["attempts"], delivery["last_status"]) == (
        "delivered",
        1,
        200,
    )
    event = json.loads(got.body)
    expected = confirmed.model_dump(mode="json")
    assert {k: v for k, v in event.items() if k != "data"} == {
        k: v for k, v in expected.items() if k != "data"
    }
    client = event["data"]["booking"]["client"]["contact"]
    assert client == {"name": "Ada Lovelace", "email": booking.email, "phone": "+441234567890"}
    # Health-related content never leaves by webhook.
    assert event["data"]["booking"]["answers"] == {"reason": None}
    assert b"migraine" not in got.body.lower()


def test_the_secret_is_shown_once_and_sealed_at_rest(hooks: Hooks, receiver: Receiver) -> None:
    subscription = hooks.subscribe(receiver.url, ["BookingCancelled", "NoShowMarked"])
    secret = subscription["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    listed = hooks.api.get("/v1/webhooks/subscriptions", headers=ADMIN).json()
    assert secret not in json.dumps(listed)
    assert listed["subscriptions"][0]["events"] == ["BookingCancelled", "NoShowMarked"]
    with psycopg.connect(hooks.database_url) as conn:
        dumped = conn.execute("SELECT string_agg(sealed::text, '') FROM " + TABLE).fetchone() or (
            "",
        )
        everything = conn.execute(
            "SELECT string_agg(t::text, '') FROM webhook_subscriptions t"
        ).fetchone() or ("",)
    assert secret.encode().hex() not in str(dumped[0]) and secret not in str(everything[0])


def test_only_the_subscribed_types_are_sent(hooks: Hooks, receiver: Receiver) -> None:
    subscription = hooks.subscribe(receiver.url, ["BookingCancelled"])
    booking = hooks.booking()
    hooks.publish(booking.confirmed(), booking.rescheduled(), booking.cancelled())
    hooks.deliver()
    assert [json.loads(r.body)["type"] for r in receiver.received()] == ["BookingCancelled"]
    assert [d["type"] for d in hooks.deliveries(subscription["id"])] == ["BookingCancelled"]


def test_an_event_handed_over_twice_is_delivered_once(hooks: Hooks, receiver: Receiver) -> None:
    hooks.subscribe(receiver.url)
    confirmed = hooks.booking().confirmed()
    hooks.publish(confirmed, confirmed)
    hooks.deliver()
    hooks.publish(confirmed)  # a republish from the event store, after delivery
    hooks.deliver()
    assert len(receiver.received()) == 1


def test_a_receiver_down_for_ten_minutes_gets_every_event_afterwards_in_order_per_booking(
    hooks: Hooks, receiver: Receiver
) -> None:
    subscription = hooks.subscribe(receiver.url)
    receiver.stop()
    bookings = [hooks.booking() for _ in range(4)]
    published = []
    for booking in bookings:  # interleaved, as the topic carries them
        published.append(booking.confirmed())
    for booking in bookings:
        published += [booking.rescheduled(), booking.cancelled()]
    hooks.publish(*published)

    down_until = hooks.clock() + timedelta(minutes=10)
    while hooks.clock() < down_until:
        hooks.deliver()
        hooks.clock.advance(timedelta(seconds=15))
    log = hooks.deliveries(subscription["id"])
    assert {d["state"] for d in log} == {"pending", "queued"}
    # One delivery per booking is being tried; the booking's later ones wait behind it.
    assert sorted(d["state"] for d in log).count("pending") == len(bookings)
    assert all(
        d["attempts"] >= 4 and d["last_status"] is None for d in log if d["state"] == "pending"
    )
    assert all(d["last_error"] for d in log if d["state"] == "pending")

    receiver.start()
    for _ in range(200):
        if len(receiver.received()) == len(published):
            break
        hooks.deliver()
        hooks.clock.advance(timedelta(seconds=30))
    got = receiver.received()
    assert len(got) == len(published)
    # None twice per delivery id, every event once, in order per booking.
    assert len({r.delivery for r in got}) == len(got)
    events = [json.loads(r.body) for r in got]
    assert sorted(e["event_id"] for e in events) == sorted(str(p.event_id) for p in published)
    for booking in bookings:
        mine = [e["notification_id"] for e in events if e["aggregate_id"] == str(booking.id)]
        assert mine == sorted(mine) and len(mine) == 3
    assert {d["state"] for d in hooks.deliveries(subscription["id"])} == {"delivered"}


def test_a_failing_endpoint_is_retried_with_backoff_then_given_up_and_disabled(
    hooks: Hooks, receiver: Receiver
) -> None:
    subscription = hooks.subscribe(receiver.url)
    receiver.sink.status = 503
    booking = hooks.booking()
    hooks.publish(booking.confirmed(), booking.cancelled())
    started = hooks.clock()
    attempts_at = []
    while hooks.clock() - started < timedelta(hours=80):
        before = len(receiver.received())
        hooks.deliver()
        if len(receiver.received()) > before:
            attempts_at.append(hooks.clock() - started)
        [first, _] = sorted(hooks.deliveries(subscription["id"]), key=lambda d: d["created_at"])
        if first["state"] == "pending" and first["attempts"]:
            assert first["last_status"] == 503
            assert first["next_attempt_at"] is not None
        hooks.clock.advance(timedelta(minutes=1))

    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts_at)]
    # Exponential: each gap (jitter: half to all of its step) grows until the 6 h cap.
    assert gaps[0] < timedelta(minutes=2)
    assert max(gaps) <= timedelta(hours=6, minutes=1)
    assert max(gaps) >= timedelta(hours=3)
    assert 15 <= len(attempts_at) <= 40
    assert timedelta(hours=72) <= attempts_at[-1] <= timedelta(hours=79)

    after = hooks.subscription(subscription["id"])
    assert after["state"] == "disabled" and after["disabled_at"] is not None
    log = hooks.deliveries(subscription["id"])
    assert {d["state"] for d in log} == {"failed"}
    # The booking's later event never overtook the first: it waited, then failed with it.
    assert len({json.loads(r.body)["type"] for r in receiver.received()}) == 1

    # A disabled endpoint gets no new deliveries, until it is enabled again.
    receiver.sink.status = 200
    hooks.publish(booking.no_show())
    hooks.deliver()
    assert len(hooks.deliveries(subscription["id"])) == 2
    enabled = hooks.api.post(
        f"/v1/webhooks/subscriptions/{subscription['id']}/enable", headers=ADMIN
    )
    assert enabled.status_code == 200 and enabled.json()["state"] == "active"
    hooks.publish(hooks.booking().confirmed())
    hooks.deliver()
    assert hooks.deliveries(subscription["id"])[0]["state"] == "delivered"


def test_a_delivery_failing_for_72_hours_is_given_up_and_the_bookings_next_one_goes(
    hooks_factory: Callable[..., Hooks], receiver: Receiver
) -> None:
    hooks = hooks_factory(webhook_disable_after_hours=1000)  # the endpoint is not disabled
    subscription = hooks.subscribe(receiver.url)
    receiver.sink.status = 500
    booking = hooks.booking()
    hooks.publish(booking.confirmed(), booking.cancelled())
    started = hooks.clock()
    while True:
        hooks.deliver()
        first, second = sorted(hooks.deliveries(subscription["id"]), key=lambda d: d["created_at"])
        if first["state"] != "pending":
            break
        assert second["state"] == "queued"
        hooks.clock.advance(timedelta(minutes=5))
    given_up_after = hooks.clock() - started
    assert timedelta(hours=72) <= given_up_after <= timedelta(hours=79)
    assert (first["state"], first["last_status"]) == ("failed", 500)
    assert second["state"] == "pending"  # started the moment the first was given up

    receiver.sink.status = 200
    hooks.clock.advance(timedelta(minutes=5))
    hooks.deliver()
    assert hooks.deliveries(subscription["id"])[0]["state"] == "delivered"
    assert json.loads(receiver.received()[-1].body)["type"] == "BookingCancelled"
    assert hooks.subscription(subscription["id"])["state"] == "active"


def test_resend_sends_the_same_delivery_again_and_an_erased_person_reads_erased(
    hooks: Hooks, receiver: Receiver
) -> None:
    subscription = hooks.subscribe(receiver.url)
    booking = hooks.booking()
    hooks.publish(booking.confirmed())
    hooks.deliver()
    [delivery] = hooks.deliveries(subscription["id"])

    hooks.keys.shred_subjects([booking.subject])  # the client is erased
    resent = hooks.api.post(f"/v1/webhooks/deliveries/{delivery['id']}/resend", headers=ADMIN)
    assert resent.status_code == 202, resent.text
    again = hooks.api.post(f"/v1/webhooks/deliveries/{delivery['id']}/resend", headers=ADMIN)
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state"
    hooks.deliver()

    first, second = receiver.received()
    assert first.delivery == second.delivery == delivery["id"]
    contact = json.loads(second.body)["data"]["booking"]["client"]["contact"]
    assert contact == {"name": ERASED, "email": ERASED, "phone": ERASED}
    assert booking.email.encode() not in second.body
    [after] = hooks.deliveries(subscription["id"])
    assert (after["state"], after["attempts"]) == ("delivered", 2)

    unknown = hooks.api.post(
        "/v1/webhooks/deliveries/00000000-0000-0000-0000-000000000000/resend", headers=ADMIN
    )
    assert unknown.status_code == 404


def test_deleting_a_subscription_stops_its_deliveries(hooks: Hooks, receiver: Receiver) -> None:
    subscription = hooks.subscribe(receiver.url)
    receiver.sink.status = 503
    hooks.publish(hooks.booking().confirmed())
    hooks.deliver()
    gone = hooks.api.delete(f"/v1/webhooks/subscriptions/{subscription['id']}", headers=ADMIN)
    assert gone.status_code == 204
    receiver.sink.status = 200
    hooks.clock.advance(timedelta(hours=1))
    hooks.deliver()
    assert len(receiver.received()) == 1
    listed = hooks.api.get(
        f"/v1/webhooks/subscriptions/{subscription['id']}/deliveries", headers=ADMIN
    )
    assert listed.status_code == 404


def test_the_operators_are_told_by_e_mail_once_when_an_endpoint_is_disabled(
    hooks_factory: Callable[..., Hooks], receiver: Receiver
) -> None:
    with smtp_sink() as mail:
        hooks = hooks_factory(
            webhook_disable_after_hours=1,
            webhook_ops_email="ops@firm.example",
            smtp_host="127.0.0.1",
            smtp_port=mail.port,
            smtp_security="none",
            mail_from="Kairos <no-reply@kairos.example>",
        )
        subscription = hooks.subscribe(receiver.url + "/token-abc123")
        receiver.sink.status = 503
        hooks.publish(*(hooks.booking().confirmed() for _ in range(3)))
        for _ in range(12):  # 2 hours
            hooks.deliver()
            hooks.clock.advance(timedelta(minutes=10))
        assert hooks.subscription(subscription["id"])["state"] == "disabled"

        [notice] = mail.messages("mail")
        assert notice["to"] == ["ops@firm.example"]
        assert f"127.0.0.1:{receiver.port}" in notice["subject"]
        assert subscription["id"] in notice["text"] and "/enable" in notice["text"]
        assert "token-abc123" not in json.dumps(notice)


def test_an_https_receiver_is_reached_at_the_checked_address_with_its_name_verified(
    hooks_factory: Callable[..., Hooks], tmp_path: Path
) -> None:
    """The connection goes to the address that was checked, while TLS still checks the
    certificate against the URL's host name (SNI): pinning the address costs no security."""
    certificate, key = self_signed(tmp_path)
    hooks = hooks_factory(webhook_require_https=True, webhook_ca_bundle=str(certificate))
    sink = WebhookSink()
    with serving(sink_app(sink), tls=(certificate, key)) as url:
        port = url.rsplit(":", 1)[1]
        by_name = hooks.subscribe(f"https://localhost:{port}/dev/webhooks/in")
        hooks.publish(hooks.booking().confirmed())
        hooks.deliver()
        [got] = sink.received.newest_first()
        assert got.delivery == hooks.deliveries(by_name["id"])[0]["id"]
        assert hooks.deliveries(by_name["id"])[0]["state"] == "delivered"

    # A certificate the trusted bundle does not vouch for is refused, address pinned or not.
    other, other_key = self_signed(tmp_path / "other")
    with serving(sink_app(WebhookSink()), tls=(other, other_key)) as url:
        port = url.rsplit(":", 1)[1]
        untrusted = hooks.subscribe(f"https://localhost:{port}/dev/webhooks/in")
        hooks.publish(hooks.booking().confirmed())
        hooks.deliver()
        [failed] = hooks.deliveries(untrusted["id"])
        assert failed["state"] == "pending" and "CERTIFICATE_VERIFY_FAILED" in failed["last_error"]


def test_a_delivery_whose_outcome_was_lost_comes_again_with_the_same_delivery_id(
    hooks: Hooks, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At least once: the receiver answered, but the database went away before the answer
    was recorded. The dispatcher tries again; the receiver sees the same Kairos-Delivery
    (its dedupe key) and the same event."""
    subscription = hooks.subscribe(receiver.url)
    hooks.publish(hooks.booking().confirmed())
    record = hooks.sender._record
    lost = []

    def losing_the_first(*args: Any) -> bool:
        if not lost:
            lost.append(True)
            raise psycopg.OperationalError("the server closed the connection")
        return record(*args)

    monkeypatch.setattr(hooks.sender, "_record", losing_the_first)
    hooks.deliver()
    hooks.clock.advance(timedelta(minutes=2))
    hooks.deliver()

    first, second = receiver.received()
    assert first.delivery == second.delivery
    assert json.loads(first.body)["event_id"] == json.loads(second.body)["event_id"]
    [delivery] = hooks.deliveries(subscription["id"])
    assert (delivery["id"], delivery["state"]) == (first.delivery, "delivered")
