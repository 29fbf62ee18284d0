"""`promtool test rules` over the chart's alert rules: render them, then run every tests/chart/rules/*.yaml.

Used by test_alert_rules.py and by .ci/run (`python -m tests.chart.alert_rules`), which prints
promtool's report and exits with its status (0 when promtool is missing: CI installs it best-effort).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.chart.render import CHART, merged, rules_values, write_rules

RULE_TESTS = Path(__file__).parent / "rules"
PROMTOOL_TIMEOUT_SECONDS = 120
# Rule files besides rules.yaml (rules_values()), each the rules rendered with these values on top:
# the "windows shortened through chart values": a holdoff below the rate windows, and `for`s
# short enough that only the holdoff stands between the outage's samples and a page.
TUNED_RULES: dict[str, dict[str, Any]] = {
    "rules-short-holdoff.yaml": {
        "prometheusRule": {
            "kafkaOutageHoldoff": "1m",
            "alerts": {name: {"for": "1m"} for name in ("PublishFailing", "RejectionSpike", "SlowReplies")},
        }
    },
}


def rule_test_files() -> list[Path]:
    return sorted(RULE_TESTS.glob("*.yaml"))


def rule_files() -> list[str]:
    return ["rules.yaml", *TUNED_RULES]


def prepare(chart: Any, workdir: Path) -> list[dict[str, Any]]:
    """rules.yaml and the TUNED_RULES files rendered from the chart, beside a copy of every rule
    test file; returns the rules of rules.yaml."""
    rules = write_rules(chart, workdir / "rules.yaml")
    for name, values in TUNED_RULES.items():
        write_rules(chart, workdir / name, merged(rules_values(), values))
    for test in rule_test_files():
        shutil.copy(test, workdir / test.name)
    return rules


def promtool(promtool_path: str, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool_path, *args], cwd=workdir, capture_output=True, text=True, check=False,
        timeout=PROMTOOL_TIMEOUT_SECONDS,
    )  # fmt: skip


def main() -> int:
    found = shutil.which("promtool")
    if found is None:
        print("promtool is not installed (Debian package prometheus): alert rule tests skipped")
        return 1 if os.environ.get("SMS_BRIDGE_REQUIRE_TOOLS") == "1" else 0
    import helm_python

    with tempfile.TemporaryDirectory() as tmp, helm_python.Chart.load(CHART) as chart:
        workdir = Path(tmp)
        prepare(chart, workdir)
        status = 0
        for args in (["check", "rules", *rule_files()], ["test", "rules", *(p.name for p in rule_test_files())]):
            result = promtool(found, workdir, *args)
            print(result.stdout + result.stderr, end="")
            status = status or result.returncode
        return status


if __name__ == "__main__":
    sys.exit(main())
