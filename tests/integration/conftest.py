"""Integration fixtures: a broker behind a FaultProxy, and the bridge configuration for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.broker import EmbeddedBroker, free_port
from tests.conftest import TOPICS, config_dict
from tests.integration.proxy import FaultProxy

PRODUCE_TIMEOUT = 2.0
REPLY_DEADLINE = 4.0


@pytest.fixture
def proxied_broker(tmp_path: Path) -> Iterator[tuple[EmbeddedBroker, FaultProxy]]:
    """A broker of its own that advertises a FaultProxy's address, with the bridge's topics."""
    port = free_port()
    proxy = FaultProxy(port).start()
    broker = EmbeddedBroker(port=port, advertised=proxy.address, log_file=tmp_path / "broker.log")
    try:
        broker.start().create_topics(TOPICS)
        yield broker, proxy
    finally:
        broker.stop()
        proxy.stop()


def proxied_config(proxy: FaultProxy, **server: Any) -> dict[str, Any]:
    """A bridge configuration through the proxy, with short deadlines so that faults show fast."""
    config = config_dict(proxy.address, reply_deadline_seconds=REPLY_DEADLINE, body_timeout_seconds=2, **server)
    config["kafka"]["produce_timeout_seconds"] = PRODUCE_TIMEOUT
    return config
