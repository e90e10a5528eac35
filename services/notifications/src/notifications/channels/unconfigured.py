"""Stand-ins for channels that are not configured: each says so once, counts every
message it skips, and never fails the effect (nothing would make a retry succeed)."""

from __future__ import annotations

import logging

from kairos.providers.mail import OutgoingMail
from kairos.providers.push import OutgoingPush
from kairos.providers.sms import OutgoingSms
from notifications.metrics import CHANNEL_SKIPPED
from notifications.schedule import Channel

log = logging.getLogger("notifications.channels")


class _Unconfigured:
    channel: Channel

    def __init__(self, missing: str) -> None:
        log.warning(
            "%s is not configured (set %s): its messages are skipped", self.channel, missing
        )

    def _skip(self) -> None:
        CHANNEL_SKIPPED.labels(self.channel).inc()


class UnconfiguredMailer(_Unconfigured):
    channel = "email"

    def send(self, mail: OutgoingMail) -> None:
        self._skip()


class UnconfiguredSms(_Unconfigured):
    channel = "sms"

    def send(self, sms: OutgoingSms) -> str:
        self._skip()
        return ""


class UnconfiguredPush(_Unconfigured):
    channel = "push"

    def send(self, push: OutgoingPush) -> None:
        self._skip()
