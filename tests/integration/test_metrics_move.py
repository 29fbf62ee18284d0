"""Every metric family in the README moves when its cause happens, on a live scrape."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.broker import free_port
from tests.conftest import config_dict, fixture_bytes
from tests.integration.conftest import proxied_config
from tests.integration.test_end_to_end import nx_body, post_nx, tencent_url

pytestmark = pytest.mark.integration


def scrape(url: str) -> dict[str, float]:
    """Sample name + sorted labels -> value, from the bridge's /metrics."""
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics").text):
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

    report = fixture_bytes("tencent", "status.json").replace(b"xxxxxxx\"", uuid.uuid4().hex.encode() + b"\"")
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
    assert delta("sms_bridge_callback_rejections_total", reason="bad_token") == 1
    assert delta("sms_bridge_callback_rejections_total", reason="invalid_json") == 1
    assert delta("sms_bridge_records_published_total", type="sms.delivery_receipt") == 1
    assert delta("sms_bridge_records_published_total", type="sms.inbound_message") == 1
    assert delta("sms_bridge_dead_letters_total", reason="invalid_json", instance="nxcloud-test") == 1
    assert delta("sms_bridge_delivery_statuses_total", status="delivered", provider="tencent") == 1
    assert delta("sms_bridge_callback_duration_seconds_count") == 4
    assert delta("sms_bridge_publish_duration_seconds_count") == 2
    assert delta("sms_bridge_event_lag_seconds_count", provider="tencent") == 1
    assert delta("sms_bridge_event_lag_seconds_sum", provider="tencent") > 3600 * 24 * 365  # a 2015 receipt
    assert total(after, "sms_bridge_callbacks_in_flight") == 0
    assert total(after, "sms_bridge_kafka_connected") == 1
    assert total(after, "sms_bridge_ready") == 1


def test_in_flight_and_publish_failures_move_when_kafka_stalls(proxied_broker, bridge_process) -> None:  # type: ignore[no-untyped-def]
    broker, proxy = proxied_broker
    bridge = bridge_process(proxied_config(proxy))
    proxy.stall()
    replies: list[int] = []
    posting = threading.Thread(target=lambda: replies.append(
        httpx.post(tencent_url(bridge), content=fixture_bytes("tencent", "status.json"), timeout=10).status_code))
    posting.start()
    deadline = time.monotonic() + 1.5
    in_flight = 0.0
    while time.monotonic() < deadline and in_flight == 0:
        in_flight = total(scrape(bridge.url), "sms_bridge_callbacks_in_flight")
    posting.join()
    proxy.restore()
    assert in_flight == 1
    assert replies == [503]
    after = scrape(bridge.url)
    assert total(after, "sms_bridge_publish_failures_total", reason="timeout") == 1
    assert total(after, "sms_bridge_callbacks_total", outcome="failed") == 1
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
