"""Web Push through pywebpush to the dev push service, which checks the VAPID signature
and decrypts the RFC 8291 payload with the subscription's own keys."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from py_vapid import Vapid
from pydantic import SecretStr

from kairos.providers.errors import DeliveryRejected
from kairos.providers.push import OutgoingPush, PushSubscription, SubscriptionGone
from notifications.channels.push import VapidPushSender, push_topic
from notifications.config import ChannelSettings
from tests.notifications.fakes import Fake, run_fake

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def push_service() -> Iterator[Fake]:
    with run_fake("web_push") as fake:
        yield fake


@pytest.fixture(scope="module")
def sender() -> VapidPushSender:
    vapid = Vapid()
    vapid.generate_keys()
    raw = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    settings = ChannelSettings(
        vapid_private_key=SecretStr(base64.urlsafe_b64encode(raw).decode().rstrip("=")),
        vapid_subject="mailto:ops@kairos.example",
    )
    push = VapidPushSender.from_settings(settings)
    assert push is not None
    return push


def subscribe(push_service: Fake) -> tuple[str, PushSubscription]:
    """What a browser's PushManager.subscribe() gives the page, posted to the API."""
    made = push_service.post("/dev/push/subscriptions")
    keys = made["keys"]
    return made["id"], PushSubscription(made["endpoint"], keys["p256dh"], keys["auth"])


def received(push_service: Fake, subscription_id: str) -> list[dict[str, object]]:
    return [m for m in push_service.messages("push") if m["subscription_id"] == subscription_id]


def test_the_push_service_decrypts_the_payload_with_the_subscription_keys(
    push_service: Fake, sender: VapidPushSender
) -> None:
    subscription_id, subscription = subscribe(push_service)
    payload = {"title": "Starts in 15 minutes", "url": "https://kairos.example/join"}

    sender.send(OutgoingPush(subscription, json.dumps(payload).encode(), "effect-1", 900))

    (message,) = received(push_service, subscription_id)
    assert json.loads(str(message["payload"])) == payload
    assert message["vapid_subject"] == "mailto:ops@kairos.example"
    assert message["topic"] == push_topic("effect-1")
    assert message["ttl"] == 900


def test_a_repeat_of_one_effect_replaces_the_undelivered_message(
    push_service: Fake, sender: VapidPushSender
) -> None:
    subscription_id, subscription = subscribe(push_service)

    sender.send(OutgoingPush(subscription, b'{"n": 1}', "effect-2"))
    sender.send(OutgoingPush(subscription, b'{"n": 1}', "effect-2"))
    sender.send(OutgoingPush(subscription, b'{"n": 2}', "effect-3"))

    messages = received(push_service, subscription_id)
    assert [(m["payload"], m["replaced"]) for m in messages] == [('{"n": 2}', 0), ('{"n": 1}', 1)]


def test_an_expired_subscription_is_gone(push_service: Fake, sender: VapidPushSender) -> None:
    subscription_id, subscription = subscribe(push_service)
    push_service.delete(f"/dev/push/subscriptions/{subscription_id}")

    with pytest.raises(SubscriptionGone):
        sender.send(OutgoingPush(subscription, b"{}", "effect-4"))


def test_a_payload_encrypted_for_other_keys_is_refused(
    push_service: Fake, sender: VapidPushSender
) -> None:
    """The fake really decrypts: keys of another subscription make the payload unreadable."""
    _, mine = subscribe(push_service)
    _, theirs = subscribe(push_service)
    wrong = PushSubscription(mine.endpoint, theirs.p256dh, theirs.auth)

    with pytest.raises(DeliveryRejected, match="400"):
        sender.send(OutgoingPush(wrong, b"{}", "effect-5"))


def test_the_public_key_is_what_browsers_subscribe_with(sender: VapidPushSender) -> None:
    raw = base64.urlsafe_b64decode(sender.public_key + "==")

    assert len(raw) == 65 and raw[0] == 4  # an uncompressed P-256 point
