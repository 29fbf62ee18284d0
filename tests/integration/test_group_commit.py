"""Group commit on the real broker: concurrent publishes share batches, keys land where Kafka's
default partitioner puts them, and records of one key keep their order."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import pytest
from aiokafka.partitioner import DefaultPartitioner  # type: ignore[import-untyped]

from bridge.cli.dev_broker import EmbeddedBroker
from bridge.kafka.envelope import KafkaRecord
from bridge.kafka.publisher import KafkaPublisher
from bridge.kafka.settings import KafkaSettings
from tests.integration.kafka import read

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def test_concurrent_publishes_are_acknowledged_partitioned_by_key_and_kept_in_order_per_key(
    broker: EmbeddedBroker,
) -> None:
    topic = f"group-commit-{uuid.uuid4().hex[:8]}"
    broker.create_topics([topic], partitions=3)
    publisher = KafkaPublisher(KafkaSettings(bootstrap_servers=(broker.bootstrap,), enable_idempotence=False))
    await publisher.start()
    keys = [f"msg-{i}" for i in range(40)]

    async def callback(key: str, step: int) -> None:
        await publisher.publish([KafkaRecord(topic, key.encode(), f"{key}:{step}".encode())])

    try:
        for step in range(3):  # each round: 40 callbacks at once; rounds one after the other, per key in order
            await asyncio.gather(*(callback(key, step) for key in keys))
    finally:
        await publisher.stop()

    records = await read(broker.bootstrap, [topic], lambda rs: len(rs) >= 120, timeout=90)
    assert len(records) == 120
    by_key: dict[str, list[str]] = defaultdict(list)
    for r in records:
        key = (r.key or b"").decode()
        assert r.partition == DefaultPartitioner()(r.key, [0, 1, 2], [0, 1, 2])
        by_key[key].append(r.value.decode())
    assert all(values == [f"{key}:{step}" for step in range(3)] for key, values in by_key.items())
