"""The accepted-callback line: the same JSON shape as logging's, written in batches, falling back to logging."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from bridge.http.accepted_log import FLUSH_BYTES, AcceptedLog, Fixed
from bridge.logs import JsonFormatter


@pytest.fixture
def json_root() -> Iterator[io.StringIO]:
    """The root logger set up as bridge.logs.setup does it, on a string stream."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    yield stream
    root.handlers[:] = saved
    root.setLevel(level)


@pytest.mark.anyio
async def test_lines_are_buffered_then_written_in_the_formatters_shape(json_root: io.StringIO) -> None:
    accepted = AcceptedLog(logging.getLogger("bridge.http.endpoint"))
    accepted.write({"event": "callback", "provider": "tencent", "event_ids": ["a"], "latency_ms": 1.5})
    assert json_root.getvalue() == ""  # not yet: the loop flushes every 50 ms
    accepted.flush()
    logging.getLogger("bridge.http.endpoint").info(
        "callback accepted", extra={"event": "callback", "provider": "tencent", "event_ids": ["a"], "latency_ms": 1.5}
    )
    fast, slow = (orjson.loads(line) for line in json_root.getvalue().splitlines())
    assert fast.keys() == slow.keys()
    assert {k: v for k, v in fast.items() if k != "ts"} == {k: v for k, v in slow.items() if k != "ts"}
    assert len(fast["ts"]) == len(slow["ts"]) and fast["ts"].endswith("Z")


@pytest.mark.anyio
async def test_a_full_buffer_is_written_at_once(json_root: io.StringIO) -> None:
    accepted = AcceptedLog(logging.getLogger("bridge.http.endpoint"))
    for _ in range(FLUSH_BYTES // 50):
        accepted.write({"detail": "x" * 40})
    assert json_root.getvalue()
    accepted.flush()
    assert all(orjson.loads(line)["msg"] == "callback accepted" for line in json_root.getvalue().splitlines())


@pytest.mark.anyio
async def test_without_the_json_handler_lines_go_through_logging(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bridge.http.endpoint")
    accepted = AcceptedLog(logging.getLogger("bridge.http.endpoint"))
    accepted.write({"provider": "nxcloud"})
    lines = [(r.getMessage(), getattr(r, "provider", None)) for r in caplog.records]
    assert lines == [("callback accepted", "nxcloud")]


@pytest.mark.anyio
async def test_fixed_fields_are_rendered_once_and_written_on_every_line(json_root: io.StringIO) -> None:
    fixed = Fixed({"event": "callback", "provider": "nxcloud", "reason": None})
    accepted = AcceptedLog(logging.getLogger("bridge.http.endpoint"))
    accepted.write({"request_id": "r-1", "latency_ms": 1.25}, fixed)
    accepted.write({"request_id": "r-2", "latency_ms": 2.5}, fixed)
    accepted.flush()
    lines = [orjson.loads(line) for line in json_root.getvalue().splitlines()]
    assert [{k: v for k, v in line.items() if k != "ts"} for line in lines] == [
        {"level": "info", "logger": "bridge.http.endpoint", "msg": "callback accepted", "event": "callback",
         "provider": "nxcloud", "reason": None, "request_id": f"r-{n}", "latency_ms": ms}
        for n, ms in ((1, 1.25), (2, 2.5))
    ]


def test_without_the_json_handler_fixed_fields_go_through_logging_too(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bridge.http.endpoint")
    AcceptedLog(logging.getLogger("bridge.http.endpoint")).write({"request_id": "r-1"}, Fixed({"provider": "tencent"}))
    assert [(r.getMessage(), getattr(r, "provider", None), getattr(r, "request_id", None)) for r in caplog.records] == [
        ("callback accepted", "tencent", "r-1")
    ]
