"""The accepted-callback log line, cheaply: one orjson line into a buffer the event loop writes out every 50 ms.

Python's logging builds a LogRecord, walks handlers and formats under a lock for each line: a
fifth of the bridge's CPU when every accepted callback logs one. Accepted lines are the
bridge's most frequent and least urgent ones, so they skip that machinery: the line is rendered
in the same JSON shape as bridge.logs.JsonFormatter's and appended to a buffer, which is written
to the log handler's stream in one call every FLUSH_SECONDS (or at FLUSH_BYTES, and at
shutdown). Rejections and failures still go through logging at once. The trade-off: a crash
can lose the accepted lines of its last 50 ms, and they may appear up to 50 ms after lines
logged later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any, Final, TextIO

import orjson

from bridge.logs import JsonFormatter

FLUSH_SECONDS: Final = 0.05
FLUSH_BYTES: Final = 64 * 1024


class Fixed:
    """Fields every line of one writer carries (an endpoint's provider, instance and outcome), rendered once."""

    __slots__ = ("fields", "json")

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.fields = dict(fields)
        self.json = orjson.dumps(self.fields, default=str)[1:-1] + b"," if self.fields else b""


NO_FIXED: Final = Fixed({})


class AcceptedLog:
    """Writes accepted-callback lines for `logger`; falls back to logging itself when the root
    logger has no JSON handler of bridge.logs (tests, other set-ups)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._stream = _json_stream()
        self._buffer: list[bytes] = []
        self._size = 0
        self._second = -1
        self._prefix = b""
        self._flush_handle: asyncio.TimerHandle | None = None
        self._head = b',"level":"info","logger":' + orjson.dumps(logger.name) + b',"msg":"callback accepted",'

    @property
    def enabled(self) -> bool:
        return self._logger.isEnabledFor(logging.INFO)

    def write(self, fields: dict[str, Any], fixed: Fixed = NO_FIXED) -> None:
        """One "callback accepted" line with the `fixed` fields, then these."""
        if self._stream is None:
            self._logger.info("callback accepted", extra={**fixed.fields, **fields})
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = b'{"ts":"' + time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        line = b"%s.%03dZ\"%s%s%s\n" % (self._prefix, int((now - second) * 1000), self._head, fixed.json,
                                        orjson.dumps(fields, default=str)[1:])
        self._buffer.append(line)
        self._size += len(line)
        if self._size >= FLUSH_BYTES:
            self.flush()
        elif self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Write what is buffered (the loop calls this; shutdown calls it once more)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._buffer or self._stream is None:
            return
        data, self._buffer, self._size = b"".join(self._buffer), [], 0
        try:
            self._stream.write(data.decode("utf-8"))
            self._stream.flush()
        except (OSError, ValueError):  # a closed or broken stdout must not fail callbacks
            pass


def _json_stream() -> TextIO | None:
    """The stream of the root logger's JSON handler (bridge.logs.setup), if there is exactly one."""
    streams: list[TextIO] = [
        h.stream for h in logging.getLogger().handlers
        if type(h) is logging.StreamHandler and isinstance(h.formatter, JsonFormatter)
    ]
    return streams[0] if len(streams) == 1 else None
