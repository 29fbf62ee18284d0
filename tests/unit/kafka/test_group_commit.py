"""Group commit's own logic, on a stand-in producer: grouping per partition, order, outcomes per group."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner  # type: ignore[import-untyped]
from aiokafka.partitioner import murmur2 as kafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.kafka.envelope import KafkaRecord
from bridge.kafka.group_commit import HANDED_OVER, GroupCommit, murmur2
from bridge.kafka.group_commit import partition_of as bridge_partition_of

pytestmark = pytest.mark.anyio


class Batch:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.records: list[bytes] = []

    def append(self, *, key: bytes, value: bytes, timestamp: None, headers: list[Any]) -> object | None:
        if self.records and len(self.records) >= self.limit:
            return None
        self.records.append(key)
        return object()


class Producer:
    """What GroupCommit uses of aiokafka's producer; its batches are acknowledged when the test says."""

    def __init__(self, partitions: int = 3, batch_limit: int = 1000) -> None:
        self.partitions = set(range(partitions))
        self.batch_limit = batch_limit
        self.sent: list[tuple[str, int, Batch, asyncio.Future[None]]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return self.partitions

    def create_batch(self) -> Batch:
        return Batch(self.batch_limit)

    async def send_batch(self, batch: Batch, topic: str, *, partition: int) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent.append((topic, partition, batch, future))
        await asyncio.sleep(0)  # the accumulator may yield, as aiokafka's does
        return future

    def ack(self, error: Exception | None = None, partition: int | None = None) -> None:
        for _, p, _, future in self.sent:
            if not future.done() and (partition is None or p == partition):
                future.set_result(None) if error is None else future.set_exception(error)


def record(key: str, topic: str = "t") -> KafkaRecord:
    return KafkaRecord(topic, key.encode(), b"{}")


def partition_of(key: str, partitions: int = 3) -> int:
    result: int = DefaultPartitioner()(key.encode(), list(range(partitions)), list(range(partitions)))
    return result


async def publish(group: GroupCommit, records: list[KafkaRecord]) -> None:
    while (outcome := group.send(records)) is None:
        await group.learn(records)
    await outcome


async def test_concurrent_callbacks_share_one_batch_per_partition_with_keys_where_kafka_puts_them() -> None:
    producer = Producer()
    group = GroupCommit(producer, 5.0)
    keys = [f"message-{i}" for i in range(60)]
    callbacks = [asyncio.create_task(publish(group, [record(k)])) for k in keys]
    await asyncio.sleep(0.01)
    assert len(producer.sent) <= 3 * 2  # at most a first group and one more per partition, not 60 batches
    for _, partition, batch, _ in producer.sent:
        assert all(partition_of(k.decode()) == partition for k in batch.records)
    assert sorted(k for *_, b, _ in producer.sent for k in b.records) == sorted(k.encode() for k in keys)
    assert not any(c.done() for c in callbacks)  # nobody succeeds before Kafka acknowledges
    producer.ack()
    await asyncio.gather(*callbacks)


async def test_a_failed_batch_fails_exactly_the_callbacks_with_records_in_it() -> None:
    producer = Producer()
    group = GroupCommit(producer, 5.0)
    keys = [f"k{i}" for i in range(30)]
    callbacks = {k: asyncio.create_task(publish(group, [record(k)])) for k in keys}
    await asyncio.sleep(0.01)
    producer.ack(RuntimeError("broker said no"), partition=0)
    producer.ack()
    results = dict(zip(keys, await asyncio.gather(*callbacks.values(), return_exceptions=True), strict=True))
    for key, result in results.items():
        assert isinstance(result, RuntimeError) is (partition_of(key) == 0), key


async def test_a_callback_with_records_in_two_partitions_waits_for_both() -> None:
    producer = Producer()
    group = GroupCommit(producer, 5.0)
    first, second = next((a, b) for a in ("a", "b", "c", "d") for b in ("e", "f", "g", "h")
                         if partition_of(a) != partition_of(b))
    callback = asyncio.create_task(publish(group, [record(first), record(second)]))
    await asyncio.sleep(0.01)
    producer.ack(partition=partition_of(first))
    await asyncio.sleep(0.01)
    assert not callback.done()
    producer.ack()
    await callback


async def test_a_callback_that_gives_up_leaves_the_others_in_its_group_waiting_for_kafka() -> None:
    producer = Producer(partitions=1)
    group = GroupCommit(producer, 5.0)
    leaving = asyncio.create_task(publish(group, [record("a")]))
    staying = asyncio.create_task(publish(group, [record("b")]))
    await asyncio.sleep(0.01)
    assert len(producer.sent) == 1  # one group, one batch, both records
    leaving.cancel()  # its reply deadline passed
    await asyncio.sleep(0.01)
    assert not staying.done()
    producer.ack()
    await staying
    assert leaving.cancelled()


async def test_a_group_kafka_does_not_acknowledge_in_time_fails_with_a_timeout() -> None:
    producer = Producer()
    group = GroupCommit(producer, 0.05)
    callback = asyncio.create_task(publish(group, [record("late")]))
    with pytest.raises(TimeoutError):
        await callback
    producer.ack()  # too late: nothing changes


async def test_a_partitions_groups_are_handed_over_in_order_and_split_when_a_batch_is_full() -> None:
    producer = Producer(partitions=1, batch_limit=4)
    group = GroupCommit(producer, 5.0)
    first = asyncio.create_task(publish(group, [record(f"a{i}") for i in range(10)]))
    await asyncio.sleep(0)
    second = asyncio.create_task(publish(group, [record("b0")]))
    await asyncio.sleep(0.01)
    producer.ack()  # the first group's three batches: then the second group goes
    await asyncio.sleep(0.01)
    order = [k.decode() for *_, b, _ in producer.sent for k in b.records]
    assert order == [f"a{i}" for i in range(10)] + ["b0"]
    assert max(len(b.records) for *_, b, _ in producer.sent) == 4
    producer.ack()
    await asyncio.gather(first, second)


async def test_a_partition_has_two_groups_in_aiokafkas_hands_and_the_third_takes_every_callback_meanwhile() -> None:
    producer = Producer(partitions=1)
    group = GroupCommit(producer, 5.0)
    assert HANDED_OVER == 2
    first = asyncio.create_task(publish(group, [record("a")]))
    await asyncio.sleep(0.01)
    second = [asyncio.create_task(publish(group, [record(f"b{i}")])) for i in range(3)]
    await asyncio.sleep(0.01)
    third = [asyncio.create_task(publish(group, [record(f"c{i}")])) for i in range(5)]
    await asyncio.sleep(0.01)
    assert [len(b.records) for *_, b, _ in producer.sent] == [1, 3]  # the third waits for Kafka's first answer
    producer.sent[0][3].set_exception(RuntimeError("the first batch failed"))  # an answer all the same
    await asyncio.sleep(0.01)
    assert [len(b.records) for *_, b, _ in producer.sent] == [1, 3, 5]  # one batch for the five
    producer.ack()
    await asyncio.gather(*second, *third)
    with pytest.raises(RuntimeError):
        await first



@settings(max_examples=500, deadline=None)
@given(key=st.binary(max_size=80), count=st.integers(min_value=1, max_value=64))
def test_records_go_to_the_partition_kafkas_default_partitioner_chooses(key: bytes, count: int) -> None:
    """murmur2 and partition_of are aiokafka's (Kafka's Java client's), for keys of every length."""
    partitions = list(range(count))
    assert murmur2(key) == kafka_murmur2(key)
    assert bridge_partition_of(key, partitions) == DefaultPartitioner()(key, partitions, partitions)
