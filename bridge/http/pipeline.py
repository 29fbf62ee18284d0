"""One instance's work on a callback it has read: source check, verify, freshness and replay, handshake,
parse, envelope, and storage of its records and dead letters, all or nothing."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError
from bridge.events import DeliveryReceipt, SmsEvent
from bridge.http.guard import Guard
from bridge.immutable import immutable
from bridge.kafka.dead_letters import to_dead_letter
from bridge.kafka.envelope import Envelope, KafkaRecord, valid_traceparent
from bridge.kafka.publisher import Publisher
from bridge.metrics import BridgeMetrics
from bridge.providers import ProviderAdapter
from bridge.providers.base import BadReport, Fetch, Handshake, RawCallback, Verified

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from bridge.tracing import Tracing


@immutable
class Stored:
    """What a stored callback became: its events and their records, and its dead-lettered reports."""

    verified: Verified
    events: Sequence[SmsEvent]
    records: Sequence[KafkaRecord]
    bad: Sequence[BadReport]


class Pipeline:
    """Built once per instance at assembly. handle() returns what was stored (or the answer to a control
    callback), or raises: VerificationError (nothing stored), MalformedCallbackError (stored as a dead
    letter), PublishError (nothing stored; a replay reservation is given back so the retry is accepted)."""

    def __init__(
        self,
        provider: ProviderAdapter,
        envelope: Envelope,
        guard: Guard,
        publisher: Publisher,
        metrics: BridgeMetrics,
        clock: Clock,
        *,
        dead_letter_topic: str,
        fetch: Fetch,
        tracing: Tracing | None = None,
    ) -> None:
        self.provider = provider
        self.envelope = envelope
        self.guard = guard
        self.publisher = publisher
        self.metrics = metrics
        self.clock = clock
        self.dead_letter_topic = dead_letter_topic
        self.fetch = fetch
        self.tracing = tracing
        self.kind = provider.kind
        self.instance = provider.settings.name

    async def handle(
        self, raw: RawCallback, request_id: str, reply_by: float, span: Span | None = None
    ) -> Stored | Handshake:
        """`span`: the callback's span when tracing is on; the records then carry their publish span's context."""
        self.guard.admit(raw.client)  # before verification: a disallowed caller learns nothing more
        provider = self.provider
        if provider.prepares:
            await provider.prepare(raw, self.fetch)
        verified = provider.verify(raw)
        self.guard.check(verified)
        try:
            handshake = provider.handshake(verified)
            if handshake is not None and handshake.confirm_url is not None:
                await self.fetch(handshake.confirm_url)
        except BaseException:
            self.guard.release(verified)  # not confirmed: the provider's retry must be accepted
            raise
        if handshake is not None:
            return handshake
        try:
            return await self._store(verified, request_id, reply_by, span)
        except CallbackError:
            raise  # dead-lettered: stored, so the reservation stands
        except BaseException:
            self.guard.release(verified)  # not stored: the provider's retry must be accepted
            raise

    async def _store(self, verified: Verified, request_id: str, reply_by: float, span: Span | None) -> Stored:
        try:
            parsed = self.provider.parse(verified)
        except MalformedCallbackError as error:
            await self._publish([self._dead_letter(verified, error, request_id)], reply_by)
            self.metrics.dead_lettered(self.kind, self.instance, error.reason)
            raise
        producer = None
        if span is not None and self.tracing is not None:
            first = next((item for item in parsed if not isinstance(item, BadReport)), None)
            topic = self.envelope.topics[first.type] if first is not None else self.dead_letter_topic
            producer = self.tracing.publish(span, topic, len(parsed))
            traceparent: str | None = self.tracing.traceparent(producer)
        else:
            traceparent = valid_traceparent(verified.raw.headers.get("traceparent"))
        events: list[SmsEvent] = []
        records: list[KafkaRecord] = []
        bad: list[BadReport] = []
        for index, item in enumerate(parsed):
            if isinstance(item, BadReport):
                bad.append(item)
                continue
            try:
                records.append(self.envelope.to_record(item, traceparent))
                events.append(item)
            except MalformedCallbackError as error:  # too large even without `raw`
                bad.append(BadReport(index, item.raw if self.envelope.include_raw else None, error))
        try:
            await self._publish(
                [*records, *[self._dead_letter(verified, b.error, request_id, b) for b in bad]] if bad else records,
                reply_by,
            )
        except BaseException as error:
            if producer is not None and self.tracing is not None:
                self.tracing.publish_done(producer, error)
            raise
        if producer is not None and self.tracing is not None:
            self.tracing.publish_done(producer, None)
        for report in bad:
            self.metrics.dead_lettered(self.kind, self.instance, report.error.reason)
        now = self.clock.time()
        for event, record in zip(events, records, strict=True):
            receipt = event if isinstance(event, DeliveryReceipt) else None
            self.metrics.event_published(  # StrEnum members are their values: no .value lookups per event
                self.kind, self.instance, event.type, record.topic, receipt.status if receipt else None,
                event.region, now - event.occurred_at.timestamp(), final=receipt is not None and receipt.final,
            )
        if not events:  # every report dead-lettered: stored, but nothing was understood
            raise bad[0].error if bad else MalformedCallbackError("wrong_shape", "callback carries no event")
        return Stored(verified, events, records, bad)

    async def _publish(self, records: list[KafkaRecord], reply_by: float) -> None:
        """All of them stored (acknowledged, or spooled in time for `reply_by`), or PublishError; timed either way."""
        started = time.perf_counter()
        try:
            await self.publisher.publish(records, deadline=reply_by)
        except BaseException:
            self.metrics.publish_done("failed", time.perf_counter() - started)
            raise
        self.metrics.publish_done("ok", time.perf_counter() - started)

    def _dead_letter(
        self, verified: Verified, error: MalformedCallbackError, request_id: str, report: BadReport | None = None
    ) -> KafkaRecord:
        raw = verified.raw
        return to_dead_letter(
            self.dead_letter_topic,
            provider=self.kind,
            instance=self.instance,
            error=error,
            body=raw.body,
            headers=raw.headers,
            received_at=raw.received_at,
            safe_headers=self.provider.safe_headers,
            secret_params=self.provider.secret_params,
            method=raw.method,
            query=raw.query,
            request_id=request_id,
            report=report,
        )
