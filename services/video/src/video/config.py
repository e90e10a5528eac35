"""The video service's settings: the common ones, LiveKit's, and its own knobs.

The relay reads only the event store's (VideoStoreSettings): it needs no secrets.
"""

from __future__ import annotations

from pydantic import Field

from kairos.booking_client import BookingApiSettings
from kairos.privacy.settings import PrivacySettings
from kairos.settings import Secret, ServiceSettings


class VideoStoreSettings(ServiceSettings):
    db_pool_size: int = 10


class LiveKitSettings(ServiceSettings):
    """Where LiveKit is and the API key pair it trusts (its config's `keys`)."""

    livekit_url: str = Field(description="LiveKit's URL, http(s):// or ws(s)://")
    # Where browsers connect, when not LIVEKIT_URL (which may be an in-cluster address).
    livekit_public_url: str | None = Field(default=None, description="wss://… for browsers")
    livekit_api_key: str = Field(description="The API key of LiveKit's key pair")
    livekit_api_secret: Secret
    # Where egress writes recordings, below its configured storage (S3 bucket or volume).
    recordings_prefix: str = "recordings"


class VideoWorkerSettings(VideoStoreSettings, LiveKitSettings):
    """The reconcile loop's: the store and LiveKit."""

    # The specialist is offered a client who is not in this long after the start.
    no_show_grace_minutes: int = Field(default=10, ge=0)


class VideoConsumerSettings(VideoWorkerSettings, PrivacySettings):
    """The consumer's: it takes part in erasures (the ledger is in the key store's database)."""


class VideoSettings(VideoConsumerSettings, BookingApiSettings):
    """The API's: it authenticates callers (asking booking whether a manage token is
    current) and seals notes."""

    # Join tokens name one room and live this long: enough to connect, and to reconnect
    # after a dropped network within the consultation, not to keep for another day.
    join_token_ttl_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Signs the expiring links to recordings (GET /v1/bookings/{id}/recording).
    recording_link_secret: Secret
    recording_link_ttl_minutes: int = Field(default=60, ge=1)
    # Where a verified recording link redirects to: the recordings' storage, read-only.
    recordings_base_url: str = Field(description="e.g. https://recordings.example/")
