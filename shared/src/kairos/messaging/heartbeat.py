"""Heartbeats: a relay tells consumers how far its producer's notification log reaches.

Lag read from the broker (highwater - position) says 0 whenever the broker has
nothing new for a consumer: during a broker outage, or with the relay dead, while
the log (the source of truth) keeps growing. So each relay publishes, about once a
second, a heartbeat on `<topic>.heartbeat` (one partition). A separate topic keeps
the event topic a pure log of events: its contract and its readers are untouched.

A heartbeat says, from the relay's reading of the producer's database:
- `top`: the highest notification id in the log; `published`: how far the relay got;
- `in_sync_at`: the last time (Unix seconds) the relay had published the whole log as
  it stood then: every event committed before that instant is on the topic;
- `ends`: per partition of the event topic, the offset after the relay's last message.

A consumer that has processed each partition assigned to it up to a heartbeat's
`ends` has applied everything the log held at that heartbeat's `in_sync_at`: that is
how current it is (`as_of`), and `now - as_of` its staleness, which grows by itself
when the relay, the broker or the consumer stops. Its lag in events is the log's
unpublished events plus the published ones it has not processed yet, from the latest
heartbeat; when that heartbeat is older than the timeout, the lag is unknown (None,
NaN on /metrics), never 0.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka import TopicPartition
from pydantic import BaseModel, ConfigDict

HEARTBEAT_PARTITIONS = 1


def check_staleness(staleness: float | None, bound: float) -> None:
    """A readiness check: raises when how current the applied events are is unknown, or
    when they are more than `bound` seconds behind the producer's log."""
    if staleness is None:
        raise RuntimeError("how current it is is unknown (no relay heartbeat yet)")
    if staleness > bound:
        raise RuntimeError(f"what it applied is {staleness:.1f} s behind the log (bound {bound} s)")


def heartbeat_topic(topic: str) -> str:
    """Where the relay of `topic` publishes its heartbeats."""
    return f"{topic}.heartbeat"


class Heartbeat(BaseModel):
    """One relay's view of its producer's log (see the module docstring)."""

    # Unknown fields are ignored: a newer relay may say more.
    model_config = ConfigDict(extra="ignore", frozen=True)

    relay: str
    topic: str
    top: int
    published: int
    in_sync_at: float | None
    ends: dict[int, int]
    sent_at: float

    @property
    def unpublished(self) -> int:
        return max(0, self.top - self.published)


@dataclass(frozen=True)
class Freshness:
    """How current a consumer is: as of when (Unix seconds, None if never known) and
    how many events of the log it has not applied (None when unknown)."""

    as_of: float | None
    lag_events: int | None

    def staleness(self, now: float) -> float | None:
        return None if self.as_of is None else max(0.0, now - self.as_of)


class HeartbeatTracker:
    """The recent heartbeats of each topic, and what they say about a consumer."""

    def __init__(self, timeout: float, keep: int = 64) -> None:
        self._timeout = timeout
        self._keep = keep
        # topic -> (heartbeat, monotonic time heard), oldest first
        self._beats: dict[str, deque[tuple[Heartbeat, float]]] = {}

    def heard(self, beat: Heartbeat, at: float) -> None:
        self._beats.setdefault(beat.topic, deque(maxlen=self._keep)).append((beat, at))

    def freshness(
        self, topics: Iterable[str], positions: Mapping[TopicPartition, int], now: float
    ) -> Freshness:
        """`positions`: the next offset to process of each assigned partition; `now`:
        monotonic time. The least current of `topics` decides."""
        as_of: list[float | None] = []
        lag: list[int | None] = []
        for topic in topics:
            mine = {tp.partition: offset for tp, offset in positions.items() if tp.topic == topic}
            beats = self._beats.get(topic)
            if not beats:
                return Freshness(None, None)
            as_of.append(_as_of(beats, mine))
            latest, heard_at = beats[-1]
            if now - heard_at > self._timeout:
                lag.append(None)
            else:
                behind = (max(0, latest.ends.get(p, 0) - offset) for p, offset in mine.items())
                lag.append(latest.unpublished + sum(behind))
        known_as_of = [t for t in as_of if t is not None]
        known_lag = [n for n in lag if n is not None]
        return Freshness(
            min(known_as_of) if len(known_as_of) == len(as_of) else None,
            sum(known_lag) if len(known_lag) == len(lag) else None,
        )


def _as_of(beats: deque[tuple[Heartbeat, float]], positions: Mapping[int, int]) -> float | None:
    """The in-sync time of the newest heartbeat each partition has been processed up to;
    the oldest of those over the partitions (the newest heartbeat's, with none assigned)."""
    if not positions:
        return beats[-1][0].in_sync_at
    times: list[float] = []
    for partition, offset in positions.items():
        reached = next(
            (
                beat.in_sync_at
                for beat, _ in reversed(beats)
                if beat.in_sync_at is not None and offset >= beat.ends.get(partition, 0)
            ),
            None,
        )
        if reached is None:
            return None
        times.append(reached)
    return min(times)
