"""SMS through the real Twilio SDK to the dev fake of the Messages API: the message is
recorded, the status callbacks the fake signs are accepted by Twilio's validator, and
a forged one is not."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
from pydantic import SecretStr

from kairos.providers.errors import DeliveryRejected
from kairos.providers.sms import OutgoingSms
from kairos_dev.infra.process import free_port
from notifications.channels.sms import TwilioSms, status_callback_is_genuine
from notifications.config import ChannelSettings
from tests.notifications.fakes import Fake, run_fake

pytestmark = pytest.mark.integration

AUTH_TOKEN = "test-twilio-token-0123456789abcdef"
ACCOUNT = "AC" + "0" * 32


class Callbacks(ThreadingHTTPServer):
    """Where the fake posts status callbacks: keeps each (url, form, signature)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], str]] = []
        super().__init__(("127.0.0.1", free_port()), CallbackHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/webhooks/twilio/status"


class CallbackHandler(BaseHTTPRequestHandler):
    server: Callbacks

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        form = dict(parse_qsl(self.rfile.read(length).decode()))
        url = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"
        self.server.received.append((url, form, self.headers.get("X-Twilio-Signature", "")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fake() -> Iterator[Fake]:
    with run_fake("twilio_api", "--auth-token", AUTH_TOKEN) as twilio:
        yield twilio


@pytest.fixture
def callbacks() -> Iterator[Callbacks]:
    server = Callbacks()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def sender(fake: Fake, callback_url: str | None, token: str = AUTH_TOKEN) -> TwilioSms:
    settings = ChannelSettings(
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=SecretStr(token),
        twilio_from="+15005550006",
        twilio_status_callback_url=callback_url,
        twilio_api_url=fake.url,
    )
    sms = TwilioSms.from_settings(settings)
    assert sms is not None
    return sms


def wait_for(count: int, callbacks: Callbacks) -> None:
    deadline = time.monotonic() + 10
    while len(callbacks.received) < count:
        assert time.monotonic() < deadline, callbacks.received
        time.sleep(0.02)


def test_the_sdk_sends_through_the_fake_and_its_signed_callbacks_are_genuine(
    fake: Fake, callbacks: Callbacks
) -> None:
    sid = sender(fake, callbacks.url).send(
        OutgoingSms(
            to="+14155550100", body="Your consultation starts in 1 hour", idempotency_key="e-1"
        )
    )

    recorded = next(m for m in fake.messages("sms") if m["id"] == sid)
    assert sid.startswith("SM")
    assert recorded["to"] == "+14155550100" and recorded["from"] == "+15005550006"
    assert recorded["body"] == "Your consultation starts in 1 hour"
    wait_for(2, callbacks)
    statuses = []
    for url, form, signature in callbacks.received:
        assert url == f"{callbacks.url}?effect=e-1"  # the effect rides on the callback
        assert form["MessageSid"] == sid
        assert status_callback_is_genuine(AUTH_TOKEN, url, form, signature)
        statuses.append(form["MessageStatus"])
    assert statuses == ["sent", "delivered"]


def test_a_forged_status_callback_fails_validation(fake: Fake, callbacks: Callbacks) -> None:
    sender(fake, callbacks.url).send(
        OutgoingSms(to="+14155550100", body="hello", idempotency_key="e-2")
    )
    wait_for(1, callbacks)
    url, form, signature = callbacks.received[0]

    assert status_callback_is_genuine(AUTH_TOKEN, url, form, signature)
    assert not status_callback_is_genuine(
        AUTH_TOKEN, url, {**form, "MessageStatus": "failed"}, signature
    )
    assert not status_callback_is_genuine(AUTH_TOKEN, url.replace("e-2", "e-3"), form, signature)
    assert not status_callback_is_genuine("another-token-0123456789abcdef", url, form, signature)
    assert not status_callback_is_genuine(AUTH_TOKEN, url, form, "")


def test_an_invalid_number_is_permanent(fake: Fake) -> None:
    with pytest.raises(DeliveryRejected, match="21211"):
        sender(fake, None).send(OutgoingSms(to="555-0100", body="hi", idempotency_key="e-4"))


def test_wrong_credentials_are_permanent(fake: Fake) -> None:
    with pytest.raises(DeliveryRejected, match="401"):
        sender(fake, None, token="wrong-token-0123456789abcdef0123").send(
            OutgoingSms(to="+14155550100", body="hi", idempotency_key="e-5")
        )
