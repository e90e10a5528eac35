"""`python -m video.relay`: publishes the video event store to video.events.v1.

Run exactly one per database (it takes an advisory lock; a second one waits as a
standby). Ops endpoints on RELAY_OPS_PORT (default 8000, as in the k8s manifests).
"""

from __future__ import annotations

import os

from kairos.events import VIDEO_TOPIC
from kairos.messaging.relay import run_relay
from kairos.web import configure_logging
from video.config import VideoStoreSettings
from video.integration import IntegrationMapper
from video.store import sessions_application


def main() -> None:
    settings = VideoStoreSettings()
    configure_logging(settings.log_level)
    run_relay(
        lambda: sessions_application(settings.database_url),
        IntegrationMapper,
        settings,
        topic=VIDEO_TOPIC,
        name="video",
        ops_port=int(os.environ.get("RELAY_OPS_PORT", "8000")),
    )


if __name__ == "__main__":
    main()
