"""The README's metrics table lists exactly the registered metric families."""

from __future__ import annotations

import re
import signal

import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from bridge.cli.serve import DrainingServer
from bridge.events import EventType
from bridge.http.lifecycle import Lifecycle
from bridge.http.replay_cache import ReplayCache
from bridge.metrics import BridgeMetrics
from bridge.spool.metrics import SpoolMetrics
from tests.conftest import ROOT

SUFFIX = {"counter": "_total", "info": "_info", "histogram": "", "gauge": ""}


def readme_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (type, labels) from the README's metrics table."""
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("### Metrics", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `(sms_bridge_[a-z_]+)` \| (\w+) \|([^|]*)\|", section, flags=re.MULTILINE)
    return {name: (kind, frozenset(re.findall(r"`(\w+)`", labels))) for name, kind, labels in rows}


def registered_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (type, labels) of every family, with an account exported and a spool configured."""
    registry = CollectorRegistry()
    metrics = BridgeMetrics(registry)
    metrics.add_instance("tencent", "main", topics={t: "topic" for t in EventType})
    metrics.watch_replays("tencent", "main", ReplayCache(10))
    SpoolMetrics(registry)
    families: dict[str, tuple[str, frozenset[str]]] = {}
    for family in registry.collect():
        labels = frozenset(k for s in family.samples for k in s.labels if k != "le")
        families[family.name + SUFFIX[family.type]] = ("gauge" if family.type == "info" else family.type, labels)
    return families


def test_readme_metrics_table_matches_the_registered_families_and_labels() -> None:
    documented = readme_metrics()
    assert documented, "no metrics table found in README.md"
    assert documented == registered_metrics()


def test_readme_names_the_account_label_and_never_a_label_called_instance() -> None:
    assert all("instance" not in labels for _, labels in readme_metrics().values())
    assert any("account" in labels for _, labels in readme_metrics().values())


def test_sigterm_marks_the_bridge_draining_at_once() -> None:
    lifecycle = Lifecycle()
    server = DrainingServer(uvicorn.Config(Starlette()), lifecycle)
    assert not lifecycle.draining
    server.handle_exit(signal.SIGTERM, None)
    assert lifecycle.draining and server.should_exit
