"""Must NOT type-check: parsing a callback that was never verified. tests/unit/test_typing.py runs mypy on
this file and expects exactly one arg-type error, on the line marked below; with `adapter.verify(raw)`
in its place, the file type-checks. Excluded from `mypy bridge tests` (pyproject: tool.mypy exclude)."""

from __future__ import annotations

from bridge.providers import ProviderAdapter
from bridge.providers.base import Parsed, RawCallback


def publish_unverified(adapter: ProviderAdapter, raw: RawCallback) -> Parsed:
    return adapter.parse(raw)  # UNVERIFIED: mypy must refuse this line
