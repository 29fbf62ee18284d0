"""Scenarios on the durable broker (Tansu's s3:// engine on a local moto_server): nothing that was
acknowledged is lost when the broker or the bridge is killed, and the spool rides out an outage.

These are the long ones (marked `durable`, about two and a half minutes together); CI runs them.
Each prints its figures; the README's Reliability section quotes one run.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.cli.dev_broker import EmbeddedBroker
from tests.conftest import BridgeProcess, config_dict
from tests.integration import load
from tests.integration.test_spool import sample, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.durable]

OUTAGE_SECONDS = 60.0


def spooled(broker: EmbeddedBroker, spool: Path, **options: Any) -> dict[str, Any]:
    config = config_dict(broker.bootstrap)
    config["spool"] = {"path": str(spool), **options}
    return config


def later(seconds: float, action: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_broker_sigkill_and_restart_under_load_loses_nothing_acknowledged(
    durable_broker: EmbeddedBroker, bridge_process: Callable[..., BridgeProcess]
) -> None:
    bridge = bridge_process(config_dict(durable_broker.bootstrap))
    killed_at: list[float] = []

    def kill_and_restart() -> None:
        durable_broker.kill()  # SIGKILL: what it acknowledged is in the object store
        killed_at.append(time.monotonic())
        time.sleep(3.0)
        durable_broker.start()

    faults = later(4.0, kill_and_restart)
    tally = asyncio.run(load.run(bridge.url, seconds=12, workers=6, pause=0.02))
    faults.join()
    found = load.read_back(durable_broker.bootstrap, tally)
    acked_before_kill = sum(1 for at in tally.acknowledged_at if at < killed_at[0])
    print(found.line("broker SIGKILL + restart under load, no spool", tally) + f", before_kill={acked_before_kill}")
    assert found.lost == 0 and found.ids_differing == 0 and found.out_of_order == 0
    assert acked_before_kill > 50 and len(tally.acknowledged) > acked_before_kill + 50  # load on both sides
    assert not tally.other_statuses


def test_a_60_s_kafka_outage_under_load_with_the_spool_on_is_answered_success_throughout(
    durable_broker: EmbeddedBroker, bridge_process: Callable[..., BridgeProcess], tmp_path: Path
) -> None:
    bridge = bridge_process(spooled(durable_broker, tmp_path / "spool.db"))
    readiness: list[int] = []
    outage = threading.Event()

    def outage_of_a_minute() -> None:
        durable_broker.kill()
        outage.set()
        deadline = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < deadline:
            readiness.append(httpx.get(bridge.url + "/readyz", timeout=5).status_code)
            time.sleep(1.0)
        outage.clear()
        durable_broker.start()

    faults = later(5.0, outage_of_a_minute)
    tally = asyncio.run(load.run(bridge.url, seconds=OUTAGE_SECONDS + 12, workers=4, pause=0.1))
    faults.join()
    peak = sample(bridge, "sms_bridge_spool_written_records_total")
    wait_for(lambda: sample(bridge, "sms_bridge_spool_records") == 0, within=120)
    found = load.read_back(durable_broker.bootstrap, tally, timeout=180)
    drains = [line for line in bridge.logs().splitlines() if '"spool_drained"' in line]
    print(found.line(f"{OUTAGE_SECONDS:.0f} s broker outage under load, spool on (spooled {peak:.0f})", tally), drains)
    assert (tally.failure_replies, tally.transport_errors, dict(tally.other_statuses)) == (0, 0, {})
    assert set(readiness) == {200} and len(readiness) > OUTAGE_SECONDS / 2  # a spooling pod stays ready
    assert found.lost == 0 and found.ids_differing == 0 and found.out_of_order == 0
    assert peak > 0.5 * OUTAGE_SECONDS * 4 / 0.2  # the load went on through the outage, into the spool
    assert sample(bridge, "sms_bridge_spool_drained_records_total") >= peak


def test_kill_9_of_the_bridge_while_the_spool_drains_then_a_restart_loses_nothing(
    durable_broker: EmbeddedBroker, bridge_process: Callable[..., BridgeProcess], tmp_path: Path
) -> None:
    config = spooled(durable_broker, tmp_path / "spool.db", drain_batch_records=5)
    bridge = bridge_process(config)
    durable_broker.kill()
    wait_for(lambda: sample(bridge, "sms_bridge_kafka_connected") == 0)
    tally = asyncio.run(load.run(bridge.url, seconds=3, workers=2, pause=0.0))
    spooled_records = sample(bridge, "sms_bridge_spool_records")
    assert tally.failure_replies == 0 and spooled_records == len(tally.acknowledged) > 50
    durable_broker.start()
    wait_for(lambda: sample(bridge, "sms_bridge_spool_drained_records_total") > 0)
    assert bridge.process is not None
    bridge.process.send_signal(signal.SIGKILL)  # mid-drain: some records sent, not all deleted
    bridge.process.wait(timeout=10)
    restarted = bridge_process(config)
    left = [line for line in restarted.logs().splitlines() if '"spool_open"' in line]
    wait_for(lambda: sample(restarted, "sms_bridge_spool_records") == 0, within=120)
    found = load.read_back(durable_broker.bootstrap, tally)
    print(found.line("bridge kill -9 while the spool drains, then restart", tally) + f", reopened: {left}")
    assert found.lost == 0 and found.ids_differing == 0 and found.out_of_order == 0
    assert left and '"records":0' not in left[0], "the kill came after the drain had finished"
