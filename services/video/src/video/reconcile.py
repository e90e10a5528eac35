"""The reconcile loop: repairs what a lost LiveKit webhook would have changed.

LiveKit sends each webhook once (at least once at best, never again later), so a lost
`participant_joined`, `participant_left` or `room_finished` would leave a session
wrong for good. Every RECONCILE_INTERVAL_SECONDS this compares each open session whose
waiting room has opened with LiveKit itself (ListRooms, ListParticipants) and applies
the difference as the facts it stands for: a participant LiveKit has and the session
has not joined (at LiveKit's joined_at), one the session has and LiveKit has not left,
and a live session whose room LiveKit no longer has finished.

Which sessions are open it learns from its own event store's log (read from where it
got to, in memory: a restart reads it again), not from a table of its own.

`python -m video.reconcile` runs it (ops endpoints on RECONCILE_OPS_PORT).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from kairos.auth import now_utc
from kairos.effects import TransientEffectError
from kairos.messaging.worker import until_signalled
from kairos.providers.video import VideoRooms
from kairos.web.health import postgres_check
from kairos.web.ops_server import serving_ops
from video.application import Sessions
from video.config import VideoWorkerSettings
from video.consumer import livekit_rooms
from video.domain import PARTIES, Session
from video.store import sessions_application
from video.webhooks import party_of

log = logging.getLogger("video.reconcile")

#: Events after which a session no longer needs watching.
_FINAL = ("SessionEnded", "RoomClosed")


@dataclass
class Reconciler:
    app: Sessions
    rooms: VideoRooms
    clock: Callable[[], datetime] = now_utc
    open_sessions: set[UUID] = field(default_factory=set)
    read_through: int = 0

    def follow_log(self) -> None:
        """Learn the sessions opened and finished since the last call."""
        while True:
            notifications = self.app.recorder.select_notifications(
                start=self.read_through, limit=1000, inclusive_of_start=False
            )
            if not notifications:
                return
            for notification in notifications:
                event: Any = self.app.mapper.to_domain_event(notification)
                kind = type(event).__name__
                if kind == "RoomPrepared":
                    self.open_sessions.add(event.originator_id)
                elif kind in _FINAL:
                    self.open_sessions.discard(event.originator_id)
            self.read_through = notifications[-1].id

    def reconcile(self) -> int:
        """One pass; returns how many sessions it changed."""
        self.follow_log()
        now = self.clock()
        existing = set(self.rooms.rooms())
        changed = 0
        for booking_id in sorted(self.open_sessions):
            session = self.app.find(booking_id)
            if session is None or session.opens_at > now:
                continue
            if self._repair(session, session.room in existing, now):
                changed += 1
        return changed

    def _repair(self, session: Session, room_exists: bool, now: datetime) -> bool:
        version = session.version
        at_livekit = {}
        if room_exists:
            for participant in self.rooms.participants(session.room):
                party = party_of(participant.identity)
                if party is not None:
                    at_livekit[party] = participant.joined_at
        for party in PARTIES:
            if party in at_livekit and not session.present.get(party):
                self.app.joined(session.id, party, at_livekit[party])
            elif party not in at_livekit and session.present.get(party):
                self.app.left(session.id, party, now)
        if not room_exists and session.state == "live":
            self.app.room_finished(session.id, now)
        after = self.app.find(session.id)
        return after is not None and after.version != version


async def _loop(reconciler: Reconciler, interval: float, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        try:
            changed = await asyncio.to_thread(reconciler.reconcile)
            if changed:
                log.info("reconcile: repaired %d session(s)", changed)
        except TransientEffectError as exc:
            log.warning("reconcile: LiveKit unavailable (%s); trying again", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval)


async def _run(settings: VideoWorkerSettings, app: Sessions, interval: float) -> None:
    stopping = asyncio.Event()
    rooms = livekit_rooms(settings)
    reconciler = Reconciler(app, rooms)
    port = int(os.environ.get("RECONCILE_OPS_PORT", "8000"))

    def livekit_answers() -> None:
        rooms.rooms()

    checks = {"postgres": postgres_check(settings.database_url), "livekit": livekit_answers}
    async with serving_ops("video-reconcile", port, checks, host=settings.ops_host):
        await until_signalled(_loop(reconciler, interval, stopping), stopping.set)


def main() -> None:
    settings = VideoWorkerSettings()
    app = sessions_application(settings.database_url)
    try:
        asyncio.run(_run(settings, app, float(os.environ.get("RECONCILE_INTERVAL_SECONDS", "15"))))
    finally:
        app.close()


if __name__ == "__main__":
    main()
