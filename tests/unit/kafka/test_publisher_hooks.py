"""The aiokafka internals KafkaPublisher wraps to notice a lost connection at once are still there."""

from __future__ import annotations

from aiokafka.client import AIOKafkaClient  # type: ignore[import-untyped]
from aiokafka.conn import CloseReason  # type: ignore[import-untyped]

from bridge.kafka.link import CLIENT_HOOKS, LINK_FAILURES


def test_the_installed_aiokafka_client_has_the_methods_the_publisher_wraps() -> None:
    for name in CLIENT_HOOKS:
        assert callable(getattr(AIOKafkaClient, name, None)), name


def test_an_idle_drop_or_our_own_shutdown_is_not_a_link_failure() -> None:
    assert CloseReason.IDLE_DROP not in LINK_FAILURES
    assert CloseReason.SHUTDOWN not in LINK_FAILURES
    assert CloseReason.CONNECTION_BROKEN in LINK_FAILURES
