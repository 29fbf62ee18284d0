"""Multi-report callbacks: each report of an array becomes its own event, or a BadReport when it cannot be
understood, so that one bad report is dead-lettered alone and never holds back the others."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from bridge.errors import MalformedCallbackError
from bridge.events import SmsEvent
from bridge.providers.base import BadReport

E = TypeVar("E", bound=SmsEvent)


def each_report(reports: Iterable[Any], build: Callable[[Any, int], E]) -> list[E | BadReport]:
    """`build(report, index)` for every report, in order; a report it refuses with MalformedCallbackError
    becomes `BadReport(index, report, error)`. Any other exception is a bug and propagates."""
    items: list[E | BadReport] = []
    for index, report in enumerate(reports):
        try:
            items.append(build(report, index))
        except MalformedCallbackError as error:
            items.append(BadReport(index, report, error))
    return items
