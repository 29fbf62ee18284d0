"""Every metric family in the README moves when its cause happens, on a live scrape."""

from __future__ import annotations

import gzip
import threading
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.cli.dev_broker import free_port
from tests.conftest import config_dict, fixture_bytes
from tests.integration.conftest import proxied_config
from tests.integration.test_end_to_end import nx_body, post_nx, tencent_url

pytestmark = pytest.mark.integration


def scrape(url: str) -> dict[str, float]:
    """Sample name + sorted labels -> value, from the bridge's /metrics."""
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics", timeout=30).text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "le")
            if "le" in s.labels:
                continue
            samples[f"{s.name}{{{labels}}}"] = s.value
    return samples


def total(samples: dict[str, float], name: str, **labels: str) -> float:
    wanted = [f"{k}={v}" for k, v in labels.items()]
    return sum(v for k, v in samples.items() if k.split("{")[0] == name and all(w in k for w in wanted))


def test_each_metric_moves_with_its_cause(broker, bridge_process) -> None:  # type: ignore[no-untyped-def]
    bridge = bridge_process(config_dict(broker.bootstrap))
    before = scrape(bridge.url)
    assert total(before, "sms_bridge_build_info") == 1
    assert total(before, "sms_bridge_callbacks_total") == 0

    report = fixture_bytes("tencent", "status.json").replace(b"13xxxxxxxxx", b"13800138000")  # valid: region CN
    report = report.replace(b'"sid":"xxxxxxx"', f'"sid":"{uuid.uuid4().hex}"'.encode())
    assert httpx.post(tencent_url(bridge), content=report).status_code == 200
    assert post_nx(bridge, "mo", nx_body("mo", uuid.uuid4().hex)).status_code == 200
    assert post_nx(bridge, "dr", b"{broken").status_code == 400
    assert httpx.post(f"{bridge.url}/callbacks/tencent/test/not-the-token-0123456789", content=b"[]").status_code == 401
    after = scrape(bridge.url)

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("sms_bridge_callbacks_total", outcome="accepted") == 2
    assert delta("sms_bridge_callbacks_total", outcome="dead_lettered") == 1
    assert delta("sms_bridge_callbacks_total", outcome="rejected") == 1
    assert delta("sms_bridge_callback_rejections_total", reason="bad_token", account="tencent-test") == 1
    assert delta("sms_bridge_callback_rejections_total") == 1  # a dead letter is not a refusal
    assert delta("sms_bridge_dead_letters_total", reason="invalid_json", account="nxcloud-test") == 1
    assert delta("sms_bridge_records_published_total", type="sms.delivery_receipt", account="tencent-test") == 1
    assert delta("sms_bridge_records_published_total", type="sms.inbound_message", account="nxcloud-test") == 1
    assert delta("sms_bridge_delivery_statuses_total", status="delivered", provider="tencent", region="CN") == 1
    assert delta("sms_bridge_callback_duration_seconds_count") == 4
    assert delta("sms_bridge_callback_duration_seconds_count", outcome="dead_lettered", account="nxcloud-test") == 1
    assert delta("sms_bridge_publish_duration_seconds_count", outcome="ok") == 3
    assert delta("sms_bridge_publish_duration_seconds_count", outcome="failed") == 0
    assert delta("sms_bridge_event_lag_seconds_count", provider="tencent", account="tencent-test") == 1
    assert delta("sms_bridge_event_lag_seconds_sum", provider="tencent") > 3600 * 24 * 365  # a 2015 receipt
    assert not [k for k in after if "instance=" in k]  # the account label is `account`
    assert total(after, "sms_bridge_callbacks_in_flight") == 0
    assert total(after, "sms_bridge_kafka_connected") == 1
    assert total(after, "sms_bridge_ready") == 1


STALLED_PRODUCE_TIMEOUT = 10.0


def test_in_flight_and_publish_failures_move_when_kafka_stalls(proxied_broker, bridge_process) -> None:  # type: ignore[no-untyped-def]
    _broker, proxy = proxied_broker
    # A long produce deadline (not conftest's 2 s): the callback stays in flight long enough for a
    # scrape to see it however slow this machine is; the assertions below use the same deadline.
    config = proxied_config(proxy, reply_deadline_seconds=STALLED_PRODUCE_TIMEOUT + 10)
    config["kafka"]["produce_timeout_seconds"] = STALLED_PRODUCE_TIMEOUT
    bridge = bridge_process(config)
    proxy.stall()
    replies: list[int] = []
    posting = threading.Thread(target=lambda: replies.append(
        httpx.post(tencent_url(bridge), content=fixture_bytes("tencent", "status.json"), timeout=60).status_code))
    posting.start()
    in_flight = 0.0
    while posting.is_alive() and in_flight == 0:  # until the scrape sees it, or the reply came
        in_flight = total(scrape(bridge.url), "sms_bridge_callbacks_in_flight")
    posting.join(timeout=60)
    proxy.restore()
    assert in_flight == 1
    assert replies == [503]
    after = scrape(bridge.url)
    assert total(after, "sms_bridge_publish_failures_total", reason="timeout") == 1
    assert total(after, "sms_bridge_callbacks_total", outcome="failed") == 1
    # the failed publish is timed too, up to the produce timeout, with its outcome
    assert total(after, "sms_bridge_publish_duration_seconds_count", outcome="failed") == 1
    # (10 ms of slack: once, under load, the sum was 9.99987 s: the produce deadline is a loop timer
    # set inside the publish, the duration a perf_counter around it, and they need not agree to the us)
    assert total(after, "sms_bridge_publish_duration_seconds_sum", outcome="failed") >= STALLED_PRODUCE_TIMEOUT - 0.01
    assert total(after, "sms_bridge_callbacks_in_flight") == 0


def test_kafka_connected_and_ready_are_zero_without_a_broker(bridge_process) -> None:  # type: ignore[no-untyped-def]
    bridge = bridge_process(config_dict(f"127.0.0.1:{free_port()}"), wait_ready=False)
    samples = scrape(bridge.url)
    assert total(samples, "sms_bridge_kafka_connected") == 0
    assert total(samples, "sms_bridge_ready") == 0
    assert httpx.get(bridge.url + "/readyz").status_code == 503
    reply = httpx.post(tencent_url(bridge), content=fixture_bytes("tencent", "status.json"))
    assert reply.status_code == 503 and reply.headers["retry-after"] == "5"
    assert total(scrape(bridge.url), "sms_bridge_publish_failures_total", reason="not_connected") == 1


def test_metrics_endpoint_negotiates_openmetrics_and_gzip(broker, bridge_process) -> None:  # type: ignore[no-untyped-def]
    bridge = bridge_process(config_dict(broker.bootstrap))
    plain = httpx.get(bridge.url + "/metrics", headers={"accept-encoding": "identity"})
    assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "content-encoding" not in plain.headers
    openmetrics = httpx.get(bridge.url + "/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")
    with httpx.stream("GET", bridge.url + "/metrics", headers={"accept-encoding": "gzip"}) as zipped:
        assert zipped.headers["content-encoding"] == "gzip"
        raw = b"".join(zipped.iter_raw())
    assert gzip.decompress(raw).startswith(b"# HELP ")
    assert len(raw) < len(plain.content) / 3
