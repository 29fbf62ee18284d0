"""The README's metrics table lists exactly the registered metric families."""

from __future__ import annotations

import re
import signal

import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from bridge.callbacks import Lifecycle
from bridge.metrics import BridgeMetrics
from bridge.server import DrainingServer
from tests.conftest import ROOT

SUFFIX = {"counter": "_total", "info": "_info", "histogram": "", "gauge": ""}


def readme_metrics() -> dict[str, str]:
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("### Metrics", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `(sms_bridge_[a-z_]+)` \| (\w+) \|", section, flags=re.MULTILINE)
    return dict(rows)


def registered_metrics() -> dict[str, str]:
    registry = CollectorRegistry()
    BridgeMetrics(registry)
    return {f.name + SUFFIX[f.type]: ("gauge" if f.type == "info" else f.type) for f in registry.collect()}


def test_readme_metrics_table_matches_the_registered_families() -> None:
    documented = readme_metrics()
    assert documented, "no metrics table found in README.md"
    assert documented == registered_metrics()


def test_sigterm_marks_the_bridge_draining_at_once() -> None:
    lifecycle = Lifecycle()
    server = DrainingServer(uvicorn.Config(Starlette()), lifecycle)
    assert not lifecycle.draining
    server.handle_exit(signal.SIGTERM, None)
    assert lifecycle.draining and server.should_exit
