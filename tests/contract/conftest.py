"""The contract suite runs against every registered kind, plus one defined only here (echo)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bridge.providers import PROVIDERS
from tests.contract.echo_provider import EchoProvider

KINDS = sorted({*PROVIDERS, EchoProvider.kind})


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each kind in turn; the test-only kind is registered for the test's duration, as a plug-in would be."""
    name: str = request.param
    if name not in PROVIDERS:
        monkeypatch.setitem(PROVIDERS, name, EchoProvider)
    yield name
