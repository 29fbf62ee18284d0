"""Log lines: one JSON object per line on stdout, with the bridge's standard fields; aiokafka's
repeated lines folded into a periodic summary."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import orjson

_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
_STANDARD: Final = _RECORD_FIELDS | {"message", "asctime", "color_message"}
SUMMARY_SECONDS: Final = 60.0
NOISY_LOGGERS: Final = "aiokafka"  # a broker outage makes it log the same few lines ~40 times a second

_log = logging.getLogger(__name__)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; `extra=` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode("utf-8")


class RepeatDigest(logging.Filter):
    """A handler filter for a noisy library's loggers: per window, the first line of each kind
    (logger and message template) goes out, the repeats are counted, and when a window with
    repeats ends, one summary line says how many were left out, and of which kinds."""

    def __init__(
        self, prefix: str = NOISY_LOGGERS, window: float = SUMMARY_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._prefix = prefix
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._seen: set[tuple[str, str]] = set()
        self._repeats: Counter[tuple[str, str]] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        summary: Counter[tuple[str, str]] | None = None
        passes = True
        with self._lock:
            if now - self._started >= self._window:
                summary, self._repeats = self._repeats, Counter()
                self._seen.clear()
                self._started = now
            if record.name.startswith(self._prefix):
                kind = (record.name, str(record.msg))
                passes = kind not in self._seen
                if passes:
                    self._seen.add(kind)
                else:
                    self._repeats[kind] += 1
        if summary:
            _log.warning(
                "repeated library log lines left out",
                extra={
                    "event": "log_summary",
                    "suppressed": sum(summary.values()),
                    "window_seconds": self._window,
                    "top": [{"logger": n, "msg": m[:80], "count": c} for (n, m), c in summary.most_common(3)],
                },
            )
        return passes


def setup(level: str = "info") -> None:
    """Route every logger (ours, uvicorn's, aiokafka's) to JSON lines on stdout."""
    # The logging HOWTO's "Optimization" switches: our JSON lines carry none of these record
    # fields (caller file/line/function, thread, process), so collecting them is wasted work.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RepeatDigest())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "aiokafka"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # its lines carry URL tokens
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
