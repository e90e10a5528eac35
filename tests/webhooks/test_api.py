"""The subscriptions API: admin only, every input validated, SSRF targets refused outside
dev, errors in the one shape."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import uuid4

import pytest

from kairos.auth import Authenticator
from kairos.effects import EffectDispatcher
from kairos_dev.testing.services import TEST_SECRETS
from tests.webhooks.conftest import ADMIN, Hooks, Receiver, webhook_settings
from webhooks.consumer import sender

pytestmark = pytest.mark.integration

SUBSCRIPTIONS = "/v1/webhooks/subscriptions"


def specialist_jwt() -> str:
    auth = Authenticator(
        TEST_SECRETS["ADMIN_API_KEY"],
        TEST_SECRETS["JWT_SECRET"],
        TEST_SECRETS["MANAGE_TOKEN_SECRET"],
    )
    return auth.specialist_token(uuid4(), datetime.now().astimezone())


def test_only_the_admin_manages_webhooks(hooks: Hooks, receiver: Receiver) -> None:
    body = {"url": receiver.url, "events": ["*"]}
    nobody = hooks.api.post(SUBSCRIPTIONS, json=body)
    assert nobody.status_code == 401 and nobody.json()["error"]["code"] == "unauthorized"
    specialist = {"Authorization": f"Bearer {specialist_jwt()}"}
    refused = hooks.api.post(SUBSCRIPTIONS, json=body, headers=specialist)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert hooks.api.get(SUBSCRIPTIONS, headers=specialist).status_code == 403
    assert hooks.api.get(SUBSCRIPTIONS, headers=ADMIN).json() == {"subscriptions": []}


@pytest.mark.parametrize(
    "body",
    [
        {"events": ["*"]},
        {"url": "http://127.0.0.1:9/x", "events": []},
        {"url": "http://127.0.0.1:9/x", "events": ["BookingExploded"]},
        {"url": "http://127.0.0.1:9/x", "events": ["*", "BookingCancelled"]},
        {"url": "http://127.0.0.1:9/x", "events": ["BookingCancelled", "BookingCancelled"]},
        {"url": "http://127.0.0.1:9/x", "events": "*"},
        {"url": "http://127.0.0.1:9/x\n", "events": ["*"]},
        {"url": "http://127.0.0.1:9/" + "x" * 2100, "events": ["*"]},
        {"url": "http://127.0.0.1:9/x", "events": ["*"], "description": "a\u0000b"},
    ],
)
def test_a_malformed_subscription_is_refused(hooks: Hooks, body: dict[str, object]) -> None:
    answer = hooks.api.post(SUBSCRIPTIONS, json=body, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "http://example.com/hook",  # production takes https only
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/hook",
        "https://192.168.1.10/hook",
        "https://169.254.169.254/latest/meta-data",  # the cloud's metadata service
        "https://100.64.0.1/hook",  # shared address space (CGNAT)
        "https://0.0.0.0/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",
        "https://224.0.0.1/hook",
        "https://user:password@example.com/hook",
        "https:///hook",
        "https://example.com:99999/hook",
        "https://nonexistent.invalid/hook",
    ],
)
def test_private_loopback_and_link_local_targets_are_refused_in_production(
    hooks_factory: Callable[..., Hooks], url: str
) -> None:
    production = hooks_factory(webhook_allow_private_targets=False, webhook_require_https=True)
    answer = production.api.post(SUBSCRIPTIONS, json={"url": url, "events": ["*"]}, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_url"
    assert production.api.get(SUBSCRIPTIONS, headers=ADMIN).json() == {"subscriptions": []}


def test_a_public_https_target_is_accepted_in_production(
    hooks_factory: Callable[..., Hooks],
) -> None:
    production = hooks_factory(webhook_allow_private_targets=False, webhook_require_https=True)
    answer = production.api.post(
        SUBSCRIPTIONS, json={"url": "https://93.184.215.14/crm", "events": ["*"]}, headers=ADMIN
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["state"] == "active"


def test_a_target_that_turned_private_since_it_was_subscribed_gets_nothing(
    hooks: Hooks, receiver: Receiver
) -> None:
    """What DNS rebinding would do: the check is made again at each attempt, and the
    connection goes to the address checked."""
    subscription = hooks.subscribe(receiver.url)  # accepted: this service runs as dev
    hooks.publish(hooks.booking().confirmed())
    production = webhook_settings(
        hooks.database_url, webhook_allow_private_targets=False, webhook_require_https=False
    )
    with (
        sender(production, hooks.clock) as refusing,
        EffectDispatcher(hooks.database_url, refusing.handlers(), clock=hooks.clock) as dispatcher,
    ):
        dispatcher.drain()
    assert receiver.received() == []
    [delivery] = hooks.deliveries(subscription["id"])
    assert (delivery["state"], delivery["attempts"]) == ("pending", 1)
    assert "private" in delivery["last_error"]
