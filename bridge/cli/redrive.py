"""`sms-bridge redrive`: parse dead letters again with today's code and configuration, publish what now parses.

Dead letters were verified before they were written, so they are not verified again: the kind's
restore() rebuilds the verified value from what the dead letter kept. Events get the ids they
would have had (deterministic), so a consumer that already saw one drops the duplicate. Dry run
unless `apply`. Anyone who can write to the dead-letter topic can have redrive publish events:
restrict write access to it as tightly as to the event topics.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]

from bridge.clock import SystemClock
from bridge.config import Settings
from bridge.errors import MalformedCallbackError, PublishError, UsageError
from bridge.http.intake import decode_params
from bridge.kafka.envelope import Envelope, KafkaRecord
from bridge.kafka.publisher import KafkaPublisher
from bridge.providers import ProviderAdapter, build
from bridge.providers.base import BadReport, RawCallback
from bridge.providers.common import body_kind

CONNECT_SECONDS: Final = 15.0
EXIT_UNREACHABLE: Final = 3


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters to take: offsets (per partition, inclusive), received times, reasons, instance."""

    from_offset: int | None = None
    to_offset: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    reasons: frozenset[str] = frozenset()
    instance: str | None = None


@dataclass
class Report:
    """What a redrive read, published and could still not parse."""

    read: int = 0
    skipped: int = 0
    redriven: int = 0
    events: int = 0
    still_failing: Counter[str] = field(default_factory=Counter)
    unknown_instance: Counter[str] = field(default_factory=Counter)

    def lines(self, applied: bool) -> list[str]:
        verb = "published" if applied else "would publish"
        out = [f"read {self.read} dead letter(s), {self.skipped} outside the selection",
               f"{self.redriven} now parse: {verb} {self.events} event(s)"]
        if not applied:
            out.append("dry run: nothing was published; --apply publishes")
        out += [f"still failing: {n} x {reason}" for reason, n in sorted(self.still_failing.items())]
        out += [f"no instance '{name}' in the configuration: {n}" for name, n in sorted(self.unknown_instance.items())]
        return out


def reparse(
    letter: dict[str, Any], providers: dict[str, ProviderAdapter], envelopes: dict[str, Envelope]
) -> list[KafkaRecord]:
    """The records a dead letter becomes today; MalformedCallbackError if it still does not parse."""
    provider = providers[letter["instance"]]
    raw = _callback(letter, provider)
    records: list[KafkaRecord] = []
    for item in provider.parse(provider.restore(raw)):
        if isinstance(item, BadReport):
            raise item.error
        records.append(envelopes[letter["instance"]].to_record(item))
    if not records:
        raise MalformedCallbackError("wrong_shape", "callback carries no event")
    return records


def _callback(letter: dict[str, Any], provider: ProviderAdapter) -> RawCallback:
    if isinstance(letter.get("report_body"), str):
        body = letter["report_body"].encode("utf-8")
    elif "body_base64" in letter:
        try:
            body = base64.b64decode(letter["body_base64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedCallbackError("invalid_field", "body_base64: not base64") from exc
    else:
        body = str(letter.get("body", "")).encode("utf-8", "surrogatepass")
    if letter.get("body_truncated"):
        raise MalformedCallbackError("invalid_field", "body was truncated when dead-lettered")
    headers = {str(k): str(v) for k, v in (letter.get("headers") or {}).items()}
    form = decode_params(body, "form body") if body_kind(provider.media_types, headers) == "form" and body else ()
    query = tuple((str(k), str(v)) for k, v in letter.get("query") or [])
    received = datetime.fromisoformat(str(letter["received_at"]).replace("Z", "+00:00"))
    return RawCallback(body, headers, None, received, None, str(letter.get("method", "POST")), "", query, form)


def selected(letter: dict[str, Any], offset: int, selection: Selection) -> bool:
    if selection.from_offset is not None and offset < selection.from_offset:
        return False
    if selection.to_offset is not None and offset > selection.to_offset:
        return False
    if selection.reasons and letter.get("reason") not in selection.reasons:
        return False
    if selection.instance is not None and letter.get("instance") != selection.instance:
        return False
    if selection.since or selection.until:
        try:
            received = datetime.fromisoformat(str(letter.get("received_at")).replace("Z", "+00:00"))
        except ValueError:
            return False
        if (selection.since and received < selection.since) or (selection.until and received > selection.until):
            return False
    return True


async def redrive(settings: Settings, selection: Selection, *, apply: bool) -> Report:
    """Read the dead-letter topic up to its end as it is now; re-parse and, if `apply`, publish."""
    clock = SystemClock()
    providers = {p.name: build(p, clock) for p in settings.providers}
    topics = settings.kafka.topics.by_type()
    envelopes = {p.name: Envelope(p.cloudevents_source, topics, settings.kafka.type_prefix, p.include_raw,
                                  settings.kafka.content_mode)
                 for p in settings.providers}
    report = Report()
    publisher = KafkaPublisher(settings.kafka) if apply else None
    letters = await _read(settings, selection, report)
    try:
        if publisher is not None:
            await _start(publisher)
        for letter in letters:
            if letter.get("instance") not in providers:
                report.unknown_instance[str(letter.get("instance"))] += 1
                continue
            try:
                records = reparse(letter, providers, envelopes)
            except MalformedCallbackError as error:
                report.still_failing[error.reason] += 1
                continue
            if publisher is not None:
                await publisher.publish(records)
            report.redriven += 1
            report.events += len(records)
    except PublishError as error:
        raise UsageError(f"Kafka did not acknowledge: {error}", 1) from None
    finally:
        if publisher is not None:
            await publisher.stop()
    return report


async def _start(publisher: KafkaPublisher) -> None:
    await publisher.start()
    deadline = time.monotonic() + CONNECT_SECONDS
    while not publisher.ready and time.monotonic() < deadline:  # noqa: ASYNC110 (a property, no event to wait on)
        await asyncio.sleep(0.1)
    if not publisher.ready:
        raise UsageError("cannot connect to Kafka to publish", EXIT_UNREACHABLE)


async def _read(settings: Settings, selection: Selection, report: Report) -> Sequence[dict[str, Any]]:
    kafka = settings.kafka
    topic = kafka.topics.dead_letter
    consumer = AIOKafkaConsumer(bootstrap_servers=list(kafka.bootstrap_servers), enable_auto_commit=False,
                                security_protocol=kafka.security_protocol, request_timeout_ms=10_000)
    try:
        await asyncio.wait_for(consumer.start(), CONNECT_SECONDS)
    except (KafkaError, OSError, TimeoutError):
        with contextlib.suppress(KafkaError, OSError, RuntimeError):
            await consumer.stop()
        raise UsageError(f"cannot connect to Kafka at {', '.join(kafka.bootstrap_servers)}", EXIT_UNREACHABLE) from None
    letters: list[dict[str, Any]] = []
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return letters
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, batch in batches.items():
                for record in batch:
                    if record.offset >= ends[tp]:
                        continue
                    report.read += 1
                    try:
                        letter = orjson.loads(record.value)
                    except orjson.JSONDecodeError:
                        report.still_failing["invalid_json"] += 1
                        continue
                    if isinstance(letter, dict) and selected(letter, record.offset, selection):
                        letters.append(letter)
                    else:
                        report.skipped += 1
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return letters
