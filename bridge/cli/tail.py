"""`sms-bridge tail`: print the records arriving on the bridge's topics, saying when the broker goes and comes back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Final, TextIO

import orjson
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]

from bridge.kafka.envelope import CE_PREFIX

BACKOFF_SECONDS: Final = (0.5, 1.0, 2.0, 5.0)
PROBE_SECONDS: Final = 2.0
_DIM, _BOLD, _RED, _GREEN, _RESET = "\x1b[2m", "\x1b[1m", "\x1b[31m", "\x1b[32m", "\x1b[0m"


def render(
    topic: str, key: bytes | None, value: bytes, *, headers: Sequence[tuple[str, bytes]] = (), pretty: bool = False
) -> str:
    """One record: the topic, type, id, key and a summary, then the event (indented JSON on a terminal).

    A binary-mode record (`ce_*` headers, `data` alone as the value) is shown as the same event in the JSON
    format, so both content modes read alike; its head says `binary`."""
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return f"[{topic}] key={key!r} <{len(value)} bytes, not JSON>"
    attributes = {name[len(CE_PREFIX):]: v.decode("utf-8", "replace") for name, v in headers
                  if name.lower().startswith(CE_PREFIX)}
    mode = ""
    if attributes:
        content_type = next((v.decode("utf-8", "replace") for n, v in headers if n.lower() == "content-type"), None)
        event = {**attributes, **({"datacontenttype": content_type} if content_type else {}), "data": event}
        value, mode = orjson.dumps(event), " (binary)"
    if not isinstance(event, dict):
        return f"[{topic}] key={key!r} {value.decode('utf-8', 'replace')}"
    data = event.get("data") or {}
    fields = ("status", "status_code", "from", "to")
    summary = " ".join(f"{k}={data[k]}" for k in fields if isinstance(data, dict) and data.get(k))
    if "reason" in event and "type" not in event:  # a dead letter
        summary = f"reason={event['reason']} provider={event.get('provider')} instance={event.get('instance')}"
    key_text = (key or b"").decode("utf-8", "replace")
    head = f"[{topic}] {event.get('type', 'dead letter')}{mode} id={event.get('id', '-')} key={key_text}"
    if not pretty:
        return f"{head} {summary}\n    {value.decode('utf-8', 'replace')}"
    undelivered = isinstance(data, dict) and data.get("status") == "undelivered"
    colour = _RED if "dead" in topic or undelivered else _GREEN
    body = orjson.dumps(event, option=orjson.OPT_INDENT_2).decode()
    return f"{_BOLD}{colour}{head}{_RESET} {summary}\n{_DIM}{body}{_RESET}"


async def tail(
    bootstrap: str,
    topics: Sequence[str],
    *,
    from_beginning: bool = False,
    stop: asyncio.Event | None = None,
    out: TextIO = sys.stdout,
) -> None:
    """Print records until `stop` is set (or forever); reconnect with back-off when the broker goes away."""
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its reconnect noise; we say it once
    pretty = out.isatty()
    stopping = stop or asyncio.Event()
    attempt = 0
    offset_reset = "earliest" if from_beginning else "latest"
    connected_once = False
    while not stopping.is_set():
        consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset=offset_reset,
            metadata_max_age_ms=5000, request_timeout_ms=5000,
        )
        try:
            await consumer.start()
        except (KafkaError, OSError):
            await _close(consumer)
            delay = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
            if attempt == 0:
                print(f"broker {bootstrap} is not reachable; retrying (Ctrl-C to stop)", file=out, flush=True)
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
            continue
        if connected_once or attempt:
            print(f"broker {bootstrap} is back", file=out, flush=True)
        attempt, connected_once = 0, True
        print(f"waiting for records on {', '.join(topics)} …", file=out, flush=True)
        try:
            await _consume(consumer, stopping, out, pretty)
        finally:
            await _close(consumer)
        if not stopping.is_set():
            print(f"lost the broker {bootstrap}; reconnecting", file=out, flush=True)
            offset_reset = "latest"


async def _consume(consumer: AIOKafkaConsumer, stop: asyncio.Event, out: TextIO, pretty: bool) -> None:
    """Print what arrives; return when the broker stops answering (a metadata probe fails)."""
    loop = asyncio.get_running_loop()
    probe_at = loop.time() + PROBE_SECONDS
    while not stop.is_set():
        try:
            batches = await consumer.getmany(timeout_ms=500)
        except (KafkaError, OSError):
            return
        for records in batches.values():
            for record in records:
                line = render(record.topic, record.key, record.value, headers=record.headers or (), pretty=pretty)
                print(line, file=out, flush=True)
        if loop.time() >= probe_at:
            probe_at = loop.time() + PROBE_SECONDS
            try:
                async with asyncio.timeout(PROBE_SECONDS * 2):
                    await consumer._client.fetch_all_metadata()
            except (KafkaError, OSError, TimeoutError):
                return


async def _close(consumer: AIOKafkaConsumer) -> None:
    # aiokafka's stop() re-raises the CancelledError of its own fetch task when the broker is gone,
    # and its client's close() swallows a cancellation of ours that lands while it waits. Neither
    # may hide our own cancellation (Ctrl-C): if this task is being cancelled, it still is after.
    with contextlib.suppress(KafkaError, OSError, RuntimeError, TimeoutError, asyncio.CancelledError):
        async with asyncio.timeout(5):
            await consumer.stop()
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def tail_until_signalled(bootstrap: str, topics: Sequence[str], *, from_beginning: bool = False) -> None:
    """`tail` until SIGINT or SIGTERM, in whatever state it is: waiting for the broker, connecting,
    consuming or closing. The signal sets the stop event (every loop checks it) and cancels the task
    (every await ends at once), so neither a swallowed cancellation nor a slow await keeps it running."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    stop = asyncio.Event()

    def on_signal() -> None:
        if not stop.is_set():
            stop.set()
            if task is not None:
                task.cancel()

    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, on_signal)
    try:
        await tail(bootstrap, topics, from_beginning=from_beginning, stop=stop)
    except asyncio.CancelledError:
        if not stop.is_set():
            raise
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
