"""Every alert of the chart is unit-tested with `promtool test rules` (tests/chart/rules/*.yaml):
each fires where it should and stays quiet where it should not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.alert_rules import prepare, promtool, rule_files, rule_test_files
from tests.conftest import require_tool


@pytest.fixture(scope="module")
def promtool_path() -> str:
    return require_tool("promtool", "prometheus")


def test_rules_pass_promtool_check(chart: Any, promtool_path: str, tmp_path: Path) -> None:
    prepare(chart, tmp_path)
    result = promtool(promtool_path, tmp_path, "check", "rules", *rule_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass_promtool(chart: Any, promtool_path: str, tmp_path: Path) -> None:
    prepare(chart, tmp_path)
    result = promtool(promtool_path, tmp_path, "test", "rules", *(p.name for p in rule_test_files()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(rule_test_files())


def test_every_alert_is_tested_firing_and_quiet(chart: Any, tmp_path: Path) -> None:
    alerts = {rule["alert"] for rule in prepare(chart, tmp_path) if "alert" in rule}
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in rule_test_files():
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested staying quiet"
    assert (firing | quiet) <= alerts, "tests name alerts the chart does not have"
