"""The Helm chart: lint, schema, Kubernetes validity, the pod, its workload and its safe defaults.

Rendered with Helm's own engine for the default values and every ci/*-values.yaml scenario (see
render.py). Each manifest is validated against the Kubernetes schemas (kubernetes-validate,
offline); the prometheus-operator kinds are checked by test_monitoring.py and promtool.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.config import Settings, parse
from bridge.spool.store import SpoolSettings
from tests.chart.render import (
    CHART,
    CRD_GROUP,
    NAMESPACE,
    RELEASE,
    SCENARIOS,
    SECRETS_DIR,
    Rendered,
    render,
    render_scenario,
    scenario_values,
)

SCHEMA = json.loads((CHART / "values.schema.json").read_text())


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


def test_chart_yaml_names_its_sources_maintainers_and_icon(chart: Any) -> None:
    metadata = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert metadata["sources"] and all(s.startswith("https://") for s in metadata["sources"])
    assert metadata["maintainers"] and all(m["name"] and "@" in m["email"] for m in metadata["maintainers"])
    assert metadata["icon"].startswith("https://") and metadata["icon"].endswith("/icon.svg")
    assert (CHART / "icon.svg").read_text().startswith("<svg")
    assert metadata["home"].startswith("https://")


def test_values_schema_rejects_unknown_keys(helm: Any, chart: Any) -> None:
    with pytest.raises(helm.HelmValuesError, match="imagee"):
        chart.validate_schema({"imagee": {"tag": "1"}})
    with pytest.raises(helm.HelmValuesError, match="enable"):
        chart.render({"serviceMonitor": {"enable": True}}, name=RELEASE, namespace=NAMESPACE)
    with pytest.raises(helm.HelmValuesError, match="pullPolicy"):
        chart.validate_schema({"image": {"pullPolicy": "Sometimes"}})
    with pytest.raises(helm.HelmValuesError, match="enable"):
        chart.render({"prometheusRule": {"alerts": {"SlowReplies": {"enable": False}}}}, name=RELEASE,
                     namespace=NAMESPACE)  # fmt: skip


def test_values_schema_requires_cpu_requests_for_the_hpa(helm: Any, chart: Any) -> None:
    no_cpu = {"autoscaling": {"enabled": True}, "resources": {"requests": {"cpu": None}}}
    with pytest.raises(helm.HelmValuesError, match="cpu"):
        chart.render(no_cpu, name=RELEASE, namespace=NAMESPACE)
    with pytest.raises(helm.HelmValuesError, match="resources"):
        chart.render({"autoscaling": {"enabled": True}, "resources": None}, name=RELEASE, namespace=NAMESPACE)
    render(chart, {"autoscaling": {"enabled": True}})  # the default requests satisfy it
    render(chart, {"resources": None})  # without the HPA, no requests are required


def _strict_objects(node: dict[str, Any], path: str) -> Any:
    """Every object schema with declared properties, except inside `config` (the bridge validates that)
    and `global` (shared by every subchart of a parent: it holds keys other charts read)."""
    if "properties" in node and path not in ("config", "global") and not path.startswith("config."):
        yield path, node
    for key, child in node.get("properties", {}).items():
        yield from _strict_objects(child, f"{path}.{key}" if path else key)


def test_values_schema_is_strict_and_describes_every_key() -> None:
    for path, node in _strict_objects(SCHEMA, ""):
        assert node.get("additionalProperties") is False, path
        for key, child in node["properties"].items():
            assert {"description", "type"} <= child.keys(), f"{path}.{key}"
    for key, child in SCHEMA["properties"].items():
        assert "description" in child and "type" in child, key
        if child["type"] != "object" or child.get("additionalProperties") is not False:
            assert "default" in child or key == "config", key


def test_values_yaml_documents_every_schema_key_with_a_comment() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) == set(SCHEMA["properties"])
    for path, node in _strict_objects(SCHEMA, ""):
        here: Any = values
        for part in filter(None, path.split(".")):
            here = here.get(part) if isinstance(here, dict) else None
        if isinstance(here, dict):
            assert set(here) <= set(node["properties"]), path
    lines = (CHART / "values.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\s*(- )?[\w.-]+:", line) and "#" not in line:
            previous = next(p for p in reversed(lines[:i]) if p.strip())
            assert previous.lstrip().startswith("#") or previous.rstrip().endswith(":"), f"line {i + 1}: {line}"


def test_provider_kind_enum_is_unchanged_here() -> None:
    """The lead ties this enum to the provider registry; this chart's work adds no kind."""
    kinds = SCHEMA["properties"]["config"]["properties"]["providers"]["items"]["properties"]["kind"]["enum"]
    assert {"tencent", "nxcloud"} <= set(kinds)


# --- as a subchart ------------------------------------------------------------------------------


def test_chart_renders_as_a_dependency_of_an_umbrella_chart(helm: Any, tmp_path: Path) -> None:
    umbrella = tmp_path / "platform"
    (umbrella / "charts").mkdir(parents=True)
    shutil.copytree(CHART, umbrella / "charts" / "sms-bridge")
    (umbrella / "Chart.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": "platform", "version": "1.0.0",
        "dependencies": [{"name": "sms-bridge", "version": "0.x.x", "condition": "sms-bridge.enabled"}],
    }))  # fmt: skip
    (umbrella / "values.yaml").write_text(yaml.safe_dump({
        "global": {"imageRegistry": "registry.example.com", "storageClass": "fast-ssd"},
        "sms-bridge": {"enabled": True, "replicaCount": 3},
    }))  # fmt: skip
    with helm.Chart.load(umbrella) as parent:
        files = parent.render({}, name="platform", namespace=NAMESPACE)
    rendered = Rendered({k: v for k, v in files.items() if "/charts/sms-bridge/" in k})
    assert rendered.workload["metadata"]["name"] == "platform-sms-bridge"
    assert rendered.workload["spec"]["replicas"] == 3
    assert rendered.container["image"].startswith("registry.example.com/sms-bridge:")


def test_global_image_registry_replaces_image_registry(chart: Any) -> None:
    version = chart.metadata["appVersion"]
    assert render_scenario(chart, "global").container["image"] == f"registry.example.com/sms-bridge:{version}"
    both = {"global": {"imageRegistry": "mirror.example.com"}, "image": {"registry": "ghcr.io", "repository": "sms/x"}}
    assert render(chart, both).container["image"] == f"mirror.example.com/sms/x:{version}"
    assert render(chart, {"global": {"imageRegistry": ""}}).container["image"] == f"sms-bridge:{version}"


def test_global_image_pull_secrets_are_added_to_the_charts_each_once(chart: Any) -> None:
    values = {
        "global": {"imagePullSecrets": ["mirror-creds", {"name": "shared"}]},
        "imagePullSecrets": [{"name": "shared"}, {"name": "regcred"}],
    }
    spec = render(chart, values).pod["spec"]
    assert spec["imagePullSecrets"] == [{"name": "mirror-creds"}, {"name": "shared"}, {"name": "regcred"}]
    assert "imagePullSecrets" not in render(chart).pod["spec"]


def test_other_global_values_are_accepted_and_change_nothing_else(chart: Any) -> None:
    plain, with_global = render_scenario(chart, "default"), render_scenario(chart, "global")
    image = plain.container["image"]
    assert with_global.container["image"] == f"registry.example.com/{image}"
    assert yaml.safe_dump_all(with_global.docs).replace(f"registry.example.com/{image}", image) == yaml.safe_dump_all(
        plain.docs
    )


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
    kinds = sorted(doc["kind"] for doc in render_scenario(chart, "default").docs)
    assert kinds == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Secret", "Service", "ServiceAccount"]


def test_selectors_never_carry_the_chart_version(scenario: Rendered) -> None:
    pod_labels = scenario.pod["metadata"]["labels"]
    selectors = [scenario.workload["spec"]["selector"]["matchLabels"], scenario.one("Service")["spec"]["selector"]]
    for kind in ("ServiceMonitor", "PodDisruptionBudget", "NetworkPolicy"):
        for doc in scenario.all(kind):
            spec = doc["spec"]
            selectors.append((spec.get("selector") or spec.get("podSelector"))["matchLabels"])
    for constraint in scenario.pod["spec"].get("topologySpreadConstraints", []):
        selectors.append(constraint["labelSelector"]["matchLabels"])
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
    assert render(chart, values, name=release).workload["metadata"]["name"] == expected


# --- the pod -----------------------------------------------------------------------------------


def test_probes_use_livez_and_readyz_on_the_configured_port(scenario: Rendered, tmp_path: Path) -> None:
    container = scenario.container
    (port,) = container["ports"]
    assert port["name"] == "http"
    for probe, path in (("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}
    assert port["containerPort"] == load_config(scenario, tmp_path).server.port


def test_probes_follow_a_changed_port(chart: Any) -> None:
    rendered = render(chart, {"config": {"server": {"port": 9090}}})
    assert rendered.container["ports"][0]["containerPort"] == 9090
    assert rendered.one("Service")["spec"]["ports"][0]["targetPort"] == "http"


def test_probe_timings_can_be_changed_one_field_at_a_time(chart: Any) -> None:
    container = render_scenario(chart, "probes-securitycontext").container
    defaults = render_scenario(chart, "default").container
    assert container["readinessProbe"] == {**defaults["readinessProbe"], "periodSeconds": 10, "failureThreshold": 3}
    assert container["livenessProbe"] == {**defaults["livenessProbe"], "timeoutSeconds": 10}
    assert container["startupProbe"] == {**defaults["startupProbe"], "failureThreshold": 60}


def test_pod_runs_hardened_by_default(chart: Any) -> None:
    rendered = render_scenario(chart, "default")
    pod_spec = rendered.pod["spec"]
    assert pod_spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert rendered.container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def test_every_scenario_keeps_the_pod_hardened(scenario: Rendered) -> None:
    pod_spec, container = scenario.pod["spec"], scenario.container
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod_spec["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert mounts["/etc/sms-bridge/bridge.yaml"] == "config"
    assert mounts["/etc/sms-bridge/secrets"] == "secrets"


def test_security_contexts_can_be_changed_key_by_key(chart: Any) -> None:
    rendered = render_scenario(chart, "probes-securitycontext")
    pod = rendered.pod["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (20001, 20001, 20001)
    assert pod["fsGroupChangePolicy"] == "OnRootMismatch"
    container = rendered.container["securityContext"]
    assert container["privileged"] is False and container["runAsNonRoot"] is True


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
    rendered = render_scenario(chart, "existing-secret")
    assert rendered.all("Secret") == []
    volumes = {v["name"]: v for v in rendered.pod["spec"]["volumes"]}
    assert volumes["secrets"]["secret"]["secretName"] == "sms-bridge-provider-secrets"
    assert "checksum/secret" not in rendered.pod["metadata"]["annotations"]


def test_chart_secret_holds_the_secrets_values(chart: Any) -> None:
    import base64

    data = render_scenario(chart, "secrets").one("Secret")["data"]
    expected = scenario_values("secrets")["secrets"]
    assert {k: base64.b64decode(v).decode() for k, v in data.items()} == expected


def test_image_and_placement_values_reach_the_pod(chart: Any) -> None:
    rendered = render_scenario(chart, "scheduling")
    values = scenario_values("scheduling")
    assert rendered.container["image"] == "registry.example.com/sms/sms-bridge@" + values["image"]["digest"]
    assert render(chart).container["image"] == "sms-bridge:" + chart.metadata["appVersion"]
    spec = rendered.pod["spec"]
    for key in ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "imagePullSecrets"):
        assert spec[key] == values[key]
    assert spec["serviceAccountName"] == "sms-hooks"
    assert rendered.all("ServiceAccount") == []


# --- safe defaults: resources, spreading, disruption budget, autoscaling ------------------------


def test_pods_get_requests_and_limits_by_default(chart: Any) -> None:
    resources = render_scenario(chart, "default").container["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"cpu", "memory"}  # Burstable, never BestEffort


def test_resources_can_make_the_pods_guaranteed(chart: Any) -> None:
    resources = render_scenario(chart, "resources").container["resources"]
    assert resources["requests"] == resources["limits"] == scenario_values("resources")["resources"]["limits"]


def test_pods_spread_softly_over_zones_and_nodes_by_default(chart: Any) -> None:
    rendered = render_scenario(chart, "default")
    constraints = rendered.pod["spec"]["topologySpreadConstraints"]
    selector = rendered.workload["spec"]["selector"]["matchLabels"]
    assert [c["topologyKey"] for c in constraints] == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    for constraint in constraints:
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
        assert constraint["labelSelector"] == {"matchLabels": selector}


def test_spreading_can_be_turned_off(chart: Any) -> None:
    assert "topologySpreadConstraints" not in render(chart, {"topologySpreadConstraints": []}).pod["spec"]


def test_a_disruption_budget_comes_with_more_than_one_pod(chart: Any) -> None:
    pdb = render_scenario(chart, "default").one("PodDisruptionBudget")["spec"]
    assert pdb["maxUnavailable"] == 1 and "minAvailable" not in pdb
    assert render_scenario(chart, "single-replica").all("PodDisruptionBudget") == []
    assert render(chart, {"autoscaling": {"enabled": True, "minReplicas": 1}}).all("PodDisruptionBudget") == []
    assert render(chart, {"podDisruptionBudget": {"enabled": False}}).all("PodDisruptionBudget") == []
    min_available = render(chart, {"podDisruptionBudget": {"minAvailable": "50%"}}).one("PodDisruptionBudget")["spec"]
    assert min_available["minAvailable"] == "50%" and "maxUnavailable" not in min_available


def test_hpa_replaces_the_replica_count(chart: Any) -> None:
    rendered = render_scenario(chart, "hpa-pdb")
    assert "replicas" not in rendered.workload["spec"]
    hpa = rendered.one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "sms-sms-bridge"}
    assert rendered.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert "cpu" in rendered.container["resources"]["requests"]


# --- the spool's volume ---------------------------------------------------------------------------


def test_persistence_runs_a_statefulset_with_a_claim_per_pod(chart: Any) -> None:
    rendered = render_scenario(chart, "spool-persistence")
    assert rendered.all("Deployment") == []
    statefulset = rendered.one("StatefulSet")["spec"]
    assert statefulset["serviceName"] == rendered.one("Service")["metadata"]["name"]
    (claim,) = statefulset["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "spool"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert claim["metadata"]["annotations"] == {"backup.example.com/policy": "none"}
    mounts = {m["name"]: m["mountPath"] for m in rendered.container["volumeMounts"]}
    assert mounts["spool"] == "/var/lib/sms-bridge"
    assert "spool" not in {v["name"] for v in rendered.pod["spec"]["volumes"]}  # the claim, not a volume
    assert rendered.one("PodDisruptionBudget")
    assert "lost" not in rendered.notes


def test_hpa_scales_the_statefulset_with_persistence(chart: Any) -> None:
    values = {**scenario_values("spool-persistence"), "autoscaling": {"enabled": True}}
    hpa = render(chart, values).one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["kind"] == "StatefulSet"


def test_spool_without_persistence_is_an_emptydir_with_its_caveat(chart: Any) -> None:
    rendered = render_scenario(chart, "spool-emptydir")
    volumes = {v["name"]: v for v in rendered.pod["spec"]["volumes"]}
    assert volumes["spool"] == {"name": "spool", "emptyDir": {"sizeLimit": "1500Mi"}}
    assert rendered.workload["kind"] == "Deployment"
    assert "lost when a pod is deleted" in rendered.notes
    caveat = (CHART / "values.yaml").read_text().split("\npersistence:", 1)[0].rsplit("\n\n", 1)[1]
    assert "LOST" in caveat and "emptyDir" in caveat


def test_no_spool_no_volume(chart: Any) -> None:
    rendered = render_scenario(chart, "default")
    assert "spool" not in {v["name"] for v in rendered.pod["spec"]["volumes"]}
    assert "spool" not in {m["name"] for m in rendered.container["volumeMounts"]}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"config": {"spool": {"path": "/data/spool.db"}}}, "must be inside persistence.mountPath"),
        ({"config": {"spool": {"path": "/var/lib/sms-bridge-other.db"}}}, "must be inside"),
        ({"persistence": {"enabled": True}}, "persistence.enabled needs config.spool"),
    ],
)
def test_spool_and_volume_must_agree(helm: Any, chart: Any, values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=message):
        render(chart, values)


def test_the_chart_knows_the_bridges_spool_defaults() -> None:
    """The schema's spool defaults are the bridge's, and the spool alert assumes the same max_bytes."""
    fields = SpoolSettings.model_fields
    documented = SCHEMA["properties"]["config"]["properties"]["spool"]["properties"]
    for key in ("max_bytes", "max_age_seconds", "budget_seconds"):
        assert documented[key]["default"] == fields[key].default, key
    template = (CHART / "templates" / "prometheusrule.yaml").read_text()
    assert f"$spoolMaxBytes := {fields['max_bytes'].default} " in template


# --- Service, ServiceMonitor, Ingress, NetworkPolicy ------------------------------------------


def test_servicemonitor_scrapes_metrics_on_the_http_port(chart: Any) -> None:
    rendered = render_scenario(chart, "servicemonitor")
    monitor = rendered.one("ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"], endpoint["interval"]) == ("http", "/metrics", "15s")
    assert endpoint["honorLabels"] is False  # the bridge's label is `account`: nothing to honour
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = rendered.one("Service")
    assert service["spec"]["ports"][0]["name"] == "http"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


def test_servicemonitor_honor_labels_is_a_value(chart: Any) -> None:
    (endpoint,) = render_scenario(chart, "servicemonitor-honorlabels").one("ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["honorLabels"] is True


def test_ingress_exposes_only_the_callback_prefix(chart: Any) -> None:
    rendered = render_scenario(chart, "ingress")
    ingress = rendered.one("Ingress")
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/callbacks", "Prefix")]
    assert paths[0]["backend"]["service"] == {"name": "sms-sms-bridge", "port": {"name": "http"}}
    assert "https://sms-hooks.example.com/callbacks/tencent/main/<url_token>" in rendered.notes
    assert "https://sms-hooks.example.com/callbacks/nxcloud/main\n" in rendered.notes


def test_notes_give_every_kind_its_callback_url_with_a_token_only_where_it_has_one(chart: Any) -> None:
    values = scenario_values("ingress")
    values["config"] = {"providers": [
        {"kind": "alibaba", "name": "ali", "path": "/callbacks/alibaba/main", "url_token": "${file:ali}"},
        {"kind": "twilio", "name": "tw", "path": "/callbacks/twilio/main", "auth_tokens": ["${file:tw}"]},
    ]}
    notes = render(chart, values).notes
    assert "ali (alibaba;" in notes and "https://sms-hooks.example.com/callbacks/alibaba/main/<url_token>" in notes
    assert "tw (twilio;" in notes and "https://sms-hooks.example.com/callbacks/twilio/main\n" in notes
    assert "JSON push format" not in notes


def test_ingress_refuses_a_provider_path_outside_the_callback_prefix(helm: Any, chart: Any) -> None:
    values = scenario_values("ingress")
    values["config"] = {"providers": [{"kind": "nxcloud", "name": "x", "path": "/hooks/x", "access_keys": []}]}
    with pytest.raises(helm.HelmRenderError, match="must start with /callbacks/"):
        render(chart, values)


def test_networkpolicy_opens_only_the_http_port(chart: Any) -> None:
    spec = render_scenario(chart, "networkpolicy").one("NetworkPolicy")["spec"]
    (rule,) = spec["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert {p["port"] for p in spec["egress"][0]["ports"]} == {53}


def test_a_deleted_pod_keeps_serving_while_routing_stops_and_the_grace_covers_that_too(chart: Any) -> None:
    rendered = render(chart, {"preStopSleepSeconds": 7})  # default config: graceful_shutdown_seconds 20
    assert rendered.container["lifecycle"]["preStop"] == {"exec": {"command": ["sleep", "7"]}}
    assert rendered.pod["spec"]["terminationGracePeriodSeconds"] == 7 + 20 + 15
    without = render(chart, {"preStopSleepSeconds": 0})
    assert "lifecycle" not in without.container
