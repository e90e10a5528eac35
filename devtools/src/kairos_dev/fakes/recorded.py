"""What a fake received, kept in memory for `/dev/.../messages`: newest first, bounded."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar


class Listed(Protocol):
    def as_json(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=Listed)

#: Enough for a dev session or a benchmark run; older entries fall off.
DEFAULT_CAPACITY = 20_000


class Recorded(Generic[T]):
    """A thread-safe log (the SMTP sink records from its own thread)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._items: deque[T] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def add(self, item: T) -> T:
        with self._lock:
            self._items.appendleft(item)
        return item

    def replace_first(self, matches: Callable[[T], bool], item: T) -> T | None:
        """Put `item` first instead of the newest entry that `matches`; the one replaced."""
        with self._lock:
            for index, old in enumerate(self._items):
                if matches(old):
                    del self._items[index]
                    self._items.appendleft(item)
                    return old
            self._items.appendleft(item)
            return None

    def newest_first(self) -> list[T]:
        with self._lock:
            return list(self._items)

    def find(self, matches: Callable[[T], bool]) -> T | None:
        with self._lock:
            return next((item for item in self._items if matches(item)), None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
