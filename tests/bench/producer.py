"""Ceiling B: the Kafka producer alone, as the bridge configures it, against the same broker.

`python -m tests.bench.producer --config bench.yaml --concurrency 64 --duration 5` starts an
aiokafka producer with the bridge's own options (`bridge.kafka.link.producer_options`: acks=all,
linger_ms, max_batch_size, idempotence as configured), then runs `concurrency` coroutines that
each loop `send_and_wait` on the bridge's own CloudEvent records (distinct keys, built with
`bridge.kafka.envelope.Envelope`), for `duration` seconds or `--max-records`, whichever comes first.
It prints one `BENCH_RESULT {json}` line: records, seconds, latency percentiles, own CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

from bridge.config import load
from bridge.events import DeliveryReceipt, Status
from bridge.kafka.envelope import Envelope, KafkaRecord
from bridge.kafka.link import producer_options
from tests.bench.workload import RESULT_MARK, run_coroutine

WARM_UP_RECORDS = 200


def records(count: int) -> list[KafkaRecord]:
    """`count` CloudEvent records like the bridge writes for NxCloud `dr` callbacks."""
    from bridge.events import EventType
    from bridge.kafka.settings import DEFAULT_DELIVERY_RECEIPT_TOPIC, DEFAULT_INBOUND_MESSAGE_TOPIC

    envelope = Envelope(
        "/sms/nxcloud/kGp5uFHN",
        {
            EventType.DELIVERY_RECEIPT: DEFAULT_DELIVERY_RECEIPT_TOPIC,
            EventType.INBOUND_MESSAGE: DEFAULT_INBOUND_MESSAGE_TOPIC,
        },
    )
    now = datetime.now(UTC).replace(microsecond=0)
    out = []
    for i in range(count):
        message_id = f"ceilingb____{i:020d}"
        raw = {
            "messageId": message_id,
            "toPhone": f"1818{i:07d}",
            "fromPhone": "12347200160",
            "content": "sunt non nisi",
            "size": "1",
            "price": "0.0360",
            "receiveTime": "2026-11-22 08:00:00",
            "smsStatus": "DELIVRD",
        }
        event = DeliveryReceipt(
            provider="nxcloud",
            message_id=message_id,
            status=Status.DELIVERED,
            status_code="DELIVRD",
            status_detail=None,
            to=f"+1818{i:07d}",
            from_="+12347200160",
            occurred_at=now,
            received_at=now,
            segments=1,
            price="0.0360",
            raw=raw,
        )
        out.append(envelope.to_record(event))
    return out


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q / 100.0 * len(sorted_values)) - 1))
    return sorted_values[index] if sorted_values else 0.0


async def produce(config: str, concurrency: int, duration: float, max_records: int) -> dict[str, float]:
    settings = load(config)
    producer = AIOKafkaProducer(**producer_options(settings.kafka))
    corpus = records(5000)
    await producer.start()
    try:
        for r in corpus[:WARM_UP_RECORDS]:  # connections and metadata
            await producer.send_and_wait(r.topic, r.value, key=r.key, headers=list(r.headers))
        latencies: list[float] = []
        sent = 0
        started = time.perf_counter()
        deadline = started + duration
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)

        async def caller() -> None:
            nonlocal sent
            while sent < max_records and time.perf_counter() < deadline:
                r = corpus[sent % len(corpus)]
                sent += 1
                t = time.perf_counter()
                await producer.send_and_wait(r.topic, r.value, key=r.key, headers=list(r.headers))
                latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        await producer.stop()
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    ms = sorted(x * 1000.0 for x in latencies)
    return {
        "records": len(ms),
        "duration_s": elapsed,
        "p50_ms": _percentile(ms, 50),
        "p99_ms": _percentile(ms, 99),
        "max_ms": ms[-1] if ms else 0.0,
        "cpu_pct": 100.0 * cpu / elapsed,
        "record_bytes": sum(len(r.value) for r in corpus) / len(corpus),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.producer")
    parser.add_argument("--config", required=True, help="the benchmark's bridge configuration (YAML)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--max-records", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    result = run_coroutine(produce(args.config, args.concurrency, args.duration, args.max_records))
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
