"""Integration fixtures: a broker behind a FaultProxy, the bridge configuration for it, and a durable broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.cli.dev_broker import EmbeddedBroker, free_port
from tests.conftest import TOPICS, config_dict
from tests.integration.durable import ObjectStore
from tests.integration.proxy import FaultProxy

PRODUCE_TIMEOUT = 2.0
REPLY_DEADLINE = 4.0


@pytest.fixture
def proxied_broker(tmp_path: Path) -> Iterator[tuple[EmbeddedBroker, FaultProxy]]:
    """A broker of its own that advertises a FaultProxy's address, with the bridge's topics."""
    port = free_port()
    proxy = FaultProxy(port)
    broker = EmbeddedBroker(port=port, advertised=proxy.address, log_file=tmp_path / "broker.log")
    try:
        proxy.start()
        broker.start().create_topics(TOPICS)
        yield broker, proxy
    finally:
        broker.stop()
        proxy.stop()


def proxied_config(proxy: FaultProxy, **server: Any) -> dict[str, Any]:
    """A bridge configuration through the proxy, with short deadlines so that faults show fast
    (`server` keys override them)."""
    deadlines: dict[str, Any] = {"reply_deadline_seconds": REPLY_DEADLINE, "body_timeout_seconds": 2}
    config = config_dict(proxy.address, **{**deadlines, **server})
    config["kafka"]["produce_timeout_seconds"] = PRODUCE_TIMEOUT
    return config


@pytest.fixture(scope="session")
def object_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    """One moto_server for the session; every durable broker gets a bucket of its own."""
    store = ObjectStore(log_file=tmp_path_factory.mktemp("moto") / "moto.log").start()
    try:
        yield store
    finally:
        store.stop()


@pytest.fixture
def durable_broker(object_store: ObjectStore, tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A Tansu broker on the s3:// engine (records survive its SIGKILL), with the bridge's topics."""
    broker = object_store.broker(log_file=tmp_path / "broker.log")
    try:
        broker.start().create_topics(TOPICS)
        yield broker
    finally:
        broker.stop()
