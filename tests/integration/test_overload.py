"""Overload: beyond max_in_flight the bridge answers 503 + Retry-After at once, and memory stays flat."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import httpx
import orjson
import pytest

from tests.conftest import TENCENT_TOKEN
from tests.integration.conftest import proxied_config
from tests.integration.test_end_to_end import now_cst
from tests.integration.test_hostile import rss_kb

pytestmark = pytest.mark.integration

MAX_IN_FLIGHT = 16
# Floods are counted in replies, not seconds (a loaded machine makes them longer, not smaller):
STALLED_REPLIES = 600  # replies while the broker is stalled
WARM_UP_REPLIES = 500  # replies before the first RSS reading
FLOOD_REPLIES = 3000  # replies between the two RSS readings, of which at least
FLOOD_OK = 200  # were answered 200 (published): the flood reached Kafka, not only the refusal path
GIVE_UP = 180.0  # a flood stops here whatever happens; the test then fails on what it asserts


def report_body() -> bytes:
    return orjson.dumps([{"user_receive_time": now_cst(), "nationcode": "86", "mobile": "13800138000",
                          "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "",
                          "sid": uuid.uuid4().hex}])


def sample(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{") or
               line.startswith(name + " "))


def test_beyond_max_in_flight_callbacks_get_503_at_once_and_memory_stays_flat(proxied_broker, bridge_process) -> None:  # type: ignore[no-untyped-def]
    _broker, proxy = proxied_broker
    bridge = bridge_process(proxied_config(proxy, max_in_flight=MAX_IN_FLIGHT))
    url = f"{bridge.url}/callbacks/tencent/test/{TENCENT_TOKEN}"
    assert bridge.process is not None

    Results = list[tuple[int, float, str | None]]

    async def flood(connections: int, enough: Callable[[Results], bool]) -> Results:
        """`connections` clients POST one after another until `enough(results)` holds (or GIVE_UP s):
        a number of replies, not a time window, so a loaded machine makes the flood longer, not smaller.
        Requests already sent when it holds are answered and counted too."""
        results: Results = []
        give_up_at = time.monotonic() + GIVE_UP
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            async def worker() -> None:
                while not enough(results) and time.monotonic() < give_up_at:
                    started = time.monotonic()
                    reply = await client.post(url, content=report_body())
                    results.append((reply.status_code, time.monotonic() - started, reply.headers.get("retry-after")))
            await asyncio.gather(*(worker() for _ in range(connections)))
        return results

    def replies(count: int) -> Callable[[Results], bool]:
        return lambda results: len(results) >= count

    def ok_replies(count: int) -> Callable[[Results], bool]:
        return lambda results: sum(1 for status, _, _ in results if status == 200) >= count

    # 1. Broker stalled: 16 callbacks hang on Kafka, every other one is refused at once. The
    # flood lasts until STALLED_REPLIES were counted; the 16 that hang end it no sooner than their
    # 2 s produce deadline, so they are answered (503) within it.
    proxy.stall()
    stalled = asyncio.run(flood(8 * MAX_IN_FLIGHT, replies(STALLED_REPLIES)))
    proxy.restore()
    # Counted by the bridge itself (client-side latency is noisy on two shared cores): only
    # max_in_flight callbacks at a time waited for Kafka (2 s deadline; then the producer is known
    # down until a probe succeeds, which a stalled broker never lets happen: one round, stragglers
    # allowed); every other one was refused as overloaded without waiting.
    assert {status for status, _, _ in stalled} == {503}
    assert all(retry_after for _, _, retry_after in stalled)
    scrape = httpx.get(bridge.url + "/metrics", timeout=30).text
    def labelled(name: str, label: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in scrape.splitlines()
                   if line.startswith(name + "{") and label in line)

    # Waiting ends at the produce deadline; then the producer is known down and the rest fail fast.
    waited = labelled("sms_bridge_publish_failures_total", 'reason="timeout"')
    fast = labelled("sms_bridge_publish_failures_total", 'reason="not_connected"')
    overloaded = labelled("sms_bridge_callback_rejections_total", 'reason="overloaded"')
    assert waited <= 3 * MAX_IN_FLIGHT, f"{waited} callbacks waited on Kafka"
    assert overloaded + fast >= len(stalled) - waited - MAX_IN_FLIGHT
    assert overloaded > 0

    # The broker is back: the bridge finds out (a probe) and is ready again, however long that takes here.
    wait_ready(bridge.url)

    # 2. Ten times the bridge's capacity in concurrency, broker healthy: RSS stays flat.
    asyncio.run(flood(4 * MAX_IN_FLIGHT, replies(WARM_UP_REPLIES)))  # warm-up
    before = rss_kb(bridge.process.pid)
    results = asyncio.run(flood(10 * MAX_IN_FLIGHT, lambda rs: replies(FLOOD_REPLIES)(rs) and ok_replies(FLOOD_OK)(rs)))
    after = rss_kb(bridge.process.pid)
    statuses = {status for status, _, _ in results}
    assert statuses <= {200, 503}
    assert sum(1 for s, _, _ in results if s == 200) >= FLOOD_OK  # fails only at the give-up
    growth_mib = (after - before) / 1024
    print(f"\noverload: {len(results)} callbacks, {sum(1 for s, _, _ in results if s == 503)} refused with 503, "
          f"RSS {before // 1024} -> {after // 1024} MiB")
    assert growth_mib < 40, f"RSS grew by {growth_mib:.1f} MiB under overload"
    assert httpx.get(bridge.url + "/readyz", timeout=30).status_code == 200


def wait_ready(url: str, within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    while httpx.get(url + "/readyz", timeout=30).status_code != 200:
        if time.monotonic() > deadline:
            raise AssertionError(f"the bridge was not ready again within {within} s of the broker's return")
        time.sleep(0.2)
