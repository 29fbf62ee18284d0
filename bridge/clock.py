"""Clocks: the one source of "now", injected so that tests can fix it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time. `now()` is timezone-aware UTC; `time()` is seconds since the epoch."""

    def time(self) -> float: ...

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, epoch_seconds: float) -> None:
        self._t = epoch_seconds

    def time(self) -> float:
        return self._t

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._t, UTC)

    def advance(self, seconds: float) -> None:
        self._t += seconds
