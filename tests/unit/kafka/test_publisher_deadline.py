"""A caller's reply deadline that comes before the produce deadline cuts the wait for Kafka's acknowledgement."""

from __future__ import annotations

import asyncio

import pytest

from bridge.kafka.publisher import KafkaPublisher, ReplyDeadlineError

pytestmark = pytest.mark.anyio


async def test_the_wait_ends_at_the_callers_deadline_when_kafka_has_not_answered() -> None:
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] = loop.create_future()
    with pytest.raises(ReplyDeadlineError):
        await KafkaPublisher._wait_until(pending, loop.time() + 0.05)


async def test_the_groups_own_produce_timeout_is_not_taken_for_the_callers_deadline() -> None:
    loop = asyncio.get_running_loop()
    timed_out: asyncio.Future[None] = loop.create_future()
    timed_out.set_exception(TimeoutError())
    with pytest.raises(TimeoutError) as caught:
        await KafkaPublisher._wait_until(timed_out, loop.time() + 60)
    assert not isinstance(caught.value, ReplyDeadlineError)


async def test_acknowledged_records_return_before_the_deadline() -> None:
    loop = asyncio.get_running_loop()
    acked: asyncio.Future[None] = loop.create_future()
    acked.set_result(None)
    await KafkaPublisher._wait_until(acked, loop.time() + 60)
