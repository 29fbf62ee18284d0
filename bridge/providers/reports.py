"""Multi-report callbacks: each report of an array becomes its own event, or a BadReport when it cannot be
understood, so that one bad report is dead-lettered alone and never holds back the others."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
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


def alone(items: Sequence[E | BadReport], body: Callable[[Any], bytes],
          context: Mapping[str, Any] | None = None) -> list[E | BadReport]:
    """`items` with each BadReport given `body(report)`, the callback's envelope holding that report alone
    (what the dead letter keeps for `redrive`), and the `context` that names the callback it came from."""
    return [dataclasses.replace(i, body=body(i.report), context=dict(context or {})) if isinstance(i, BadReport)
            else i for i in items]
