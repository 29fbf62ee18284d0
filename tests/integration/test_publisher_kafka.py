"""KafkaPublisher on a real broker: it fails fast while the broker is known down, and recovers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.cli.dev_broker import EmbeddedBroker
from bridge.errors import PublishError
from bridge.kafka.publisher import KafkaPublisher
from bridge.kafka.settings import KafkaSettings
from tests.conftest import TOPICS
from tests.unit.spool.test_store import record

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def until(condition: Callable[[], bool], within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.05)


def settings(bootstrap: str) -> KafkaSettings:
    return KafkaSettings.model_validate(
        {"bootstrap_servers": [bootstrap], "enable_idempotence": False, "produce_timeout_seconds": 3}
    )


async def test_a_known_down_broker_is_refused_as_not_connected_and_a_returning_one_is_used_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = EmbeddedBroker(log_file=tmp_path / "broker.log").start()
    broker.create_topics(TOPICS)
    publisher = KafkaPublisher(settings(broker.bootstrap))
    try:
        with caplog.at_level(logging.INFO, logger="bridge.kafka.publisher"):
            await publisher.start()
            await until(lambda: publisher.ready)
            await publisher.publish([record(1)])
            broker.kill()
            await until(lambda: not publisher.ready)
            with pytest.raises(PublishError) as refused:
                await publisher.publish([record(2)])
            assert refused.value.reason == "not_connected" and refused.value.retriable
            assert not publisher.accepting
            broker.start()
            broker.create_topics(TOPICS)
            await until(lambda: publisher.ready)
            await publisher.publish([record(3)])
        events = [getattr(r, "event", None) for r in caplog.records]
        assert events.count("kafka_disconnected") == 1
        assert events.count("kafka_reconnected") == 1
    finally:
        await publisher.stop()
        broker.stop()


async def test_a_publisher_that_never_connected_refuses_at_once(tmp_path: Path) -> None:
    publisher = KafkaPublisher(settings("127.0.0.1:9"))
    try:
        await publisher.start()
        with pytest.raises(PublishError) as refused:
            await publisher.publish([record(1)])
        assert refused.value.reason == "not_connected"
    finally:
        await publisher.stop()
