"""SIGTERM: the drain phase keeps the listener and keep-alive connections open; new callbacks get
the provider's 503 + Retry-After (and `Connection: close`); callbacks in flight finish and are stored."""

from __future__ import annotations

import http.client
import signal
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import pytest

from bridge.cli.dev_broker import EmbeddedBroker
from tests.conftest import BridgeProcess
from tests.integration import load
from tests.integration.conftest import proxied_config
from tests.integration.proxy import FaultProxy
from tests.integration.test_spool import sample, wait_for

pytestmark = pytest.mark.integration

PATH = load.tencent_url("")  # /callbacks/tencent/test/<token>


def send(connection: http.client.HTTPConnection, message_id: str) -> tuple[int, dict[str, str], bytes]:
    """One callback on this very connection (http.client never reconnects while it holds a socket)."""
    body = load.tencent_body(message_id, load.SECOND)
    connection.request("POST", PATH, body=body, headers={"content-type": "application/json"})
    reply = connection.getresponse()
    return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()


STALL = 60.0  # seconds the stalled callbacks may wait for Kafka in the first test


def test_sigterm_drains_with_503_on_open_connections_and_finishes_what_is_in_flight(
    proxied_broker: tuple[EmbeddedBroker, FaultProxy], bridge_process: Callable[..., BridgeProcess]
) -> None:
    _broker, proxy = proxied_broker
    # The callbacks stalled at SIGTERM must still be waiting when the broker returns, however long the
    # steps in between take on this machine: a produce deadline, reply deadline and drain limit far
    # above them (with conftest's 2 s produce deadline they failed with 503 if the steps took longer).
    config = proxied_config(proxy, reply_deadline_seconds=STALL + 10, graceful_shutdown_seconds=STALL + 30)
    config["kafka"]["produce_timeout_seconds"] = STALL
    bridge = bridge_process(config)
    assert bridge.process is not None
    keep_alive = http.client.HTTPConnection("127.0.0.1", bridge.port, timeout=60)
    first = uuid.uuid4().hex
    assert send(keep_alive, first)[0] == 200
    socket_before = keep_alive.sock
    assert socket_before is not None  # kept alive

    proxy.stall()  # Kafka stops acknowledging: the next callbacks stay in flight
    in_flight_ids = [uuid.uuid4().hex for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(httpx.post, load.tencent_url(bridge.url), content=load.tencent_body(m, load.SECOND),
                        timeout=STALL + 60)
            for m in in_flight_ids
        ]
        wait_for(lambda: sample(bridge, "sms_bridge_callbacks_in_flight") == 4)
        bridge.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "draining" in bridge.logs())

        assert keep_alive.sock is socket_before  # the same socket carries the next callback
        status, headers, body = send(keep_alive, uuid.uuid4().hex)  # not reset: answered
        assert (status, headers["retry-after"], headers["connection"]) == (503, "5", "close")
        assert orjson.loads(body)["result"] == 503  # Tencent's own format
        fresh = httpx.post(load.tencent_url(bridge.url), content=load.tencent_body(uuid.uuid4().hex, load.SECOND),
                           timeout=30)
        assert fresh.status_code == 503 and fresh.headers["retry-after"] == "5"  # still listening
        assert httpx.get(bridge.url + "/readyz", timeout=30).status_code == 503

        proxy.restore()
        replies = [f.result() for f in futures]
    assert [r.status_code for r in replies] == [200] * 4  # in flight at SIGTERM: finished and stored
    assert bridge.process.wait(timeout=90) == 0
    tally = load.Tally(acknowledged=[(m, load.SECOND[1]) for m in [first, *in_flight_ids]])
    found = load.read_back(proxy.address, tally)
    assert found.lost == 0


def test_the_drain_phase_ends_soon_after_the_last_callback(
    proxied_broker: tuple[EmbeddedBroker, FaultProxy], bridge_process: Callable[..., BridgeProcess]
) -> None:
    _broker, proxy = proxied_broker
    bridge = bridge_process(proxied_config(proxy, graceful_shutdown_seconds=60))
    assert bridge.process is not None
    assert httpx.post(load.tencent_url(bridge.url), content=load.tencent_body(uuid.uuid4().hex, load.SECOND)).is_success
    bridge.process.send_signal(signal.SIGTERM)
    assert bridge.process.wait(timeout=50) == 0
    ended = [orjson.loads(line) for line in bridge.logs().splitlines() if '"drained"' in line]
    assert [line["reason"] for line in ended] == ["quiet"]  # not the 60 s limit
