"""How the notification channels are reached, from the environment.

Every channel is optional: one whose settings are absent is not configured, and its
messages are skipped (`notifications.channels.unconfigured`), so a deployment
without an SMS account still sends e-mail. Credentials have no defaults.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from kairos.privacy.settings import PrivacySettings
from kairos.settings import CallerAuthSettings
from kairos.smtp import SmtpSettings


class ChannelSettings(SmtpSettings):
    """Every channel's settings; e-mail's are kairos.smtp's, shared with booking's sign-in."""

    # SMS (Twilio Messages API): configured when the account, token and sender are set.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = Field(None, description="E.164 sender number")
    # Where Twilio posts delivery status (the notifications API's callback route).
    twilio_status_callback_url: str | None = None
    # Another base URL for the Messages API: the dev stack's and the tests' fake.
    twilio_api_url: str | None = None

    # Web Push: configured when the VAPID key and subject are set.
    vapid_private_key: SecretStr | None = Field(
        None, description="the application server's P-256 private key: raw or DER, base64url"
    )
    vapid_subject: str | None = Field(None, description='"mailto:ops@example.com"')

    # Every provider call gives up after this; the effect lease (5 min) outlasts it.
    provider_timeout_seconds: float = Field(10.0, gt=0)


class NotificationsSettings(ChannelSettings, PrivacySettings, CallerAuthSettings):
    """Everything the notifications service reads from the environment: the channels, the
    key store it opens contact details with, and the callers' secrets of its API."""

    # The booking API inside the cluster: the manage token of a client's links comes from
    # there (with the admin key) when a message is built, never over a topic.
    booking_api_url: str = Field(description="e.g. http://booking-api:8000")
    # Where the links in messages point: the public origin of the web app.
    public_url: str = Field(description="e.g. https://kairos.example.com")
