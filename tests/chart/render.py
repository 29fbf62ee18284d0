"""Rendering the Helm chart for the tests, and reading its rules and dashboard.

The chart is rendered with Helm's own engine (helm-python-sdk embeds Helm's Go SDK: no helm
binary, no cluster). The rules and dashboard readers are shared by the chart tests, the promtool
unit tests and the live Prometheus test.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "sms-bridge"
DASHBOARD = CHART / "dashboards" / "bridge.json"
RELEASE, NAMESPACE = "sms", "messaging"
JOB = f"{RELEASE}-sms-bridge"  # the Service name, which the ServiceMonitor makes the job label
SCENARIOS = ["default", *sorted(p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml"))]
SECRETS_DIR = "/etc/sms-bridge/secrets/"
CRD_GROUP = "monitoring.coreos.com/"
# The values the promtool unit tests and the live test load the rules with: the prometheusrule
# scenario, plus a spool, so the spool alerts render too.
RULES_SPOOL = {"path": "/var/lib/sms-bridge/spool.db", "max_bytes": 1_000_000_000}


def scenario_values(scenario: str) -> dict[str, Any]:
    if scenario == "default":
        return {}
    values: dict[str, Any] = yaml.safe_load((CHART / "ci" / f"{scenario}-values.yaml").read_text()) or {}
    return values


def merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Maps merged key by key, as Helm merges values files; lists and scalars replaced."""
    result = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


class Rendered:
    """One render of the chart: its manifests by kind, and NOTES.txt."""

    def __init__(self, files: dict[str, str]) -> None:
        files = dict(files)
        self.notes = files.pop(next(k for k in files if k.endswith("NOTES.txt")), "")
        self.docs = [doc for text in files.values() for doc in yaml.safe_load_all(text) if doc]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        (doc,) = self.all(kind)
        return doc

    @property
    def workload(self) -> dict[str, Any]:
        """The Deployment, or the StatefulSet with persistence: exactly one of them."""
        (doc,) = self.all("Deployment") + self.all("StatefulSet")
        return doc

    @property
    def pod(self) -> dict[str, Any]:
        pod: dict[str, Any] = self.workload["spec"]["template"]
        return pod

    @property
    def container(self) -> dict[str, Any]:
        (container,) = self.pod["spec"]["containers"]
        return dict(container)

    def config_text(self) -> str:
        (configmap,) = [d for d in self.all("ConfigMap") if "bridge.yaml" in d["data"]]
        text: str = configmap["data"]["bridge.yaml"]
        return text

    def rule_groups(self) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = self.one("PrometheusRule")["spec"]["groups"]
        return groups

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in self.rule_groups() for rule in group["rules"]]

    def alerts(self) -> dict[str, dict[str, Any]]:
        return {rule["alert"]: rule for rule in self.rules() if "alert" in rule}

    def dashboard(self) -> dict[str, Any]:
        (configmap,) = [d for d in self.all("ConfigMap") if d["metadata"]["name"].endswith("-dashboard")]
        dashboard: dict[str, Any] = json.loads(configmap["data"]["sms-bridge.json"])
        return dashboard


def render(chart: Any, values: Mapping[str, Any] | None = None, *, name: str = RELEASE) -> Rendered:
    return Rendered(chart.render(dict(values or {}), name=name, namespace=NAMESPACE))


@functools.cache
def render_scenario(chart: Any, scenario: str) -> Rendered:
    return render(chart, scenario_values(scenario))


def rules_values() -> dict[str, Any]:
    return merged(scenario_values("prometheusrule"), {"config": {"spool": RULES_SPOOL}})


def write_rules(chart: Any, path: Path, values: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The chart's rule groups as a Prometheus rule file (the PrometheusRule's spec)."""
    rendered = render(chart, rules_values() if values is None else values)
    spec = {"groups": rendered.rule_groups()}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return rendered.rules()


# --- PromQL in the dashboard ---------------------------------------------------------------------

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (label matchers, durations and functions removed)."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    tokens = re.findall(r"(?<![\w$.])([a-zA-Z_:][\w:]*)(\s*\()?", expr)
    return {name for name, call in tokens if not call and name not in PROMQL_WORDS}


def selectors(expr: str) -> Iterator[tuple[str, str]]:
    """(metric name, label matchers) of each vector selector in an expression."""
    for match in re.finditer(r"([a-zA-Z_:][\w:]*)\{([^}]*)\}", expr):
        yield match.group(1), match.group(2)


def dashboard_panels(dashboard: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    dashboard = dashboard or json.loads(DASHBOARD.read_text())
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def dashboard_exprs(dashboard: dict[str, Any] | None = None) -> list[str]:
    """Every panel query, and the selector of every query variable."""
    dashboard = dashboard or json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard_panels(dashboard) for t in panel["targets"]]
    exprs.extend(selector for _, selector in variable_queries(dashboard))
    return exprs


def variable_queries(dashboard: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """(variable name, selector) of each `label_values(selector, label)` variable."""
    dashboard = dashboard or json.loads(DASHBOARD.read_text())
    found: list[tuple[str, str]] = []
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            (selector,) = re.findall(r"label_values\((.+),\s*\w+\)$", var["query"]["query"])
            found.append((var["name"], selector))
    return found
