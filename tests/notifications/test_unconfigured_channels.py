"""A channel without settings is skipped: one log line when it is built, a metric for
each message, and never an error (a retry could not make it succeed)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from kairos.providers.mail import OutgoingMail
from kairos.providers.push import OutgoingPush, PushSubscription
from kairos.providers.sms import OutgoingSms
from kairos.smtp import SmtpMailer
from notifications.channels import build_channels
from notifications.channels.unconfigured import UnconfiguredPush, UnconfiguredSms
from notifications.config import ChannelSettings

pytestmark = pytest.mark.unit


def skipped(channel: str) -> float:
    value = REGISTRY.get_sample_value("kairos_notifications_skipped_total", {"channel": channel})
    return value or 0.0


def settings(**values: object) -> ChannelSettings:
    """Only what is given, whatever the environment holds."""
    unset = dict.fromkeys(
        ("smtp_host", "mail_from", "twilio_account_sid", "twilio_auth_token", "twilio_from"),
    )
    unset.update(vapid_private_key=None, vapid_subject=None)
    return ChannelSettings(**{**unset, **values})  # type: ignore[arg-type]


def test_unconfigured_channels_are_skipped_with_one_log_line_and_a_metric(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "notifications.channels")
    before = {channel: skipped(channel) for channel in ("email", "sms", "push")}

    channels = build_channels(settings(smtp_host="mail.example", mail_from="k@mail.example"))
    for _ in range(3):
        channels.sms.send(OutgoingSms(to="+14155550100", body="hi", idempotency_key="k"))
    channels.push.send(
        OutgoingPush(PushSubscription("https://push.example/1", "k", "a"), b"{}", "k")
    )

    assert isinstance(channels.mail, SmtpMailer)
    assert isinstance(channels.sms, UnconfiguredSms)
    assert isinstance(channels.push, UnconfiguredPush)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert any(line.startswith("sms is not configured") for line in lines)
    assert any(line.startswith("push is not configured") for line in lines)
    assert skipped("sms") == before["sms"] + 3
    assert skipped("push") == before["push"] + 1
    assert skipped("email") == before["email"]


def test_an_unconfigured_mailer_sends_nothing_and_does_not_fail() -> None:
    channels = build_channels(settings(smtp_password=SecretStr("only half of it")))
    mail = OutgoingMail("<a@b>", "k@b", ("x@y",), "s", "t", None, datetime.now(UTC))

    before = skipped("email")
    channels.mail.send(mail)

    assert skipped("email") == before + 1
