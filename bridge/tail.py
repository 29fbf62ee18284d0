"""`bridge tail`: print the records arriving on the bridge's topics, one line each."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import TextIO

import orjson
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]


def render(topic: str, key: bytes | None, value: bytes) -> str:
    """One record as a line: the topic, the key and the event with its key fields first."""
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return f"[{topic}] key={key!r} <{len(value)} bytes, not JSON>"
    if not isinstance(event, dict):
        return f"[{topic}] key={key!r} {value.decode('utf-8', 'replace')}"
    data = event.get("data") or {}
    summary = " ".join(
        f"{k}={data[k]}" for k in ("status", "status_code", "from", "to") if isinstance(data, dict) and data.get(k)
    )
    head = f"[{topic}] {event.get('type', '?')} id={event.get('id', '?')} key={(key or b'').decode('utf-8', 'replace')}"
    return f"{head} {summary}\n    {value.decode('utf-8', 'replace')}"


async def tail(
    bootstrap: str,
    topics: Sequence[str],
    *,
    from_beginning: bool = False,
    stop: asyncio.Event | None = None,
    out: TextIO = sys.stdout,
) -> None:
    """Print records until `stop` is set (or forever)."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        metadata_max_age_ms=5000,
    )
    try:
        await consumer.start()
        while stop is None or not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    print(render(record.topic, record.key, record.value), file=out, flush=True)
    finally:
        await consumer.stop()
