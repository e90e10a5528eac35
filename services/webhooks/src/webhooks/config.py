"""The webhooks service's settings. The consumer (which sends) reads the delivery
settings; the API adds the callers' secrets."""

from __future__ import annotations

from pydantic import Field

from kairos.privacy.settings import PrivacySettings
from kairos.providers.smtp import SmtpSettings
from kairos.settings import CallerAuthSettings, Secret


class DeliverySettings(PrivacySettings, SmtpSettings):
    # Comma-separated secrets sealing the subscriptions' signing secrets at rest
    # (webhooks.signing_secrets): the first seals, all open; rotate with
    # `kairos reencrypt webhooks`.
    webhook_secret_keys: Secret = Field(
        description="comma-separated secrets, at least 32 bytes each, the current one first"
    )
    # SSRF: endpoints on private, loopback, link-local or otherwise non-public addresses are
    # refused, and only https is accepted. `kairos dev` and the tests relax both (their
    # receivers listen on 127.0.0.1 over plain http); production never should.
    webhook_allow_private_targets: bool = False
    webhook_require_https: bool = True
    # A CA bundle to trust for receivers' certificates (the tests' self-signed one);
    # empty: the system's.
    webhook_ca_bundle: str = ""
    # A receiver must answer within this; a slower one counts as a failed attempt.
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=60)
    # A delivery is retried with exponential backoff for this long, then given up.
    webhook_retry_hours: float = Field(72.0, gt=0)
    # An endpoint that has accepted nothing for this long is disabled.
    webhook_disable_after_hours: float = Field(72.0, gt=0)
    # Who is told by e-mail when an endpoint is disabled (through SMTP_HOST, MAIL_FROM:
    # kairos.providers.smtp). Without them, the subscription's state and the metric
    # kairos_webhooks_endpoints_disabled_total still say it.
    webhook_ops_email: str | None = Field(None, description="e.g. ops@example.com")
    # Deliveries in flight at once: a slow receiver holds one, not all.
    webhook_concurrency: int = Field(8, ge=1, le=64)
    db_pool_size: int = Field(4, ge=1)


class WebhooksSettings(DeliverySettings, CallerAuthSettings):
    """The API's: it authenticates the admin."""
