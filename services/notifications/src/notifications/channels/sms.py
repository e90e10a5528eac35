"""SMS through Twilio's Messages API, with the official SDK.

The Messages API keeps no idempotency key, so the effect id rides on the status
callback's URL (`?effect=<id>`): Twilio posts each delivery status back with it,
which ties a message to its effect, and a repeat after a crash shows there as a
second message of one effect. Those callbacks are only believed when Twilio's
signature checks out (`status_callback_is_genuine`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from kairos.providers.errors import DeliveryDeferred, http_failure
from kairos.providers.sms import OutgoingSms
from notifications.config import ChannelSettings


@dataclass(frozen=True)
class TwilioSms:
    """An `SmsSender` for one Twilio account and sender number."""

    client: Client
    sender: str
    status_callback_url: str | None = None

    @classmethod
    def from_settings(cls, settings: ChannelSettings) -> TwilioSms | None:
        sid, token, sender = (
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from,
        )
        if sid is None or token is None or sender is None:
            return None
        client = Client(
            sid,
            token.get_secret_value(),
            http_client=TwilioHttpClient(timeout=settings.provider_timeout_seconds),
        )
        if settings.twilio_api_url is not None:
            client.api.base_url = settings.twilio_api_url.rstrip("/")
        return cls(client, sender, settings.twilio_status_callback_url)

    def send(self, sms: OutgoingSms) -> str:
        callback = None
        if self.status_callback_url is not None:
            callback = status_callback_url(self.status_callback_url, sms.idempotency_key)
        try:
            message = self.client.messages.create(
                to=sms.to, from_=self.sender, body=sms.body, status_callback=callback
            )
        except TwilioRestException as exc:
            # Twilio's error code, not its message: that often repeats the number.
            raise http_failure("Twilio", exc.status, f"error {exc.code}") from exc
        except requests.RequestException as exc:
            raise DeliveryDeferred(f"Twilio unreachable: {type(exc).__name__}") from exc
        return str(message.sid)


def status_callback_url(base: str, effect: str) -> str:
    """The URL Twilio posts one message's statuses to: `base` with the effect's id."""
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode({'effect': effect})}"


def status_callback_is_genuine(
    auth_token: str, url: str, params: Mapping[str, str], signature: str
) -> bool:
    """Whether Twilio signed this status callback: `url` as Twilio called it (with its
    query), `params` the posted form, `signature` the X-Twilio-Signature header."""
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))
