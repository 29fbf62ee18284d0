"""Nothing lost, nothing forged: the broker is cut, stalled, killed and restarted under load.

The bridge talks to the broker through a FaultProxy (the broker advertises the proxy's
address). Load generators act like providers: they retry a callback until it is answered with
success, with the same body. Afterwards the topics are read back and every callback answered
with success must be there, under a single event id.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import NX_ACCESS_KEY, NX_SECRET, TENCENT_TOKEN, TOPICS
from tests.helpers import nxcloud_request
from tests.integration.conftest import PRODUCE_TIMEOUT, REPLY_DEADLINE, proxied_config
from tests.integration.kafka import read_sync
from tests.integration.test_end_to_end import DR, MO, now_cst

pytestmark = pytest.mark.integration



@dataclass
class Tally:
    """What the load generators saw."""

    sent: int = 0
    acknowledged: set[str] = field(default_factory=set)
    failure_replies: int = 0
    transport_errors: int = 0
    other_statuses: Counter[int] = field(default_factory=Counter)
    slowest_reply: float = 0.0


def make_callback(url: str, kind: int) -> tuple[str, str, dict[str, str], bytes]:
    message_id = uuid.uuid4().hex
    if kind == 0:
        body = orjson.dumps([{"user_receive_time": now_cst(), "nationcode": "86", "mobile": "13800138000",
                              "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "", "sid": message_id}])
        return message_id, f"{url}/callbacks/tencent/test/{TENCENT_TOKEN}", {"content-type": "application/json"}, body
    action = "dr" if kind == 1 else "mo"
    body = orjson.dumps({"messageId": message_id, "toPhone": "18184505018", "fromPhone": "12347200160",
                         "content": "x", "size": "1", "price": "0.01", "receiveTime": now_cst(),
                         "smsStatus": "DELIVRD"})
    request = nxcloud_request(f"{url}/callbacks/nxcloud/test", body, access_key=NX_ACCESS_KEY, secret=NX_SECRET,
                              action=action)
    return message_id, request.url, dict(request.headers), body


async def provider(url: str, tally: Tally, stop_at: float, worker: int) -> None:
    """Sends callbacks one after another, retrying each until success or the end of the run."""
    kinds = itertools.cycle((worker % 3, (worker + 1) % 3, (worker + 2) % 3))
    async with httpx.AsyncClient(timeout=REPLY_DEADLINE + 5) as client:
        while time.monotonic() < stop_at:
            message_id, target, headers, body = make_callback(url, next(kinds))
            tally.sent += 1
            while time.monotonic() < stop_at + 10:
                started = time.monotonic()
                try:
                    reply = await client.post(target, content=body, headers=headers)
                except httpx.TransportError:
                    tally.transport_errors += 1
                    await asyncio.sleep(0.2)
                    continue
                tally.slowest_reply = max(tally.slowest_reply, time.monotonic() - started)
                if reply.status_code == 200:
                    tally.acknowledged.add(message_id)
                    break
                if reply.status_code == 503:
                    tally.failure_replies += 1
                    await asyncio.sleep(0.2)
                    continue
                tally.other_statuses[reply.status_code] += 1
                break


async def load(url: str, seconds: float, workers: int, faults: Callable[[], Any]) -> Tally:
    tally = Tally()
    stop_at = time.monotonic() + seconds
    tasks = [asyncio.create_task(provider(url, tally, stop_at, i)) for i in range(workers)]
    await asyncio.to_thread(faults)
    await asyncio.gather(*tasks)
    return tally


def read_back(bootstrap: str, expected: set[str]) -> dict[str, set[str]]:
    """message id -> the event ids found for it, plus the total count of records per id."""
    def subjects(records: list[Any]) -> set[str]:
        return {orjson.loads(r.value).get("subject") for r in records}

    records = read_sync(bootstrap, [DR, MO], lambda rs: expected <= subjects(rs), timeout=40)
    found: dict[str, set[str]] = defaultdict(set)
    copies: Counter[str] = Counter()
    for record in records:
        event = orjson.loads(record.value)
        found[event["subject"]].add(event["id"])
        copies[event["subject"]] += 1
    read_back.copies = copies  # type: ignore[attr-defined]
    return found


def report(name: str, tally: Tally, found: dict[str, set[str]]) -> dict[str, int]:
    copies: Counter[str] = read_back.copies  # type: ignore[attr-defined]
    lost = tally.acknowledged - set(found)
    counts = {
        "sent": tally.sent,
        "acknowledged": len(tally.acknowledged),
        "failure_replies": tally.failure_replies,
        "transport_errors": tally.transport_errors,
        "found": len(tally.acknowledged & set(found)),
        "lost": len(lost),
        "duplicates": sum(n - 1 for m, n in copies.items() if m in tally.acknowledged),
        "ids_differing": sum(1 for m in tally.acknowledged if len(found.get(m, ())) > 1),
        "slowest_reply_ms": int(tally.slowest_reply * 1000),
    }
    print(f"\nfault suite [{name}]: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


@pytest.fixture
def proxied(proxied_broker, bridge_process):  # type: ignore[no-untyped-def]
    broker, proxy = proxied_broker
    return bridge_process(proxied_config(proxy)), broker, proxy


def assert_nothing_lost(tally: Tally, counts: dict[str, int], minimum: int) -> None:
    assert counts["lost"] == 0
    assert counts["ids_differing"] == 0
    assert counts["failure_replies"] > 0, "the faults did not reach the bridge"
    assert counts["acknowledged"] > minimum
    assert not tally.other_statuses, tally.other_statuses
    assert tally.slowest_reply <= REPLY_DEADLINE + 1.0


def test_cuts_and_stalls_lose_nothing_answered_ok(proxied) -> None:  # type: ignore[no-untyped-def]
    bridge, _broker, proxy = proxied

    def faults() -> None:
        time.sleep(2)
        proxy.cut()
        time.sleep(1.5)
        proxy.restore()
        time.sleep(2)
        proxy.stall()
        time.sleep(PRODUCE_TIMEOUT * 2)
        proxy.restore()
        time.sleep(2)
        proxy.cut()
        time.sleep(1)
        proxy.restore()

    tally = asyncio.run(load(bridge.url, 14, 12, faults))
    found = read_back(proxy.address, tally.acknowledged)
    assert_nothing_lost(tally, report("cuts and stalls", tally, found), minimum=100)


def test_broker_killed_and_restarted_loses_nothing_answered_ok(proxied) -> None:  # type: ignore[no-untyped-def]
    bridge, broker, proxy = proxied
    # Tansu keeps records in memory only: a record acknowledged before the kill dies with it.
    # So the kill happens while the proxy is stalled: callbacks are in flight, none can be acked.
    proxy.stall()

    def faults() -> None:
        time.sleep(PRODUCE_TIMEOUT + 1.0)  # callbacks in flight now time out: failure replies
        broker.kill()
        time.sleep(1.0)
        # The topics must exist before the bridge reaches the new broker: Tansu acknowledges
        # records for a topic it does not have and drops them (real Kafka refuses them). So the
        # proxy stays stalled until they are created, directly on the broker's own port.
        broker.start()
        broker.create_topics(TOPICS)
        proxy.restore()

    tally = asyncio.run(load(bridge.url, 10, 12, faults))
    found = read_back(proxy.address, tally.acknowledged)
    assert_nothing_lost(tally, report("broker killed and restarted", tally, found), minimum=50)
