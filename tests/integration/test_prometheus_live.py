"""A real Prometheus (Debian's `prometheus` binary) scraping a real bridge process with the chart's
rules loaded: every dashboard query and every rule expression evaluates through the HTTP API, the
account label survives default scrape settings, and a Kafka outage fires one alert, not its symptoms."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bridge.cli.dev_broker import free_port
from tests.chart.render import (
    CHART,
    JOB,
    NAMESPACE,
    dashboard_exprs,
    dashboard_panels,
    merged,
    metric_names,
    rules_values,
    variable_queries,
    write_rules,
)
from tests.conftest import config_dict, fixture_bytes, require_tool
from tests.integration.test_end_to_end import nx_body, post_nx, tencent_url

pytestmark = pytest.mark.integration

POD = "sms-sms-bridge-0"
START_TIMEOUT_SECONDS = 60.0
WAIT_TIMEOUT_SECONDS = 60.0
# What Grafana would put in: all providers and accounts, this release, short windows for a young TSDB.
VARIABLES = {
    "$namespace": NAMESPACE, "$job": JOB, "$provider": ".*", "$account": ".*",
    "$__rate_interval": "1m", "$__range": "5m",
}  # fmt: skip


def substitute(expr: str) -> str:
    for name in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, VARIABLES[name])
    return expr


class Prometheus:
    """`prometheus` on a free loopback port with a tmp TSDB, scraping one bridge every second."""

    def __init__(self, binary: str, workdir: Path, target: str, rules: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [
                {   # as the ServiceMonitor makes it: job = the Service name, namespace and pod labels
                    "job_name": JOB,
                    "static_configs": [{"targets": [target], "labels": {"namespace": NAMESPACE, "pod": POD}}],
                }
            ],
        }  # fmt: skip
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = workdir / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.binary = binary

    def start(self) -> Prometheus:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.workdir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait(lambda: httpx.get(self.url + "/-/ready", timeout=1).status_code == 200, START_TIMEOUT_SECONDS)
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def wait(self, condition: Callable[[], bool], timeout: float = WAIT_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            try:
                if condition():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"condition not met within {timeout} s; prometheus log: {self.log.read_text()[-2000:]}")

    def api(self, path: str, **params: str) -> Any:
        reply = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = reply.json()
        assert reply.status_code == 200 and body["status"] == "success", (path, params, body)
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] == "vector" else [data]
        return result

    def firing(self) -> dict[str, str]:
        """alertname -> state of every pending or firing alert."""
        return {a["labels"]["alertname"]: a["state"] for a in self.api("alerts")["alerts"]}


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[str, dict[str, Any]], Prometheus]]:
    binary = require_tool("prometheus", "prometheus")
    helm = pytest.importorskip("helm_python", reason="rendering the chart's rules needs helm-python-sdk")
    started: list[Prometheus] = []

    def start(target: str, values: dict[str, Any]) -> Prometheus:
        rules = tmp_path / "rules.yaml"
        with helm.Chart.load(CHART) as chart:
            write_rules(chart, rules, values)
        server = Prometheus(binary, tmp_path, target, rules)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


def rule_health(server: Prometheus) -> dict[str, tuple[str, str]]:
    """rule name -> (health, last error), once every rule has been evaluated."""
    rules = [r for g in server.api("rules")["groups"] for r in g["rules"]]
    if any(r["lastEvaluation"].startswith("0001-") for r in rules):
        return {}
    return {r["name"]: (r["health"], r.get("lastError", "")) for r in rules}


def test_every_dashboard_query_and_rule_evaluates_on_a_live_bridge(broker, bridge_process, prometheus) -> None:  # type: ignore[no-untyped-def]
    bridge = bridge_process(config_dict(broker.bootstrap))
    report = fixture_bytes("tencent", "status.json").replace(b"13xxxxxxxxx", b"13800138000")
    report = report.replace(b'"sid":"xxxxxxx"', f'"sid":"{uuid.uuid4().hex}"'.encode())
    assert httpx.post(tencent_url(bridge), content=report).status_code == 200
    assert post_nx(bridge, "mo", nx_body("mo", uuid.uuid4().hex)).status_code == 200
    assert post_nx(bridge, "dr", b"{broken").status_code == 400
    server = prometheus(f"127.0.0.1:{bridge.port}", rules_values())
    server.wait(lambda: bool(server.query(f'count_over_time(sms_bridge_ready{{job="{JOB}"}}[1m]) >= 3')))
    server.wait(lambda: bool(rule_health(server)))

    # The variables list this release and both accounts: `account` survives default honor_labels.
    values: dict[str, set[str]] = {}
    for name, selector in variable_queries():
        series = server.api("series", **{"match[]": substitute(selector)})
        values[name] = {s[name] for s in series if name in s}
    assert values == {
        "namespace": {NAMESPACE}, "job": {JOB}, "provider": {"tencent", "nxcloud"},
        "account": {"tencent-test", "nxcloud-test"},
    }  # fmt: skip
    assert server.query(f'sms_bridge_build_info{{instance="127.0.0.1:{bridge.port}"}}')

    # Every panel query evaluates; all but the spool's (no spool here) return series.
    for panel in dashboard_panels():
        for target in panel["targets"]:
            result = server.query(substitute(target["expr"]))
            if not any(name.startswith("sms_bridge_spool_") for name in metric_names(target["expr"])):
                assert result, (panel["title"], target["expr"])
    assert all(server.query(substitute(e)) is not None for e in dashboard_exprs())

    # Every rule evaluates in the rule manager without error, and as a query.
    health = rule_health(server)
    assert {name: h for name, h in health.items() if h != ("ok", "")} == {}
    with_spool = {"SmsBridgeSpoolFilling", "SmsBridgeSpoolRecordsOld", "SmsBridgeSpoolWriteFailing",
                  "SmsBridgeSpoolUnhealthy"}  # fmt: skip
    assert with_spool <= set(health) and "sms_bridge:kafka_unavailable" in health
    rules = yaml.safe_load((server.workdir / "rules.yaml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            server.query(rule["expr"])
    delivered = server.query(
        f'sum by (region) (sms_bridge_delivery_statuses_total{{job="{JOB}", status="delivered", region="CN"}})'
    )
    assert [float(r["value"][1]) for r in delivered] == [1.0]


def test_a_kafka_outage_fires_one_alert_and_holds_its_symptoms_back(bridge_process, prometheus) -> None:  # type: ignore[no-untyped-def]
    bridge = bridge_process(config_dict(f"127.0.0.1:{free_port()}"), wait_ready=False)  # no broker there
    reply = httpx.post(tencent_url(bridge), content=fixture_bytes("tencent", "status.json"))
    assert reply.status_code == 503
    at_once = {name: {"for": "0s"} for name in yaml.safe_load((CHART / "values.yaml").read_text())
               ["prometheusRule"]["alerts"]}  # fmt: skip
    server = prometheus(f"127.0.0.1:{bridge.port}", merged(rules_values(), {"prometheusRule": {"alerts": at_once}}))
    server.wait(lambda: server.firing().get("SmsBridgeKafkaUnavailable") == "firing")
    server.wait(lambda: bool(rule_health(server)))
    assert server.query(f'sms_bridge_ready{{job="{JOB}", pod="{POD}"}} == 0')  # NotReady's condition holds...
    assert server.query(f'sms_bridge_publish_failures_total{{job="{JOB}", reason="not_connected"}} == 1')
    firing = server.firing()
    assert firing == {"SmsBridgeKafkaUnavailable": "firing"}  # ...but only the outage alerts
