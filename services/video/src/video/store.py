"""The video event store (its own, in the video service's database)."""

from __future__ import annotations

from kairos.eventstore import open_application
from video.application import Sessions

#: Sessions cached per process: a load reads only the events after the cached version
#: (the cache fast-forwards from the store), so a cached session is never stale.
CACHE_SIZE = 10_000


def sessions_application(database_url: str, cache_size: int = CACHE_SIZE) -> Sessions:
    return open_application(
        lambda env: Sessions(env=env), database_url, AGGREGATE_CACHE_MAXSIZE=str(cache_size)
    )
