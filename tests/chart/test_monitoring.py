"""The chart's dashboard and alert rules, read statically: what they query, filter and link to.

What the rules do with data is tested by promtool (test_alert_rules.py); that Prometheus accepts
every query against a live bridge, by tests/integration/test_prometheus_live.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bridge.events import EventType
from bridge.metrics import BridgeMetrics
from bridge.spool.metrics import SpoolMetrics
from tests.chart.render import (
    CHART,
    DASHBOARD,
    NAMESPACE,
    ROOT,
    dashboard_exprs,
    dashboard_panels,
    merged,
    metric_names,
    render,
    render_scenario,
    rules_values,
    scenario_values,
    selectors,
)

RECORDED = {"sms_bridge:kafka_unavailable", "sms_bridge_account:callbacks_stopped", "sms_bridge:callbacks_stopped"}
OUTAGE_SYMPTOMS = {"NotReady", "PublishFailing", "CallbacksStopped", "NoCallbacks", "SlowReplies", "RejectionSpike"}
# The rate window each symptom is measured over (none: an instant or a latched condition).
RATE_WINDOWS = {"PublishFailing": "5m", "SlowReplies": "10m", "RejectionSpike": "10m"}
SPOOL_ALERTS = {"SpoolFilling", "SpoolRecordsOld", "SpoolWriteFailing", "SpoolUnhealthy"}


def exported() -> tuple[set[str], set[str]]:
    """(every series name the bridge exposes, with the suffixed forms; the names carrying `account`)."""
    registry = CollectorRegistry()
    metrics = BridgeMetrics(registry)
    metrics.add_instance("tencent", "main", topics={t: "topic" for t in EventType})
    SpoolMetrics(registry)
    names: set[str] = set()
    with_account: set[str] = set()
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        names.update(family.name + suffix for suffix in ("_total", "_bucket", "_sum", "_count", "_info"))
        for sample in family.samples:
            if "account" in sample.labels:
                with_account.update({sample.name, family.name + "_bucket", family.name + "_total"})
    return names, with_account


def check_names(used: set[str], names: set[str], where: str) -> None:
    assert used <= names, (where, used - names)


def test_the_spool_metrics_have_the_agreed_names() -> None:
    names, _ = exported()
    agreed = {"records", "bytes", "oldest_age_seconds", "healthy", "written_records_total",
              "drained_records_total", "write_failures_total"}  # fmt: skip
    assert {f"sms_bridge_spool_{name}" for name in agreed} <= names


# --- the dashboard -------------------------------------------------------------------------------


def test_dashboard_queries_only_metrics_the_bridge_exports() -> None:
    names, _ = exported()
    used: set[str] = set()
    for expr in dashboard_exprs():
        found = metric_names(expr)
        assert found, expr
        check_names(found, names, expr)
        used |= found
    # The questions it answers: flow, delivery, refusals, dead letters, latency, Kafka, spool.
    assert {
        "sms_bridge_callbacks_total",
        "sms_bridge_delivery_statuses_total",
        "sms_bridge_callback_rejections_total",
        "sms_bridge_dead_letters_total",
        "sms_bridge_callback_duration_seconds_bucket",
        "sms_bridge_event_lag_seconds_bucket",
        "sms_bridge_records_published_total",
        "sms_bridge_kafka_connected",
        "sms_bridge_publish_failures_total",
        "sms_bridge_publish_duration_seconds_bucket",
        "sms_bridge_spool_bytes",
        "sms_bridge_spool_oldest_age_seconds",
    } <= used


def test_every_panel_honours_the_release_and_account_variables() -> None:
    _, with_account = exported()
    for panel in dashboard_panels():
        for target in panel["targets"]:
            for name, matchers in selectors(target["expr"]):
                assert 'namespace="$namespace"' in matchers and 'job="$job"' in matchers, panel["title"]
                if name not in with_account:
                    continue
                if 'provider="none"' in matchers:  # unknown paths belong to no account
                    continue
                assert 'provider=~"$provider"' in matchers, (panel["title"], name)
                assert 'account=~"$account"' in matchers, (panel["title"], name)


def test_no_panel_adds_up_what_is_counted_twice() -> None:
    for panel in dashboard_panels():
        for target in panel["targets"]:
            expr = target["expr"]
            families = metric_names(expr)
            assert not {"sms_bridge_callback_rejections_total", "sms_bridge_dead_letters_total"} <= families
            if "sms_bridge_callbacks_total" in families:  # outcomes are split or one is chosen, never summed
                assert "outcome" in expr, panel["title"]
            if "sms_bridge_callback_duration_seconds_bucket" in families:
                assert "outcome" in expr, panel["title"]


def test_dashboard_shows_delivery_rate_by_provider_and_by_country() -> None:
    by_title = {p["title"]: p for p in dashboard_panels()}
    provider = by_title["Delivery rate by provider"]["targets"][0]["expr"]
    country = by_title["Delivery rate by country (time range)"]["targets"][0]["expr"]
    assert provider.count("sum by (provider)") == 2 and 'status="delivered"' in provider
    assert country.count("sum by (region)") == 2 and 'region!="unknown"' in country


def test_dashboard_variables_are_account_not_instance() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names == ["datasource", "namespace", "job", "provider", "account"]
    assert "$instance" not in DASHBOARD.read_text()


def test_dashboard_ships_as_a_configmap_with_the_sidecar_label(chart: Any) -> None:
    rendered = render_scenario(chart, "dashboard")
    (configmap,) = [d for d in rendered.all("ConfigMap") if d["metadata"]["name"].endswith("-dashboard")]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "SMS"}
    shipped, source = rendered.dashboard(), json.loads(DASHBOARD.read_text())
    assert shipped["panels"] == source["panels"]
    assert (shipped["uid"], shipped["title"]) == ("sms-bridge-prod", "SMS bridge (production)")


def test_each_release_gets_its_own_dashboard_uid_and_title(chart: Any) -> None:
    on = {"grafanaDashboard": {"enabled": True}}
    first, second = render(chart, on, name="sms").dashboard(), render(chart, on, name="sms-eu").dashboard()
    assert first["uid"] != second["uid"] and first["title"] != second["title"]
    assert first["uid"] == f"{NAMESPACE}-sms-sms-bridge"
    assert first["title"] == f"SMS callback bridge ({NAMESPACE}/sms-sms-bridge)"
    current = {v["name"]: v.get("current") for v in first["templating"]["list"]}
    assert current["namespace"]["value"] == NAMESPACE and current["job"]["value"] == "sms-sms-bridge"
    long_a = render(chart, on, name="a" * 40 + "x").dashboard()["uid"]
    long_b = render(chart, on, name="a" * 40 + "y").dashboard()["uid"]
    assert len(long_a) <= 40 and len(long_b) <= 40 and long_a != long_b


# --- the alerts ----------------------------------------------------------------------------------


def test_alerts_query_only_metrics_the_bridge_exports(chart: Any) -> None:
    names, _ = exported()
    for rule in render(chart, rules_values()).rules():
        found = metric_names(rule["expr"])
        assert found, rule
        check_names(found - RECORDED, names, rule.get("alert", rule.get("record", "")))


def github_anchors(markdown: str) -> set[str]:
    headings = re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_alert_has_a_summary_a_description_and_a_runbook_entry(chart: Any) -> None:
    anchors = github_anchors((CHART / "README.md").read_text())
    url = scenario_values("prometheusrule")["prometheusRule"]["runbookUrl"]
    alerts = render(chart, rules_values()).alerts()
    configured = set(yaml.safe_load((CHART / "values.yaml").read_text())["prometheusRule"]["alerts"])
    assert set(alerts) == {f"SmsBridge{name}" for name in configured}
    readme = (ROOT / "README.md").read_text()
    runbook_table = readme.split("### Runbook", 1)[1].split("\n## ", 1)[0]
    for name, rule in alerts.items():
        anchor = f"runbook-{name.lower()}"
        assert rule["annotations"]["runbook_url"] == f"{url}#{anchor}"
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert "{{" not in rule["annotations"]["summary"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert anchor in anchors, f"helm/sms-bridge/README.md has no heading for #{anchor}"
        assert f"[{name}]" in runbook_table, f"README.md's runbook table does not list {name}"


def test_a_kafka_outage_pages_once_and_holds_its_symptoms_back(chart: Any) -> None:
    alerts = render(chart, rules_values()).alerts()
    critical = {name for name, rule in alerts.items() if rule["labels"]["severity"] == "critical"}
    assert "SmsBridgeKafkaUnavailable" in critical
    quiet = "unless on (namespace, job) max_over_time(sms_bridge:kafka_unavailable{"
    for name in OUTAGE_SYMPTOMS:
        assert quiet in alerts[f"SmsBridge{name}"]["expr"], name
        assert "10m]" in alerts[f"SmsBridge{name}"]["expr"].split(quiet, 1)[1]
    assert quiet not in alerts["SmsBridgeKafkaUnavailable"]["expr"]


def test_ratio_denominators_leave_failed_callbacks_out(chart: Any) -> None:
    alerts = render(chart, rules_values()).alerts()
    ratios = {name: rule["expr"] for name, rule in alerts.items() if "/" in rule["expr"]}
    assert {"SmsBridgeRejectionSpike", "SmsBridgeDeadLetterSpike", "SmsBridgePublishFailing"} <= set(ratios)
    for name, expr in ratios.items():
        for metric, matchers in selectors(expr):
            if metric == "sms_bridge_callbacks_total":
                assert 'outcome!="failed"' in matchers, name


def test_alerts_can_be_switched_off_relabelled_and_retuned(chart: Any) -> None:
    alerts = render_scenario(chart, "alerts").alerts()
    assert "SmsBridgeCountryDeliveryRateLow" not in alerts
    assert all(rule["labels"]["team"] == "messaging" for rule in alerts.values())
    slow = alerts["SmsBridgeSlowReplies"]
    assert slow["labels"] == {"severity": "info", "team": "messaging", "routing": "latency"}
    assert slow["for"] == "20m"
    assert "< 0.95" in alerts["SmsBridgeDeliveryRateLow"]["expr"]
    assert "[2h]" in alerts["SmsBridgeDeliveryRateLow"]["expr"]
    assert "[15m])" in alerts["SmsBridgeNotReady"]["expr"]  # kafkaOutageHoldoff


def test_a_holdoff_shorter_than_a_rate_window_holds_that_alert_for_its_window(chart: Any) -> None:
    quiet = "unless on (namespace, job) max_over_time(sms_bridge:kafka_unavailable{"
    for holdoff in ("30s", "1m", "7m"):
        alerts = render(chart, merged(rules_values(), {"prometheusRule": {"kafkaOutageHoldoff": holdoff}})).alerts()
        for name in OUTAGE_SYMPTOMS:
            held = alerts[f"SmsBridge{name}"]["expr"].split(quiet, 1)[1].split("[", 1)[1].split("]", 1)[0]
            window = RATE_WINDOWS.get(name)
            longer = window if window and seconds(window) > seconds(holdoff) else holdoff
            assert held == longer, (holdoff, name)


def seconds(duration: str) -> int:
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[duration[-1]]


def test_runbook_links_point_nowhere_until_runbookurl_is_set(chart: Any) -> None:
    """The chart has no published home: by default no alert links a made-up host."""
    rule = render(chart, {"prometheusRule": {"enabled": True}}).one("PrometheusRule")
    assert "example.com" not in json.dumps(rule)
    assert all("runbook_url" not in r.get("annotations", {}) for g in rule["spec"]["groups"] for r in g["rules"])
    assert yaml.safe_load((CHART / "values.yaml").read_text())["prometheusRule"]["runbookUrl"] == ""


def test_spool_alerts_come_only_with_a_spool(chart: Any) -> None:
    without = set(render_scenario(chart, "prometheusrule").alerts())
    with_spool = render_scenario(chart, "spool-persistence").alerts()
    assert not {f"SmsBridge{a}" for a in SPOOL_ALERTS} & without
    assert {f"SmsBridge{a}" for a in SPOOL_ALERTS} <= set(with_spool)
    assert "/ 4000000000 > 0.8" in with_spool["SmsBridgeSpoolFilling"]["expr"]


def test_prometheusrule_is_off_unless_enabled(chart: Any) -> None:
    assert render_scenario(chart, "default").all("PrometheusRule") == []


def test_promql_name_extraction_ignores_labels_functions_and_keywords() -> None:
    expr = 'sum by (le) (rate(a_bucket{job="x", le!~"b"}[5m])) / on (job) b_total{c="d"} or vector(0) > bool 1'
    assert metric_names(expr) == {"a_bucket", "b_total"}
