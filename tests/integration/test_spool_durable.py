"""Scenarios on the durable broker (Tansu's s3:// engine on a local moto_server): nothing that was
acknowledged is lost when the broker or the bridge is killed, and the spool rides out an outage.

These are the long ones (marked `durable`, about two and a half minutes together on an idle
machine); CI runs them. Load and faults are counted in callbacks acknowledged, not in seconds: a
loaded machine makes them longer, not different.
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

OUTAGE_SECONDS = 60.0  # the outage lasts at least this long (and until enough load went into the spool)
LOAD = 60  # callbacks acknowledged before a fault, and again after it: the load is on both sides
GIVE_UP = 240.0  # faults and load give up here whatever happens; the test then fails on what it asserts


def spooled(broker: EmbeddedBroker, spool: Path, **options: Any) -> dict[str, Any]:
    config = config_dict(broker.bootstrap)
    config["spool"] = {"path": str(spool), **options}
    return config


def until(condition: Callable[[], bool], what: str, within: float = GIVE_UP) -> None:
    """Poll `condition` (from a faults thread) until it holds; fail after a generous deadline."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        time.sleep(0.05)


class Faults:
    """Runs `action(tally)` in a thread beside the load; `done` is set when it returns or fails (then
    `error` says why, and the test re-raises it). The load runs until `done` and a condition of its own."""

    def __init__(self, action: Callable[[load.Tally], None], tally: load.Tally) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None

        def run() -> None:
            try:
                action(tally)
            except BaseException as exc:  # re-raised in the test's thread by check()
                self.error = exc
            finally:
                self.done.set()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def check(self) -> None:
        self._thread.join(timeout=GIVE_UP)
        if self.error is not None:
            raise self.error


def test_broker_sigkill_and_restart_under_load_loses_nothing_acknowledged(
    durable_broker: EmbeddedBroker, bridge_process: Callable[..., BridgeProcess]
) -> None:
    bridge = bridge_process(config_dict(durable_broker.bootstrap))
    killed_at: list[float] = []
    tally = load.Tally()

    def kill_and_restart(tally: load.Tally) -> None:
        until(lambda: len(tally.acknowledged) > LOAD, f"{LOAD} callbacks acknowledged before the kill")
        durable_broker.kill()  # SIGKILL: what it acknowledged is in the object store
        killed_at.append(time.monotonic())
        time.sleep(3.0)  # the broker is away for a while: part of the fault, nothing is measured by it
        durable_broker.start()

    faults = Faults(kill_and_restart, tally)

    def enough(tally: load.Tally) -> bool:  # the broker is back and LOAD more were acknowledged since the kill
        return faults.done.is_set() and (not killed_at or sum(1 for at in tally.acknowledged_at
                                                               if at > killed_at[0]) > LOAD)

    asyncio.run(load.run(bridge.url, enough, workers=6, pause=0.02, give_up=GIVE_UP, tally=tally))
    faults.check()
    found = load.read_back(durable_broker.bootstrap, tally, timeout=180)
    acked_before_kill = sum(1 for at in tally.acknowledged_at if at < killed_at[0])
    print(found.line("broker SIGKILL + restart under load, no spool", tally) + f", before_kill={acked_before_kill}")
    assert found.lost == 0 and found.ids_differing == 0 and found.out_of_order == 0
    assert acked_before_kill > LOAD and len(tally.acknowledged) > acked_before_kill + LOAD  # load on both sides
    assert not tally.other_statuses


SPOOLED = 300  # callbacks acknowledged while the broker is down, at least: the load went into the spool


def test_a_60_s_kafka_outage_under_load_with_the_spool_on_is_answered_success_throughout(
    durable_broker: EmbeddedBroker, bridge_process: Callable[..., BridgeProcess], tmp_path: Path
) -> None:
    bridge = bridge_process(spooled(durable_broker, tmp_path / "spool.db"))
    readiness: list[int] = []
    outage: list[float] = []  # when it began and ended
    tally = load.Tally()

    def during_outage(tally: load.Tally) -> int:
        return sum(1 for at in tally.acknowledged_at if outage and at > outage[0])

    def an_outage_of_a_minute_or_more(tally: load.Tally) -> None:
        until(lambda: len(tally.acknowledged) > 20, "the load reached the bridge")
        durable_broker.kill()
        outage.append(time.monotonic())
        try:
            # At least OUTAGE_SECONDS, and on until the load has put SPOOLED callbacks into the
            # spool and readiness was seen often enough (a loaded machine takes longer, not fewer).
            while (time.monotonic() < outage[0] + OUTAGE_SECONDS or during_outage(tally) < SPOOLED
                   or len(readiness) <= OUTAGE_SECONDS / 2):
                if time.monotonic() > outage[0] + GIVE_UP:
                    break  # the assertions below say what was missing
                readiness.append(httpx.get(bridge.url + "/readyz", timeout=30).status_code)
                time.sleep(1.0)
        finally:
            outage.append(time.monotonic())
            durable_broker.start()

    faults = Faults(an_outage_of_a_minute_or_more, tally)
    after_outage = 20  # acknowledged after the broker is back: the load went on past the outage

    def enough(tally: load.Tally) -> bool:
        return faults.done.is_set() and (len(outage) < 2 or sum(1 for at in tally.acknowledged_at
                                                                 if at > outage[1]) >= after_outage)

    asyncio.run(load.run(bridge.url, enough, workers=4, pause=0.1, give_up=OUTAGE_SECONDS + GIVE_UP, tally=tally))
    faults.check()
    acknowledged_in_outage = sum(1 for at in tally.acknowledged_at if outage[0] < at < outage[1])
    peak = sample(bridge, "sms_bridge_spool_written_records_total")
    wait_for(lambda: sample(bridge, "sms_bridge_spool_records") == 0, within=180)
    found = load.read_back(durable_broker.bootstrap, tally, timeout=180)
    drains = [line for line in bridge.logs().splitlines() if '"spool_drained"' in line]
    print(found.line(f"{outage[1] - outage[0]:.0f} s broker outage under load, spool on (spooled {peak:.0f}, "
                     f"acknowledged during the outage {acknowledged_in_outage})", tally), drains)
    assert (tally.failure_replies, tally.transport_errors, dict(tally.other_statuses)) == (0, 0, {})
    assert set(readiness) == {200} and len(readiness) > OUTAGE_SECONDS / 2  # a spooling pod stays ready
    assert outage[1] - outage[0] >= OUTAGE_SECONDS
    assert found.lost == 0 and found.ids_differing == 0 and found.out_of_order == 0
    # The load went on through the outage, into the spool: everything acknowledged while the
    # broker was down was spooled (before: a throughput bound, 600 in 60 s).
    assert acknowledged_in_outage >= SPOOLED
    assert peak >= acknowledged_in_outage
    assert sample(bridge, "sms_bridge_spool_drained_records_total") >= peak


DRAINED = 600  # callbacks spooled while the broker is down, then drained in batches of 5


def test_kill_9_of_the_bridge_while_the_spool_drains_then_a_restart_loses_nothing(
    durable_broker: EmbeddedBroker, bridge_process: Callable[..., BridgeProcess], tmp_path: Path
) -> None:
    config = spooled(durable_broker, tmp_path / "spool.db", drain_batch_records=5)
    bridge = bridge_process(config)
    durable_broker.kill()
    wait_for(lambda: sample(bridge, "sms_bridge_kafka_connected") == 0)
    # A number of callbacks (not 3 s of them): enough batches of 5 that the drain is still going
    # when the kill lands, however fast or slow the machine is.
    tally = asyncio.run(load.run(bridge.url, load.acknowledged(DRAINED), workers=2, pause=0.0))
    spooled_records = sample(bridge, "sms_bridge_spool_records")
    assert tally.failure_replies == 0 and spooled_records == len(tally.acknowledged) >= DRAINED
    durable_broker.start()
    wait_for(lambda: sample(bridge, "sms_bridge_spool_drained_records_total") > 0)
    assert bridge.process is not None
    bridge.process.send_signal(signal.SIGKILL)  # mid-drain: some records sent, not all deleted
    bridge.process.wait(timeout=60)
    restarted = bridge_process(config)
    left = [line for line in restarted.logs().splitlines() if '"spool_open"' in line]
    wait_for(lambda: sample(restarted, "sms_bridge_spool_records") == 0, within=180)
    found = load.read_back(durable_broker.bootstrap, tally, timeout=180)
    print(found.line("bridge kill -9 while the spool drains, then restart", tally) + f", reopened: {left}")
    assert found.lost == 0 and found.ids_differing == 0 and found.out_of_order == 0
    assert left and '"records":0' not in left[0], "the kill came after the drain had finished"
