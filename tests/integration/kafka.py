"""Reading records back from the real broker, as an independent consumer would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


async def read(
    bootstrap: str,
    topics: list[str],
    until: Callable[[list[Record]], bool],
    timeout: float = 60.0,  # noqa: ASYNC109 (a plain deadline for the read loop, as read_sync's)
) -> list[Record]:
    """Consume `topics` from the beginning until `until(records)` is true or `timeout` passes."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
        metadata_max_age_ms=1000,
    )
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()
        raise
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(records):
            batches = await consumer.getmany(timeout_ms=300)
            for batch in batches.values():
                records.extend(
                    Record(r.topic, r.partition, r.key, r.value, tuple(r.headers)) for r in batch
                )
    finally:
        await consumer.stop()
    return records


def read_sync(
    bootstrap: str, topics: list[str], until: Callable[[list[Record]], bool], timeout: float = 60.0
) -> list[Record]:
    return asyncio.run(read(bootstrap, topics, until, timeout))
