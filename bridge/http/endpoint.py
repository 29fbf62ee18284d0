"""The callback endpoint: raw request -> shared checks -> verify -> parse -> publish -> reply.

This is the only place where errors become replies, always through the provider's own
format, and the only place the checks every kind shares are enforced (method, media type, body
limit, source allowlist, freshness, replay), from what each kind declares. An instance's
callback URL is `<path>` or `<path>/<token>`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from starlette.types import Receive, Scope, Send

from bridge.clock import Clock
from bridge.config import Settings
from bridge.errors import CallbackError, MalformedCallbackError, PublishError, RequestError, VerificationError
from bridge.events import DeliveryReceipt, SmsEvent
from bridge.http.accepted_log import AcceptedLog
from bridge.http.deadlines import Deadlines
from bridge.http.guard import Guard
from bridge.http.intake import (
    client_address,
    decode_params,
    headers_of,
    public_url,
    raw_callback,
    read_body,
    send_reply,
)
from bridge.http.intake import request_id as new_request_id
from bridge.http.lifecycle import Lifecycle
from bridge.kafka.dead_letters import to_dead_letter
from bridge.kafka.envelope import Envelope, KafkaRecord, valid_traceparent
from bridge.kafka.publisher import Publisher
from bridge.metrics import BridgeMetrics, Outcome
from bridge.providers import ProviderAdapter
from bridge.providers.base import BadReport, BodyKind, Fetch, Handshake, Reply, Verified
from bridge.providers.common import body_kind
from bridge.redact import mask_phone

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS: Final = "5"


@dataclass(frozen=True, slots=True)
class Stored:
    """What a stored callback became: its events and their records, and its dead-lettered reports."""

    verified: Verified
    events: Sequence[SmsEvent]
    records: Sequence[KafkaRecord]
    bad: Sequence[BadReport]


class CallbackEndpoint:
    """The ASGI endpoint of one provider instance."""

    def __init__(
        self,
        provider: ProviderAdapter,
        envelope: Envelope,
        publisher: Publisher,
        metrics: BridgeMetrics,
        clock: Clock,
        lifecycle: Lifecycle,
        settings: Settings,
        accepted_log: AcceptedLog,
        deadlines: Deadlines,
        fetch: Fetch,
    ) -> None:
        self.fetch = fetch
        self.provider = provider
        self.accepted_log = accepted_log
        self.deadlines = deadlines
        self.envelope = envelope
        self.publisher = publisher
        self.metrics = metrics
        self.clock = clock
        self.lifecycle = lifecycle
        self.server = settings.server
        self.instance_settings = provider.settings
        configured = provider.settings.public_url
        self.public_url = None if configured is None else str(configured)
        self.guard = Guard(provider.settings, clock, timestamped=provider.signs_time())
        self.dead_letter_topic = settings.kafka.topics.dead_letter
        self.kind = provider.kind
        self.instance = provider.settings.name
        self.reply_deadline = provider.settings.reply_deadline_seconds or self.server.reply_deadline_seconds
        self.body_timeout = min(self.server.body_timeout_seconds, self.reply_deadline)
        self.allow = ", ".join(sorted(provider.methods))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        lifecycle = self.lifecycle
        lifecycle.in_flight += 1
        headers = headers_of(scope["headers"])
        request_id = new_request_id(headers.get("x-request-id"))
        outcome: Outcome = "failed"
        reason: str | None = None
        stored: Stored | None = None
        try:
            handled = await self._handle(scope, receive, headers, request_id)
            if isinstance(handled, Handshake):
                outcome, reply = "accepted", handled.reply
            else:
                stored = handled
                outcome, reply = "accepted", self.provider.accepted(stored.verified)
        except CallbackError as error:
            reason = error.reason
            if isinstance(error, MalformedCallbackError):
                outcome = "dead_lettered"
            else:
                outcome = "rejected"
                self.metrics.callback_rejected(self.kind, self.instance, error.reason)
            reply = self._reply_for(error)
            log_level = logging.WARNING if isinstance(error, VerificationError) else logging.INFO
            log.log(log_level, "callback rejected", extra=self._fields(request_id, outcome, reason, str(error)))
        except PublishError as error:
            reason = error.reason
            self.metrics.publish_failed(error.reason)
            reply = self._reply_for(CallbackError(error.reason, "not stored; retry later", status=503))
            log.error("callback not stored", extra=self._fields(request_id, outcome, reason, str(error)))
        except Exception:
            reason = "internal_error"
            log.exception("callback failed", extra=self._fields(request_id, outcome, reason, None))
            reply = self.provider.rejected(CallbackError("internal_error", "internal error", status=500))
        finally:
            lifecycle.in_flight -= 1
        elapsed = time.perf_counter() - started
        self.metrics.callback_done(self.kind, self.instance, outcome, elapsed)
        if stored is not None and self.accepted_log.enabled:
            self.accepted_log.write({
                **self._fields(request_id, outcome, None, None),
                "event_ids": [r.event_id for r in stored.records],
                "parties": [masked_parties(e) for e in stored.events[:5]],
                "dead_lettered_reports": len(stored.bad),
                "latency_ms": round(elapsed * 1000, 3),
            })
        await send_reply(send, reply, request_id)

    async def _handle(
        self, scope: Scope, receive: Receive, headers: dict[str, str], request_id: str
    ) -> Stored | Handshake:
        method: str = scope["method"]
        if method not in self.provider.methods:
            raise RequestError("method_not_allowed", f"method must be {self.allow}", status=405)
        if self.lifecycle.draining:
            raise RequestError("draining", "shutting down; retry later", status=503)
        if self.lifecycle.in_flight > self.server.max_in_flight:
            raise RequestError("overloaded", "too many callbacks in flight; retry later", status=503)
        body_kind = self._body_kind(headers) if method != "GET" else None
        now = asyncio.get_running_loop().time()
        reply_by = now + self.reply_deadline
        task: asyncio.Task[object] = asyncio.current_task()  # type: ignore[assignment]
        reading = True
        try:
            # One deadline for both: the body's first, then the reply's.
            self.deadlines.set(task, now + self.body_timeout)
            body = await read_body(receive, headers, self.server.max_body_bytes)
            reading = False
            self.deadlines.set(task, reply_by)
            return await self._verify_and_store(scope, headers, body, body_kind, request_id, reply_by)
        except asyncio.CancelledError:
            if not self.deadlines.clear(task):
                raise  # not our deadline: shutdown or the client went away
            task.uncancel()
            if reading:
                raise RequestError("request_timeout", "body not received in time", status=408) from None
            raise PublishError("timeout", "reply deadline passed") from None
        finally:
            self.deadlines.clear(task)

    def _body_kind(self, headers: dict[str, str]) -> BodyKind:
        """The body kind the instance's kind declares for the callback's media type; 415 otherwise."""
        declared = self.provider.media_types
        kind = body_kind(declared, headers)
        if kind is None:
            raise RequestError(
                "unsupported_media_type", f"content type must be one of: {', '.join(declared)}", status=415
            )
        return kind

    async def _verify_and_store(
        self,
        scope: Scope,
        headers: dict[str, str],
        body: bytes,
        body_kind: BodyKind | None,
        request_id: str,
        reply_by: float,
    ) -> Stored | Handshake:
        received_at = self.clock.now()
        peer = scope.get("client")
        peer_address = peer[0] if peer else None
        trusted = self.server.trusted_proxies
        client = client_address(peer_address, headers.get("x-forwarded-for"), trusted)
        self.guard.admit(client)  # before verification: a disallowed caller learns nothing more
        query_string: bytes = scope.get("query_string", b"")
        path: str = scope["path"]
        raw = raw_callback(
            method=scope["method"],
            url=public_url(
                configured=self.public_url,
                instance_path=self.instance_settings.path,
                path=path,
                query_string=query_string,
                scheme=scope.get("scheme", "http"),
                host=headers.get("host"),
                headers=headers,
                from_trusted_proxy=bool(trusted) and client != peer_address,
            ),
            body=body,
            body_kind=body_kind,
            headers=headers,
            client=client,
            received_at=received_at,
            token=scope.get("path_params", {}).get("token"),
            query=decode_params(query_string, "query string") if query_string else (),
        )
        await self.provider.prepare(raw, self.fetch)
        verified = self.provider.verify(raw)
        self.guard.check(verified)
        handshake = self.provider.handshake(verified)
        if handshake is not None:
            try:
                if handshake.confirm_url is not None:
                    await self.fetch(handshake.confirm_url)
            except BaseException:
                self.guard.release(verified)  # not confirmed: the provider's retry must be accepted
                raise
            return handshake
        try:
            return await self._store(verified, request_id, reply_by)
        except CallbackError:
            raise  # dead-lettered: stored, so the reservation stands
        except BaseException:
            self.guard.release(verified)  # not stored: the provider's retry must be accepted
            raise

    async def _store(self, verified: Verified, request_id: str, reply_by: float) -> Stored:
        try:
            parsed = self.provider.parse(verified)
        except MalformedCallbackError as error:
            await self._publish([self._dead_letter(verified, error, request_id)], reply_by)
            self.metrics.dead_lettered(self.kind, self.instance, error.reason)
            raise
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
                bad.append(BadReport(index, item.raw, error))
        await self._publish([*records, *(self._dead_letter(verified, b.error, request_id, b) for b in bad)], reply_by)
        for report in bad:
            self.metrics.dead_lettered(self.kind, self.instance, report.error.reason)
        now = self.clock.time()
        for event, record in zip(events, records, strict=True):
            status = event.status.value if isinstance(event, DeliveryReceipt) else None
            self.metrics.event_published(
                self.kind, self.instance, event.type.value, record.topic, status, event.region,
                now - event.occurred_at.timestamp(),
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
            method=raw.method,
            query=raw.query,
            request_id=request_id,
            report=report,
        )

    def _reply_for(self, error: CallbackError) -> Reply:
        reply = self.provider.rejected(error)
        if error.status == 405:
            return Reply(reply.status, reply.body, reply.media_type, {**reply.headers, "Allow": self.allow})
        if error.status == 503:
            return Reply(
                reply.status, reply.body, reply.media_type, {**reply.headers, "Retry-After": RETRY_AFTER_SECONDS}
            )
        return reply

    def _fields(self, request_id: str, outcome: str, reason: str | None, detail: str | None) -> dict[str, Any]:
        return {
            "event": "callback",
            "request_id": request_id,
            "provider": self.kind,
            "instance": self.instance,
            "outcome": outcome,
            "reason": reason,
            "detail": detail,
        }


def masked_parties(event: SmsEvent) -> dict[str, str | None]:
    """The event's numbers, masked, for a debug log line."""
    return {"to": mask_phone(event.to), "from": mask_phone(event.from_)}
