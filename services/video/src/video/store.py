"""The video event store (its own, in the video service's database)."""

from __future__ import annotations

from kairos.eventstore import open_application
from video.application import Sessions


def sessions_application(database_url: str) -> Sessions:
    return open_application(lambda env: Sessions(env=env), database_url)
