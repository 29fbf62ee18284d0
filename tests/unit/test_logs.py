"""aiokafka's repeated lines are folded: the first of each kind per window, then one summary."""

from __future__ import annotations

import logging

import pytest

from bridge.logs import RepeatDigest


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def line(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, None)


def test_only_the_first_line_of_each_kind_passes_within_a_window() -> None:
    digest = RepeatDigest(window=60, clock=Clock())
    passed = [digest.filter(line("aiokafka", "Unable connect to node with id %s: %s", 1, n)) for n in range(100)]
    assert passed == [True] + [False] * 99
    assert digest.filter(line("aiokafka", "Unable to update metadata from %s", 1))
    assert digest.filter(line("aiokafka.producer.sender", "Unable connect to node with id %s: %s", 1, 2))


def test_other_loggers_are_never_held_back() -> None:
    digest = RepeatDigest(window=60, clock=Clock())
    assert all(digest.filter(line("bridge.http.endpoint", "callback not stored")) for _ in range(10))


def test_a_window_with_repeats_ends_with_one_summary_and_the_next_window_starts_afresh(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    digest = RepeatDigest(window=60, clock=clock)
    for n in range(40):
        digest.filter(line("aiokafka", "Unable connect to node with id %s: %s", 1, n))
    for _ in range(5):
        digest.filter(line("aiokafka", "Unable to update metadata from %s", 1))
    clock.now = 61
    with caplog.at_level(logging.WARNING, logger="bridge.logs"):
        assert digest.filter(line("aiokafka", "Unable connect to node with id %s: %s", 1, 99))
    summaries = [r for r in caplog.records if getattr(r, "event", None) == "log_summary"]
    assert len(summaries) == 1
    summary = summaries[0].__dict__
    assert summary["suppressed"] == 39 + 4
    assert summary["top"][0] == {"logger": "aiokafka", "msg": "Unable connect to node with id %s: %s", "count": 39}
    clock.now = 130
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bridge.logs"):
        digest.filter(line("bridge.http.endpoint", "callback accepted"))
    assert not [r for r in caplog.records if getattr(r, "event", None) == "log_summary"], "nothing was held back"
