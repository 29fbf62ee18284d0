"""Kafka down, no spool: callbacks are refused at once (not after the produce deadline), and the
log says so once instead of aiokafka's dozens of lines a second."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable

import httpx
import orjson
import pytest

from bridge.cli.dev_broker import EmbeddedBroker
from tests.conftest import BridgeProcess
from tests.integration import load
from tests.integration.conftest import proxied_config
from tests.integration.proxy import FaultProxy
from tests.integration.test_spool import post, ready, sample, wait_for

pytestmark = pytest.mark.integration


def test_a_known_down_broker_gets_503_at_once_and_one_log_line_per_state_change(
    proxied_broker: tuple[EmbeddedBroker, FaultProxy], bridge_process: Callable[..., BridgeProcess]
) -> None:
    _broker, proxy = proxied_broker
    bridge = bridge_process(proxied_config(proxy))
    proxy.cut()
    wait_for(lambda: sample(bridge, "sms_bridge_kafka_connected") == 0)
    with httpx.Client(timeout=15) as client:
        replies = [
            client.post(load.tencent_url(bridge.url), content=load.tencent_body(uuid.uuid4().hex, load.SECOND))
            for _ in range(300)
        ]
    assert {(r.status_code, r.headers["retry-after"]) for r in replies} == {(503, "5")}
    refused = sample(bridge, "sms_bridge_publish_failures_total", reason="not_connected")
    assert refused == len(replies)  # none of them waited for the produce deadline ("timeout")
    proxy.restore()
    wait_for(lambda: sample(bridge, "sms_bridge_kafka_connected") == 1)
    lines = [orjson.loads(line) for line in bridge.logs().splitlines() if line.startswith("{")]
    by_logger = Counter(line["logger"] for line in lines)
    events = Counter(line.get("event") for line in lines)
    aiokafka = sum(n for name, n in by_logger.items() if name.startswith("aiokafka"))
    print(f"\n[kafka down, 300 callbacks] log lines by logger: {dict(by_logger)}")
    assert (events["kafka_disconnected"], events["kafka_reconnected"]) == (1, 1)
    assert aiokafka <= 10  # the first line of each kind; the repeats go into the minute's summary


def test_a_cut_link_refuses_the_next_callback_at_once_not_at_the_produce_deadline(
    proxied_broker: tuple[EmbeddedBroker, FaultProxy], bridge_process: Callable[..., BridgeProcess]
) -> None:
    """aiokafka sees the cut at once (its connection is reset): the bridge marks Kafka down then, not
    at its next metadata probe, so a callback right after the cut is refused `not_connected` instead
    of waiting for the produce deadline (`timeout`)."""
    _broker, proxy = proxied_broker
    bridge = bridge_process(proxied_config(proxy))
    assert post(bridge).status_code == 200  # connected, and a write went through the proxy
    proxy.cut()
    replies = [post(bridge) for _ in range(3)]
    assert [r.status_code for r in replies] == [503, 503, 503]
    assert sample(bridge, "sms_bridge_publish_failures_total", reason="timeout") == 0
    assert sample(bridge, "sms_bridge_publish_failures_total", reason="not_connected") == len(replies)
    proxy.restore()
    wait_for(lambda: ready(bridge))
    assert post(bridge).status_code == 200
