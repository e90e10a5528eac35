"""The calendar-sync service's settings: the common ones, the credential keys, and each
provider's endpoints and app registration (empty endpoints mean the provider's real ones).
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from kairos.booking_client import BookingApiSettings
from kairos.privacy.settings import PrivacySettings
from kairos.settings import CallerAuthSettings, Secret, ServiceSettings


class CalendarStoreSettings(ServiceSettings):
    """What the relay reads: the event store only."""


class CalendarSyncSettings(CalendarStoreSettings, CallerAuthSettings, PrivacySettings):
    # Comma-separated secrets sealing credentials at rest (calendar_sync.credentials):
    # the first seals, all open; rotate by putting a new one first and re-encrypting.
    calendar_credential_keys: Secret = Field(
        description="comma-separated secrets, at least 32 bytes each, the current one first"
    )
    # Signs the OAuth `state` (bound to the specialist, checked on the callback).
    calendar_oauth_state_key: Secret
    # The public origin providers send the user and their notifications back to.
    calendar_public_url: str = "http://127.0.0.1:8000"
    # How far ahead busy time is read: beyond every service's max advance days.
    calendar_horizon_days: int = Field(120, ge=1)
    # CalDAV is polled; Google and Microsoft push, and are fully reconciled this often too.
    calendar_poll_seconds: float = Field(30.0, gt=0)
    calendar_reconcile_seconds: float = Field(15 * 60.0, gt=0)
    # At most this many provider calls of one connection run at once (quotas).
    calendar_connection_concurrency: int = Field(2, ge=1)
    google_client_id: str = ""
    google_client_secret: SecretStr = SecretStr("")
    google_auth_uri: str = ""
    google_token_uri: str = ""
    google_api_url: str = ""
    microsoft_client_id: str = ""
    microsoft_client_secret: SecretStr = SecretStr("")
    microsoft_authority: str = ""
    microsoft_graph_url: str = ""
    # A CA bundle to trust for the identity platform and Graph (the local fake's
    # certificate in dev and tests); empty: the system's.
    microsoft_ca_bundle: str = ""


class CalendarApiSettings(CalendarSyncSettings, BookingApiSettings):
    """The API's: it asks booking whether a manage token is current, so that a client's
    token is refused as a known caller's (403), a revoked one as no one's (401)."""
