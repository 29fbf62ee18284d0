"""Chart fixtures: helm-python-sdk, the loaded chart, and one render per ci/ scenario."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.chart.render import CHART, SCENARIOS, Rendered, render_scenario


@pytest.fixture(scope="session")
def helm() -> Any:
    return pytest.importorskip("helm_python", reason="the chart tests need helm-python-sdk (pip install -e '.[chart]')")


@pytest.fixture(scope="session")
def chart(helm: Any) -> Iterator[Any]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


@pytest.fixture(params=SCENARIOS)
def scenario(request: pytest.FixtureRequest, chart: Any) -> Rendered:
    return render_scenario(chart, request.param)
