"""Provider-like load and the read-back check for the spool and durable-broker scenarios.

Each worker acts as Tencent does: it POSTs status callbacks (a JSON array, the URL token in the
path, no signature) and retries a callback with the same body until it is answered with success.
Every message gets two receipts with the same key, the second sent only after the first was
acknowledged, so the read-back can check that Kafka kept their order.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import httpx
import orjson

from tests.conftest import TENCENT_TOKEN
from tests.integration.kafka import Record, read_sync

RECEIPTS = "sms.delivery-receipts"
CST = timezone(timedelta(hours=8))
FIRST, SECOND = ("FAIL", "UNDELIV"), ("SUCCESS", "DELIVRD")  # (report_status, errmsg) of the two receipts


def tencent_url(bridge_url: str) -> str:
    return f"{bridge_url}/callbacks/tencent/test/{TENCENT_TOKEN}"


def tencent_body(message_id: str, receipt: tuple[str, str]) -> bytes:
    now = datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S")
    report = {"user_receive_time": now, "nationcode": "86", "mobile": "13800138000", "report_status": receipt[0],
              "errmsg": receipt[1], "description": "", "sid": message_id}
    return orjson.dumps([report])


@dataclass
class Tally:
    """What the provider-like clients saw."""

    sent: int = 0
    acknowledged: list[tuple[str, str]] = field(default_factory=list)  # (message id, errmsg), in order
    acknowledged_at: list[float] = field(default_factory=list)  # time.monotonic() of each success reply
    failure_replies: int = 0
    transport_errors: int = 0
    other_statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


async def _deliver(client: httpx.AsyncClient, url: str, body: bytes, tally: Tally, give_up_at: float) -> bool:
    tally.sent += 1
    while time.monotonic() < give_up_at:
        started = time.monotonic()
        try:
            reply = await client.post(url, content=body, headers={"content-type": "application/json"})
        except httpx.TransportError:
            tally.transport_errors += 1
            await asyncio.sleep(0.2)
            continue
        tally.latencies.append(time.monotonic() - started)
        if reply.status_code == 200:
            return True
        if reply.status_code == 503:
            tally.failure_replies += 1
            await asyncio.sleep(0.2)
            continue
        tally.other_statuses[reply.status_code] += 1
        return False
    return False


GIVE_UP_SECONDS = 180.0  # a run stops here whatever happens; the test then fails on what it asserts


async def provider(bridge_url: str, tally: Tally, more: Callable[[], bool], give_up_at: float, pause: float) -> None:
    """Sends messages (two receipts each) while `more()` holds; retries each until success or `give_up_at`."""
    url = tencent_url(bridge_url)
    async with httpx.AsyncClient(timeout=60) as client:
        while more() and time.monotonic() < give_up_at:
            message_id = uuid.uuid4().hex
            for receipt in (FIRST, SECOND):
                if not await _deliver(client, url, tencent_body(message_id, receipt), tally, give_up_at):
                    break
                tally.acknowledged.append((message_id, receipt[1]))
                tally.acknowledged_at.append(time.monotonic())
                await asyncio.sleep(pause)


async def run(
    bridge_url: str, until: Callable[[Tally], bool], workers: int, pause: float,
    give_up: float = GIVE_UP_SECONDS, tally: Tally | None = None,
) -> Tally:
    """`workers` providers until `until(tally)` holds (checked before each new message), or `give_up`
    seconds; each pauses `pause` s after every acknowledged callback. A count of callbacks, not a
    time window: a loaded machine makes the run longer, not smaller."""
    tally = tally if tally is not None else Tally()
    give_up_at = time.monotonic() + give_up
    await asyncio.gather(*(provider(bridge_url, tally, lambda: not until(tally), give_up_at, pause)
                           for _ in range(workers)))
    return tally


def acknowledged(count: int) -> Callable[[Tally], bool]:
    """A run's `until`: `count` callbacks were acknowledged."""
    return lambda tally: len(tally.acknowledged) >= count


@dataclass
class Found:
    """The read-back, checked against the tally."""

    acknowledged: int
    found: int
    lost: int
    duplicates: int
    ids_differing: int
    out_of_order: int

    def line(self, name: str, tally: Tally) -> str:
        figures = {
            "sent": tally.sent, "acknowledged": self.acknowledged, "failure_replies": tally.failure_replies,
            "transport_errors": tally.transport_errors, "found": self.found, "lost": self.lost,
            "duplicates": self.duplicates, "ids_differing": self.ids_differing, "out_of_order": self.out_of_order,
            "p50_ms": round(tally.percentile(0.5) * 1000, 1), "p99_ms": round(tally.percentile(0.99) * 1000, 1),
            "max_ms": round(max(tally.latencies, default=0) * 1000, 1),
        }
        return f"\n[{name}] " + ", ".join(f"{k}={v}" for k, v in figures.items())


def identity(record: Record) -> tuple[str, str]:
    event = orjson.loads(record.value)
    return event["subject"], event["data"]["status_code"]


def read_back(bootstrap: str, tally: Tally, timeout: float = 90.0) -> Found:
    expected = set(tally.acknowledged)
    seen: set[tuple[str, str]] = set()

    def complete(records: list[Record]) -> bool:
        for record in records[len(seen_records):]:
            seen.add(identity(record))
            seen_records.append(record)
        return expected <= seen

    seen_records: list[Record] = []
    records = read_sync(bootstrap, [RECEIPTS], complete, timeout=timeout)
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    copies: Counter[tuple[str, str]] = Counter()
    first_at: dict[tuple[str, str], tuple[int, int]] = {}
    position: Counter[int] = Counter()
    for record in records:
        key = identity(record)
        ids[key].add(orjson.loads(record.value)["id"])
        copies[key] += 1
        first_at.setdefault(key, (record.partition, position[record.partition]))
        position[record.partition] += 1
    out_of_order = 0
    for message_id, errmsg in expected:
        if errmsg == SECOND[1] and (message_id, FIRST[1]) in first_at and (message_id, errmsg) in first_at:
            first, second = first_at[(message_id, FIRST[1])], first_at[(message_id, errmsg)]
            out_of_order += first[0] != second[0] or first[1] > second[1]
    return Found(
        acknowledged=len(expected),
        found=len(expected & set(ids)),
        lost=len(expected - set(ids)),
        duplicates=sum(n - 1 for key, n in copies.items() if key in expected),
        ids_differing=sum(1 for key in expected if len(ids.get(key, ())) > 1),
        out_of_order=out_of_order,
    )


