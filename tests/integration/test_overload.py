"""Overload: beyond max_in_flight the bridge answers 503 + Retry-After at once, and memory stays flat."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import orjson
import pytest

from tests.conftest import TENCENT_TOKEN
from tests.integration.conftest import proxied_config
from tests.integration.test_end_to_end import now_cst
from tests.integration.test_hostile import rss_kb

pytestmark = pytest.mark.integration

MAX_IN_FLIGHT = 16


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

    async def flood(seconds: float, connections: int) -> list[tuple[int, float, str | None]]:
        results: list[tuple[int, float, str | None]] = []
        stop_at = time.monotonic() + seconds
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            async def worker() -> None:
                while time.monotonic() < stop_at:
                    started = time.monotonic()
                    reply = await client.post(url, content=report_body())
                    results.append((reply.status_code, time.monotonic() - started, reply.headers.get("retry-after")))
            await asyncio.gather(*(worker() for _ in range(connections)))
        return results

    # 1. Broker stalled: 16 callbacks hang on Kafka, every other one is refused at once.
    proxy.stall()
    stalled = asyncio.run(flood(3.0, 8 * MAX_IN_FLIGHT))
    proxy.restore()
    # Counted by the bridge itself (client-side latency is noisy on two shared cores): only
    # max_in_flight callbacks at a time waited for Kafka (2 s deadline over 3 s: at most 2-3
    # rounds); every other one was refused as overloaded without waiting.
    assert {status for status, _, _ in stalled} == {503}
    assert all(retry_after for _, _, retry_after in stalled)
    scrape = httpx.get(bridge.url + "/metrics").text
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

    # 2. Ten times the bridge's capacity in concurrency, broker healthy: RSS stays flat.
    asyncio.run(flood(2.0, 4 * MAX_IN_FLIGHT))  # warm-up
    before = rss_kb(bridge.process.pid)
    results = asyncio.run(flood(6.0, 10 * MAX_IN_FLIGHT))
    after = rss_kb(bridge.process.pid)
    statuses = {status for status, _, _ in results}
    assert statuses <= {200, 503}
    assert sum(1 for s, _, _ in results if s == 200) > 100
    growth_mib = (after - before) / 1024
    print(f"\noverload: {len(results)} callbacks, {sum(1 for s, _, _ in results if s == 503)} refused with 503, "
          f"RSS {before // 1024} -> {after // 1024} MiB")
    assert growth_mib < 40, f"RSS grew by {growth_mib:.1f} MiB under overload"
    assert httpx.get(bridge.url + "/readyz").status_code == 200
