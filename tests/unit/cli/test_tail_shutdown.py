"""`tail`'s shutdown: a Ctrl-C is never lost while a consumer is being closed."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from bridge.cli.tail import _close


class SwallowingConsumer:
    """Stands in for aiokafka's consumer: its stop() swallows a cancellation that lands while it
    waits (as AIOKafkaClient.close() does with `suppress(CancelledError)` around its sync task)."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()

    async def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)


@pytest.mark.anyio
async def test_a_cancellation_swallowed_inside_the_consumers_stop_still_cancels_close() -> None:
    consumer = SwallowingConsumer()
    closing = asyncio.create_task(_close(consumer))
    await consumer.stopping.wait()
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
