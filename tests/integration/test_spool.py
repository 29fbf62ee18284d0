"""The spool in a real bridge process: Kafka cut off, the spool full, the spool file corrupt."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.cli.dev_broker import EmbeddedBroker
from tests.conftest import BridgeProcess
from tests.integration import load
from tests.integration.conftest import proxied_config
from tests.integration.proxy import FaultProxy

pytestmark = pytest.mark.integration

Proxied = tuple[EmbeddedBroker, FaultProxy]
SPOOLED = 200  # callbacks acknowledged (into the spool) while Kafka is cut off: a count, not a time window


def spooled_config(proxy: FaultProxy, spool: Path, **limits: Any) -> dict[str, Any]:
    config = proxied_config(proxy)
    config["spool"] = {"path": str(spool), "budget_seconds": 0.5, **limits}
    return config


def sample(bridge: BridgeProcess, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`, from a live scrape."""
    text = httpx.get(bridge.url + "/metrics", timeout=30).text
    values = [
        metric.value
        for family in text_string_to_metric_families(text)
        for metric in family.samples
        if metric.name == name and labels.items() <= metric.labels.items()
    ]
    if not values:
        raise AssertionError(f"{name} {labels} not exported")
    return float(sum(values))


def wait_for(condition: Callable[[], bool], within: float = 90.0) -> None:
    """Poll `condition` until it holds; the deadline is generous (a loaded machine is slow, not wrong)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.1)


def post(bridge: BridgeProcess, message_id: str | None = None) -> httpx.Response:
    body = load.tencent_body(message_id or uuid.uuid4().hex, load.SECOND)
    return httpx.post(load.tencent_url(bridge.url), content=body, timeout=60)


def ready(bridge: BridgeProcess) -> bool:
    return httpx.get(bridge.url + "/readyz", timeout=30).status_code == 200


def test_while_kafka_is_cut_off_a_spooling_bridge_answers_success_stays_ready_and_delivers_later(
    proxied_broker: Proxied, bridge_process: Callable[..., BridgeProcess], tmp_path: Path
) -> None:
    _broker, proxy = proxied_broker
    bridge = bridge_process(spooled_config(proxy, tmp_path / "spool.db"))
    proxy.cut()
    wait_for(lambda: sample(bridge, "sms_bridge_kafka_connected") == 0)
    tally = asyncio.run(load.run(bridge.url, load.acknowledged(SPOOLED), workers=4, pause=0.01))
    assert ready(bridge)
    assert sample(bridge, "sms_bridge_spool_records") == len(tally.acknowledged)
    proxy.restore()
    wait_for(lambda: sample(bridge, "sms_bridge_spool_records") == 0)
    found = load.read_back(proxy.address, tally)
    print(found.line(f"kafka cut off for {SPOOLED} callbacks, spool on", tally))
    assert (tally.failure_replies, tally.transport_errors, dict(tally.other_statuses)) == (0, 0, {})
    assert found.lost == 0 and found.ids_differing == 0 and found.out_of_order == 0
    assert len(tally.acknowledged) >= SPOOLED
    assert sample(bridge, "sms_bridge_spool_drained_records_total") == len(tally.acknowledged)


def test_a_full_spool_answers_503_with_retry_after_turns_unready_and_recovers_when_kafka_returns(
    proxied_broker: Proxied, bridge_process: Callable[..., BridgeProcess], tmp_path: Path
) -> None:
    _broker, proxy = proxied_broker
    bridge = bridge_process(spooled_config(proxy, tmp_path / "spool.db", max_bytes=64 * 1024))
    proxy.cut()
    wait_for(lambda: sample(bridge, "sms_bridge_kafka_connected") == 0)
    accepted: list[str] = []
    for _ in range(500):
        message_id = uuid.uuid4().hex
        reply = post(bridge, message_id)
        if reply.status_code != 200:
            break
        accepted.append(message_id)
    assert reply.status_code == 503 and reply.headers["retry-after"] == "5"
    assert orjson.loads(reply.content)["result"] == 503  # Tencent's own reply format
    assert 20 < len(accepted) < 500
    assert not ready(bridge)
    assert sample(bridge, "sms_bridge_spool_write_failures_total") >= 1
    proxy.restore()
    wait_for(lambda: ready(bridge) and sample(bridge, "sms_bridge_spool_records") == 0)
    assert post(bridge).status_code == 200
    tally = load.Tally(acknowledged=[(m, load.SECOND[1]) for m in accepted])
    found = load.read_back(proxy.address, tally)
    assert found.lost == 0 and found.ids_differing == 0


def test_a_corrupt_spool_file_is_set_aside_and_the_bridge_serves_without_a_spool(
    proxied_broker: Proxied, bridge_process: Callable[..., BridgeProcess], tmp_path: Path
) -> None:
    _broker, proxy = proxied_broker
    spool = tmp_path / "spool.db"
    garbage = b"\x00\xffnot sqlite" * 4096
    spool.write_bytes(garbage)
    bridge = bridge_process(spooled_config(proxy, spool))
    assert ready(bridge)  # it started, and serves
    assert sample(bridge, "sms_bridge_spool_healthy") == 0
    asides = list(tmp_path.glob("spool.db.corrupt-*"))
    assert [p.read_bytes() for p in asides] == [garbage]
    errors = [orjson.loads(line) for line in bridge.logs().splitlines() if '"spool_unavailable"' in line]
    assert len(errors) == 1 and errors[0]["level"] == "error" and "moved to spool.db.corrupt-" in errors[0]["detail"]
    message_id = uuid.uuid4().hex
    assert post(bridge, message_id).status_code == 200  # Kafka up: straight through
    proxy.cut()
    wait_for(lambda: not ready(bridge))
    reply = post(bridge)
    assert reply.status_code == 503 and reply.headers["retry-after"] == "5"  # no spool: the failure reply
    proxy.restore()
    found = load.read_back(proxy.address, load.Tally(acknowledged=[(message_id, load.SECOND[1])]))
    assert found.lost == 0
    assert not spool.exists()  # no new spool until a restart: the operator decides (README, Reliability)
