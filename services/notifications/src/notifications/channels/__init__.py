"""The channels notifications sends through, each behind its `kairos.providers` Protocol:
e-mail over SMTP (aiosmtplib), SMS through Twilio, Web Push with VAPID. `build_channels`
gives a stand-in that skips for each channel that is not configured."""

from __future__ import annotations

from dataclasses import dataclass

from kairos.providers.mail import Mailer
from kairos.providers.push import PushSender
from kairos.providers.sms import SmsSender
from kairos.smtp import SmtpMailer
from notifications.channels.push import VapidPushSender
from notifications.channels.sms import TwilioSms
from notifications.channels.unconfigured import (
    UnconfiguredMailer,
    UnconfiguredPush,
    UnconfiguredSms,
)
from notifications.config import ChannelSettings


@dataclass(frozen=True)
class Channels:
    mail: Mailer
    sms: SmsSender
    push: PushSender


def build_channels(settings: ChannelSettings) -> Channels:
    """A sender per channel: the real one where configured, else one that skips."""
    return Channels(
        mail=SmtpMailer.from_settings(settings, settings.provider_timeout_seconds)
        or UnconfiguredMailer("SMTP_HOST, MAIL_FROM"),
        sms=TwilioSms.from_settings(settings)
        or UnconfiguredSms("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM"),
        push=VapidPushSender.from_settings(settings)
        or UnconfiguredPush("VAPID_PRIVATE_KEY, VAPID_SUBJECT"),
    )
