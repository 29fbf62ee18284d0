"""Group commit: the records of callbacks that arrive together go to Kafka in one batch per partition.

aiokafka's send() does per-record Python work (metadata lookup, serialisation, a future per
record). Here a callback's records join the partition's open group; the partition's writer
takes whatever has gathered, appends it to as few batches as fit (aiokafka's create_batch /
send_batch) and hands them to the producer. Nothing waits to batch (linger stays 0): a group
closes as soon as its writer gets to it, and while one is being handed over, the next gathers.
Records go to partitions as Kafka's default partitioner would put them (murmur2 of the key), and
a partition's groups are sent in order, so records with one key stay in order.

A callback's success still means every one of its records was acknowledged (acks=all): it
waits on one future of its own, which the groups holding its records settle (the last acknowledgement, or
the first failure; no shield and no future per group). A failed batch fails exactly
the callbacks whose records were in its group; a group not acknowledged within the produce
deadline fails with TimeoutError (one timer per group, not per callback).
"""

from __future__ import annotations

import asyncio
import collections
import struct
from collections.abc import Sequence
from typing import Any, Final

from bridge.kafka.envelope import KafkaRecord

HANDED_OVER: Final = 2  # groups of a partition in aiokafka's hands at once: one in flight, the next one ready
_M: Final = 0x5BD1E995
_WORDS: Final = tuple(struct.Struct(f"<{n}I") for n in range(64))  # keys up to 255 bytes: their words in one call


def murmur2(key: bytes) -> int:
    """Kafka's murmur2 of a record key, as the Java client and aiokafka's DefaultPartitioner compute
    it (equal to aiokafka.partitioner.murmur2, a test checks), reading the key's words with one
    precompiled struct call instead of byte by byte, and masking once per word: ~2.5x faster, and it
    runs for every record."""
    length = len(key)
    h = 0x9747B28C ^ length
    words = length >> 2
    if words:
        m = _M
        for k in (_WORDS[words] if words < len(_WORDS) else struct.Struct(f"<{words}I")).unpack_from(key):
            k = (k * m) & 0xFFFFFFFF
            h = ((h * m) ^ ((k ^ (k >> 24)) * m)) & 0xFFFFFFFF  # masking after the xor: the same low 32 bits
    tail = length & 3
    if tail:
        base = length & ~3
        if tail >= 3:
            h ^= key[base + 2] << 16
        if tail >= 2:
            h ^= key[base + 1] << 8
        h = ((h ^ key[base]) * _M) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * _M) & 0xFFFFFFFF
    return h ^ (h >> 15)


def partition_of(key: bytes, partitions: list[int]) -> int:
    """The partition Kafka's default partitioner gives `key` (every record of the bridge has a key)."""
    return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]


class _Waiter:
    """One callback's outcome: settled once every group holding one of its records is acknowledged, or with
    the first failure. Its own future, so a callback that gives up (its deadline) cancels nobody else's."""

    __slots__ = ("future", "left")

    def __init__(self, future: asyncio.Future[None], groups: int) -> None:
        self.future = future
        self.left = groups


class _Group:
    """Records gathered for one partition, and the callbacks waiting on them: acknowledged, failed, or
    TimeoutError once the produce deadline passes (one timer per group)."""

    __slots__ = ("deadline", "records", "waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.records: list[KafkaRecord] = []
        self.waiters: list[_Waiter] = []
        self.deadline: asyncio.TimerHandle | None = loop.call_later(timeout, self.settle, TimeoutError())

    def settle(self, error: BaseException | None) -> None:
        """The group's outcome, for every callback waiting on it (only the first outcome counts)."""
        if self.deadline is None:
            return
        self.deadline.cancel()
        self.deadline = None
        for waiter in self.waiters:
            future = waiter.future
            if future.done():
                continue  # gave up, or failed by another of its groups
            if error is not None:
                future.set_exception(error)
            else:
                waiter.left -= 1
                if waiter.left == 0:
                    future.set_result(None)


class GroupCommit:
    """Gathers records per partition of one aiokafka producer and writes each partition's groups in turn."""

    def __init__(self, producer: Any, timeout: float) -> None:
        self._producer = producer
        self._timeout = timeout
        self._open: dict[tuple[str, int], _Group] = {}
        self._writers: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._answered: dict[tuple[str, int], collections.deque[asyncio.Future[None]]] = {}  # last groups handed over
        self._partitions: dict[str, list[int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop of the first send(): its producer's

    def send(self, records: Sequence[KafkaRecord]) -> asyncio.Future[None] | None:
        """Add the records to their partitions' open groups; the callback's outcome, to await (it fails with the
        first failure of a group that holds one of its records). None, with nothing added, while a record's
        topic has partitions not looked up yet: `await learn(records)`, then send again."""
        partitions = self._partitions
        for record in records:
            if record.topic not in partitions:
                return None
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        opened = self._open
        groups: list[_Group] = []
        for record in records:
            tp = (record.topic, partition_of(record.key, partitions[record.topic]))
            group = opened.get(tp)
            if group is None:
                group = opened[tp] = _Group(loop, self._timeout)
                if tp not in self._writers:
                    self._writers[tp] = loop.create_task(self._write(tp))
            group.records.append(record)
            if group not in groups:
                groups.append(group)
        waiter = _Waiter(loop.create_future(), len(groups))
        for group in groups:
            group.waiters.append(waiter)
        return waiter.future

    async def learn(self, records: Sequence[KafkaRecord]) -> None:
        """Look up the partitions of the records' topics that are not known yet."""
        for topic in dict.fromkeys(record.topic for record in records):
            if topic not in self._partitions:
                self._partitions[topic] = sorted(await self._producer.partitions_for(topic))

    def forget_partitions(self) -> None:
        """Look partitions up again (after a metadata change, e.g. a topic gained partitions)."""
        self._partitions.clear()

    async def _write(self, tp: tuple[str, int]) -> None:
        """Hand this partition's groups to the producer one after the other, until none is open, with at most
        HANDED_OVER of them in aiokafka's hands (handed over, not yet answered by Kafka). aiokafka keeps one
        request in flight per broker: one group in flight and the next ready keep it busy, and the callbacks
        that come meanwhile gather in one group instead of each hand-over making a small batch that waits in
        aiokafka's accumulator (an asyncio.wait per batch for the drain). Under the benchmark's wrk load
        (NxCloud, c=64) records per batch went 4.6 -> 5.5 (7.7 with one group in aiokafka's hands, but then
        the bridge idled ~9 % waiting for Kafka's answers)."""
        try:
            answered = self._answered.setdefault(tp, collections.deque(maxlen=HANDED_OVER))
            while True:
                if len(answered) == HANDED_OVER and not answered[0].done():
                    await answered[0]  # never raises: set to None whatever the batch's outcome
                group = self._open.pop(tp, None)
                if group is None:
                    break
                try:
                    acked = [await self._producer.send_batch(b, tp[0], partition=tp[1])
                             for b in self._batches(group.records)]
                except Exception as error:  # the callbacks waiting on this group get it
                    group.settle(error)
                    continue
                answered.append(_when_all(acked, group))
        finally:
            self._writers.pop(tp, None)

    def _batches(self, records: list[KafkaRecord]) -> list[Any]:
        batches = [self._producer.create_batch()]
        for record in records:
            headers = list(record.headers)
            if batches[-1].append(key=record.key, value=record.value, timestamp=None, headers=headers) is None:
                batches.append(self._producer.create_batch())  # full: the record opens the next batch
                if batches[-1].append(key=record.key, value=record.value, timestamp=None, headers=headers) is None:
                    raise ValueError("a record larger than kafka.max_batch_bytes")
        return batches


def _when_all(acked: list[asyncio.Future[Any]], group: _Group) -> asyncio.Future[None]:
    """Settle the group when every batch is acknowledged, or with the first batch's error; the future returned
    is done (always with None) when Kafka has answered for every batch, whatever it said."""
    answered: asyncio.Future[None] = acked[0].get_loop().create_future()
    left = [len(acked)]

    def one(batch: asyncio.Future[Any]) -> None:
        error = _error_of(batch)
        left[0] -= 1
        if error is not None:
            group.settle(error)
        elif left[0] == 0:
            group.settle(None)
        if left[0] == 0 and not answered.done():
            answered.set_result(None)

    for batch in acked:
        batch.add_done_callback(one)
    return answered


def _error_of(batch: asyncio.Future[Any]) -> BaseException | None:
    return batch.exception() if not batch.cancelled() else asyncio.CancelledError()
