"""SpoolingPublisher around the in-memory FakePublisher and a real spool file."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from bridge.errors import PublishError
from bridge.spool.metrics import SpoolMetrics
from bridge.spool.publisher import SpoolingPublisher
from bridge.spool.store import Spool, SpoolSettings
from tests.fakes import FakePublisher
from tests.unit.spool.test_store import record, write

pytestmark = pytest.mark.anyio


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)


class Rig:
    def __init__(self, path: Path, registry: CollectorRegistry, **spool: Any) -> None:
        self.kafka = FakePublisher()
        self.registry = registry
        self.settings = SpoolSettings.model_validate({"path": str(path), "budget_seconds": 0.05, **spool})
        self.spool = Spool(self.settings)
        self.publisher = SpoolingPublisher(self.kafka, self.spool, SpoolMetrics(registry))

    def sample(self, name: str) -> float:
        value = self.registry.get_sample_value(name)
        assert value is not None, name
        return value

    def on_kafka(self) -> list[str]:
        return [r.event_id for r in self.kafka.records]


@pytest.fixture
async def rig(tmp_path: Path, registry: CollectorRegistry) -> AsyncIterator[Rig]:
    made = Rig(tmp_path / "spool.db", registry)
    await made.publisher.start()
    yield made
    made.kafka.release()
    await made.publisher.stop()


def down(kafka: FakePublisher) -> None:
    kafka.set_ready(False)
    kafka.failing = PublishError("not_connected", "fake broker down")


def up(kafka: FakePublisher) -> None:
    kafka.failing = None
    kafka.set_ready(True)


async def test_records_kafka_acknowledges_never_touch_the_spool(rig: Rig) -> None:
    await rig.publisher.publish([record(1)])
    assert rig.on_kafka() == ["id-1"]
    assert rig.sample("sms_bridge_spool_written_records_total") == 0
    assert rig.spool.records == 0


async def test_while_kafka_is_down_callbacks_are_stored_and_drained_in_order_when_it_returns(rig: Rig) -> None:
    down(rig.kafka)
    calls = rig.kafka.calls
    for i in range(5):
        await rig.publisher.publish([record(i, key="same")])
    assert rig.kafka.calls == calls  # known down: Kafka is not even tried
    assert rig.spool.records == 5 and rig.sample("sms_bridge_spool_records") == 5
    assert rig.publisher.accepting and not rig.publisher.ready
    up(rig.kafka)
    await until(lambda: rig.spool.records == 0)
    assert rig.on_kafka() == [f"id-{i}" for i in range(5)]
    assert rig.sample("sms_bridge_spool_written_records_total") == 5
    assert rig.sample("sms_bridge_spool_drained_records_total") == 5


async def test_a_retriable_kafka_failure_is_answered_from_the_spool(rig: Rig) -> None:
    rig.kafka.fail_next(PublishError("broker_error", "leader moved", retriable=True))
    await rig.publisher.publish([record(1)])
    await until(lambda: rig.on_kafka() == ["id-1"])
    await until(lambda: rig.spool.records == 0)


async def test_a_non_retriable_kafka_failure_is_raised_and_nothing_is_spooled(rig: Rig) -> None:
    rig.kafka.fail_next(PublishError("broker_error", "not authorized", retriable=False))
    with pytest.raises(PublishError, match="not authorized"):
        await rig.publisher.publish([record(1)])
    assert rig.spool.records == 0
    assert rig.sample("sms_bridge_spool_written_records_total") == 0


async def test_kafka_slower_than_the_budget_is_answered_from_the_spool_and_its_late_ack_empties_it(rig: Rig) -> None:
    rig.kafka.stall()
    await rig.publisher.publish([record(1), record(2)])  # returns after the budget: spooled
    assert rig.spool.records == 2 and rig.kafka.waiting == 1
    rig.kafka.set_ready(False)  # the drainer waits: only the first send's acknowledgement can empty it
    rig.kafka.release()
    await until(lambda: rig.spool.records == 0)
    assert rig.on_kafka() == ["id-1", "id-2"]  # sent once
    assert rig.sample("sms_bridge_spool_drained_records_total") == 2


async def test_new_records_queue_behind_a_non_empty_spool_so_each_key_keeps_its_order(rig: Rig) -> None:
    down(rig.kafka)
    await rig.publisher.publish([record(1, key="a")])
    rig.kafka.failing = None  # Kafka takes writes again, the drainer has not caught up yet
    rig.kafka.stall()
    rig.kafka.set_ready(True)
    await rig.publisher.publish([record(2, key="a")])
    assert rig.spool.records == 2  # behind record 1, not straight to Kafka
    rig.kafka.release()
    await until(lambda: rig.spool.records == 0)
    assert rig.on_kafka()[:2] == ["id-1", "id-2"]


async def test_a_full_spool_while_kafka_is_down_is_a_publish_error_and_not_ready(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    rig = Rig(tmp_path / "spool.db", registry, max_bytes=64 * 1024)
    await rig.publisher.start()
    down(rig.kafka)
    with pytest.raises(PublishError, match="spool is full") as raised:
        for i in range(200):
            await rig.publisher.publish([record(i, size=1000)])
    assert raised.value.reason == "spool_full" and raised.value.retriable
    assert rig.sample("sms_bridge_spool_write_failures_total") == 1
    assert not rig.publisher.accepting  # /readyz turns false: the balancer may pick a pod with room
    await rig.publisher.publish([record(999, size=10)])  # what still fits is taken
    up(rig.kafka)
    await until(lambda: rig.spool.records == 0)
    assert rig.publisher.accepting
    await rig.publisher.stop()


async def test_an_unusable_spool_file_leaves_the_plain_kafka_behaviour(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    write(tmp_path / "spool.db", b"garbage" * 100)
    rig = Rig(tmp_path / "spool.db", registry)
    await rig.publisher.start()
    assert rig.sample("sms_bridge_spool_healthy") == 0
    await rig.publisher.publish([record(1)])
    assert rig.on_kafka() == ["id-1"]
    down(rig.kafka)
    assert not rig.publisher.accepting
    with pytest.raises(PublishError, match="fake broker down"):
        await rig.publisher.publish([record(2)])
    await rig.publisher.stop()


async def test_stop_keeps_what_kafka_did_not_take_and_the_next_start_drains_it(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    first = Rig(tmp_path / "spool.db", registry)
    await first.publisher.start()
    down(first.kafka)
    await first.publisher.publish([record(1), record(2)])
    await first.publisher.stop()
    assert first.on_kafka() == []
    second = Rig(tmp_path / "spool.db", CollectorRegistry())
    await second.publisher.start()
    await until(lambda: second.spool.records == 0)
    assert second.on_kafka() == ["id-1", "id-2"]
    await second.publisher.stop()


async def test_stop_drains_the_spool_first_while_kafka_is_up(tmp_path: Path, registry: CollectorRegistry) -> None:
    rig = Rig(tmp_path / "spool.db", registry, drain_batch_records=1)
    await rig.publisher.start()
    down(rig.kafka)
    for i in range(20):
        await rig.publisher.publish([record(i)])
    up(rig.kafka)
    await rig.publisher.stop()
    assert rig.on_kafka() == [f"id-{i}" for i in range(20)]


async def test_a_callers_deadline_shorter_than_the_budget_leaves_the_spool_time_to_answer(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    rig = Rig(tmp_path / "spool.db", registry, budget_seconds=30)
    await rig.publisher.start()
    rig.kafka.stall()
    deadline = asyncio.get_running_loop().time() + 1.0  # an Alibaba-like reply deadline
    async with asyncio.timeout_at(deadline):  # what the endpoint does: a late answer is a failure
        await rig.publisher.publish([record(1)], deadline=deadline)
    assert rig.spool.records == 1
    rig.kafka.release()
    await rig.publisher.stop()
