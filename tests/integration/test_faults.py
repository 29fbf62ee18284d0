"""Nothing lost, nothing forged: the broker is cut, stalled, killed and restarted under load.

The bridge talks to the broker through a FaultProxy (the broker advertises the proxy's
address). Load generators act like providers: they retry a callback until it is answered with
success, with the same body. Afterwards the topics are read back and every callback answered
with success must be there, under a single event id.

Nothing here depends on an idle machine: the load runs until the faults are over and enough
callbacks were acknowledged (not for a fixed time), each fault waits for what it must cause
(load reaching the bridge, a failure reply during a stall) instead of a fixed pause, and the
bridge's body timeout and reply deadline are far above anything these normal clients need
(the body timeout's own test uses a deliberately stalled client: test_hostile.py). Failure
replies still come from the produce timeout (conftest.PRODUCE_TIMEOUT), as a stalled broker causes them.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
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
from tests.integration.conftest import proxied_config
from tests.integration.kafka import read_sync
from tests.integration.test_end_to_end import DR, MO, now_cst

pytestmark = pytest.mark.integration

# A callback's body and reply get this much time from the bridge: the clients here are never
# slow on purpose, so a 408 or a reply-deadline failure could only be the test's own slowness.
REPLY_DEADLINE = 30.0
BODY_TIMEOUT = 25.0
GIVE_UP = 180.0  # the load stops here whatever happens: the test then fails on too few acknowledged


@dataclass
class Tally:
    """What the load generators saw."""

    sent: int = 0
    acknowledged: set[str] = field(default_factory=set)
    failure_replies: int = 0
    transport_errors: int = 0
    other_statuses: Counter[int] = field(default_factory=Counter)
    slowest_reply: float = 0.0
    faults_done: threading.Event = field(default_factory=threading.Event)


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


async def provider(url: str, tally: Tally, minimum: int, give_up_at: float, worker: int) -> None:
    """Sends callbacks one after another, retrying each until success, until the faults are over
    and `minimum` callbacks were acknowledged (or `give_up_at`)."""
    kinds = itertools.cycle((worker % 3, (worker + 1) % 3, (worker + 2) % 3))
    async with httpx.AsyncClient(timeout=REPLY_DEADLINE + 10) as client:
        while not (tally.faults_done.is_set() and len(tally.acknowledged) >= minimum):
            if time.monotonic() > give_up_at:
                return
            message_id, target, headers, body = make_callback(url, next(kinds))
            tally.sent += 1
            while time.monotonic() < give_up_at:
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


async def load(url: str, workers: int, minimum: int, faults: Callable[[Tally], Any]) -> Tally:
    """`workers` providers, until `faults(tally)` has returned and more than `minimum` callbacks were acknowledged."""
    tally = Tally()
    give_up_at = time.monotonic() + GIVE_UP
    tasks = [asyncio.create_task(provider(url, tally, minimum + 1, give_up_at, i)) for i in range(workers)]
    try:
        await asyncio.to_thread(faults, tally)
    finally:
        tally.faults_done.set()
    await asyncio.gather(*tasks)
    return tally


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll `condition` (from the faults thread) until it holds; fail after a generous `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def acknowledged_grows(tally: Tally, by: int) -> None:
    """Wait until `by` more callbacks were acknowledged: the load reaches a working bridge."""
    target = len(tally.acknowledged) + by
    wait_for(lambda: len(tally.acknowledged) >= target, f"{by} more callbacks acknowledged")


def a_failure_reply_while_stalled(tally: Tally, proxy: Any) -> None:
    """Stall the broker, and wait until the bridge answers a callback with failure while it is
    still stalled: it does not wait for the broker (a bridge that did would fail here)."""
    failures = tally.failure_replies
    proxy.stall()
    wait_for(lambda: tally.failure_replies > failures, "a failure reply while the broker is stalled")


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
    config = proxied_config(proxy, reply_deadline_seconds=REPLY_DEADLINE, body_timeout_seconds=BODY_TIMEOUT)
    return bridge_process(config), broker, proxy


def assert_nothing_lost(tally: Tally, counts: dict[str, int], minimum: int) -> None:
    assert counts["lost"] == 0
    assert counts["ids_differing"] == 0
    assert counts["failure_replies"] > 0, "the faults did not reach the bridge"
    assert counts["acknowledged"] > minimum
    assert not tally.other_statuses, tally.other_statuses


def test_cuts_and_stalls_lose_nothing_answered_ok(proxied) -> None:  # type: ignore[no-untyped-def]
    bridge, _broker, proxy = proxied

    def faults(tally: Tally) -> None:
        acknowledged_grows(tally, 20)
        proxy.cut()
        time.sleep(1.5)
        proxy.restore()
        acknowledged_grows(tally, 20)
        a_failure_reply_while_stalled(tally, proxy)
        proxy.restore()
        acknowledged_grows(tally, 20)
        proxy.cut()
        time.sleep(1)
        proxy.restore()
        acknowledged_grows(tally, 20)

    tally = asyncio.run(load(bridge.url, 12, 100, faults))
    found = read_back(proxy.address, tally.acknowledged)
    assert_nothing_lost(tally, report("cuts and stalls", tally, found), minimum=100)


def test_broker_killed_and_restarted_loses_nothing_answered_ok(proxied) -> None:  # type: ignore[no-untyped-def]
    bridge, broker, proxy = proxied
    # Tansu keeps records in memory only: a record acknowledged before the kill dies with it.
    # So the proxy is stalled before the load starts and the kill happens while it is, once
    # callbacks in flight have timed out (failure replies): none can have been acknowledged.
    proxy.stall()

    def faults(tally: Tally) -> None:
        wait_for(lambda: tally.failure_replies > 0, "a failure reply while the broker is stalled")
        broker.kill()
        time.sleep(1.0)
        # The topics must exist before the bridge reaches the new broker: Tansu acknowledges
        # records for a topic it does not have and drops them (real Kafka refuses them). So the
        # proxy stays stalled until they are created, directly on the broker's own port.
        broker.start()
        broker.create_topics(TOPICS)
        proxy.restore()
        acknowledged_grows(tally, 20)

    tally = asyncio.run(load(bridge.url, 12, 50, faults))
    found = read_back(proxy.address, tally.acknowledged)
    assert_nothing_lost(tally, report("broker killed and restarted", tally, found), minimum=50)
