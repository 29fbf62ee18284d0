"""Deadlines of in-flight callbacks, watched by one timer instead of a timer per callback.

asyncio.timeout() creates, schedules and cancels a timer handle for every callback: ~8 % of the
bridge's CPU under load. Here a callback's task is entered in a dict with its deadline; one
periodic tick (every RESOLUTION_SECONDS while anything is in flight) cancels the tasks whose
deadline has passed and remembers that it did, so the task can tell its own deadline from any
other cancellation. A deadline fires up to RESOLUTION_SECONDS late.
"""

from __future__ import annotations

import asyncio
from typing import Final

RESOLUTION_SECONDS: Final = 0.02


class Deadlines:
    """Cancels each registered task once the loop's clock passes its deadline."""

    def __init__(self, resolution: float = RESOLUTION_SECONDS) -> None:
        self._resolution = resolution
        self._due: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._tick: asyncio.TimerHandle | None = None

    def set(self, task: asyncio.Task[object], when: float) -> None:
        """`task` must be done by the loop time `when` (replaces its earlier deadline)."""
        self._due[task] = when
        if self._tick is None:
            self._tick = asyncio.get_running_loop().call_later(self._resolution, self._check)

    def clear(self, task: asyncio.Task[object]) -> bool:
        """Forget `task`; True if its deadline passed and it was cancelled for that."""
        self._due.pop(task, None)
        if task in self._expired:
            self._expired.discard(task)
            return True
        return False

    def _check(self) -> None:
        self._tick = None
        if not self._due:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        for task, when in list(self._due.items()):
            if when <= now:
                del self._due[task]
                self._expired.add(task)
                task.cancel()
        if self._due:
            self._tick = loop.call_later(self._resolution, self._check)
