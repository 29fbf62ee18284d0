"""Times and ids of the documented sample callbacks, derived from `now` (UNIX seconds) as the providers write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Final

_BEIJING: Final = timezone(timedelta(hours=8))
WALL_CLOCK: Final = "%Y-%m-%d %H:%M:%S"


def time_text(now: float, pattern: str = WALL_CLOCK, zone: tzinfo = UTC) -> str:
    """`now` in `zone` (UTC unless given) as strftime `pattern` writes it (`yyyy-MM-dd HH:mm:ss` unless given)."""
    return datetime.fromtimestamp(now, zone).strftime(pattern)


def beijing_text(now: float) -> str:
    """`now` as Tencent, Alibaba and NxCloud write times: China Standard Time, `yyyy-MM-dd HH:mm:ss`."""
    return time_text(now, zone=_BEIJING)


def iso_text(now: float, *, timespec: str = "milliseconds", zulu: bool = True) -> str:
    """`now` as ISO 8601 in UTC (`2023-11-14T22:13:20.000Z`); `zulu=False` keeps the `+00:00` offset."""
    text = datetime.fromtimestamp(now, UTC).isoformat(timespec=timespec)
    return text.replace("+00:00", "Z") if zulu else text


def uuid_at(head: str, now: float) -> str:
    """A UUID-shaped id that changes with `now`: `head` (the first four groups), then 12 digits of milliseconds."""
    return f"{head}-{int(now * 1000) % 10**12:012d}"
