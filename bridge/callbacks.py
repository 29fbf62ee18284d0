"""The callback endpoint: raw request -> verify -> parse -> publish -> reply.

This is the only place where errors become replies, always through the provider's own
format. An instance's callback URL is `<path>` or `<path>/<token>`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from bridge.clock import Clock
from bridge.config import ServerSettings, Settings
from bridge.deadletter import to_dead_letter
from bridge.envelope import Envelope, KafkaRecord, valid_traceparent
from bridge.errors import (
    CallbackError,
    MalformedCallbackError,
    PublishError,
    RequestError,
    VerificationError,
)
from bridge.events import DeliveryReceipt, SmsEvent
from bridge.metrics import BridgeMetrics, Outcome
from bridge.providers.base import IPNetwork, Provider, RawCallback, Reply, VerifiedCallback
from bridge.publisher import Publisher
from bridge.redact import mask_phone

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS: Final = "5"
_RUN_ID: Final = uuid.uuid4().hex[:12]  # request ids: this process's random prefix and a counter
_REQUEST_NUMBER: Final = itertools.count(1)
JSON_MEDIA_TYPES: Final = frozenset({"application/json", "text/json", "text/plain"})


@dataclass
class Lifecycle:
    """Run state shared by the endpoints: draining is set when shutdown begins."""

    draining: bool = False
    in_flight: int = 0


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]) -> str | None:
    """The caller's address: the peer, or, when the peer is a trusted proxy, the right-most
    `X-Forwarded-For` entry that is not itself a trusted proxy."""
    if peer is None or not trusted or not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",")]
    for hop in reversed(hops):
        if not hop:
            return None
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


class CallbackEndpoint:
    """The ASGI endpoint of one provider instance."""

    def __init__(
        self,
        provider: Provider,
        envelope: Envelope,
        publisher: Publisher,
        metrics: BridgeMetrics,
        clock: Clock,
        lifecycle: Lifecycle,
        settings: Settings,
    ) -> None:
        self.provider = provider
        self.envelope = envelope
        self.publisher = publisher
        self.metrics = metrics
        self.clock = clock
        self.lifecycle = lifecycle
        self.server: ServerSettings = settings.server
        self.dead_letter_topic = settings.kafka.topics.dead_letter
        self.kind = provider.kind
        self.instance = provider.settings.name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        lifecycle = self.lifecycle
        lifecycle.in_flight += 1
        self.metrics.in_flight.inc()
        headers = _headers(scope)
        request_id = headers.get("x-request-id", "")[:64] or f"{_RUN_ID}-{next(_REQUEST_NUMBER):x}"
        outcome: Outcome = "failed"
        reason: str | None = None
        events: Sequence[SmsEvent] = ()
        records: Sequence[KafkaRecord] = ()
        try:
            events, records = await self._handle(scope, receive, headers)
            outcome, reply = "accepted", self.provider.accepted()
        except CallbackError as error:
            reason = error.reason
            outcome = "dead_lettered" if isinstance(error, MalformedCallbackError) else "rejected"
            self.metrics.callback_rejected(self.kind, self.instance, error.reason)
            reply = self._reply_for(error)
            log_level = logging.WARNING if isinstance(error, VerificationError) else logging.INFO
            log.log(log_level, "callback rejected", extra=self._fields(request_id, outcome, reason, str(error)))
        except PublishError as error:
            reason = error.reason
            self.metrics.publish_failed(error.reason)
            reply = self._failure(error)
            log.error("callback not stored", extra=self._fields(request_id, outcome, reason, str(error)))
        except Exception:
            reason = "internal_error"
            log.exception("callback failed", extra=self._fields(request_id, outcome, reason, None))
            reply = self.provider.rejected(CallbackError("internal_error", "internal error", status=500))
        finally:
            lifecycle.in_flight -= 1
            self.metrics.in_flight.dec()
        elapsed = time.perf_counter() - started
        self.metrics.callback_done(self.kind, self.instance, outcome, elapsed)
        if reason is None:
            log.info(
                "callback accepted",
                extra={
                    **self._fields(request_id, outcome, None, None),
                    "event_ids": [r.event_id for r in records],
                    "parties": [masked_parties(e) for e in events[:5]],
                    "latency_ms": round(elapsed * 1000, 3),
                },
            )
        await _send(send, reply, request_id)

    async def _handle(
        self, scope: Scope, receive: Receive, headers: dict[str, str]
    ) -> tuple[Sequence[SmsEvent], Sequence[KafkaRecord]]:
        if scope["method"] != "POST":
            raise RequestError("method_not_allowed", "method must be POST", status=405)
        if self.lifecycle.draining:
            raise RequestError("draining", "shutting down; retry later", status=503)
        if self.lifecycle.in_flight > self.server.max_in_flight:
            raise RequestError("overloaded", "too many callbacks in flight; retry later", status=503)
        media_type = headers.get("content-type", "application/json").split(";", 1)[0].strip().lower()
        if media_type not in JSON_MEDIA_TYPES and not media_type.endswith("+json"):
            raise RequestError("unsupported_media_type", "content type must be application/json", status=415)
        reply_by = asyncio.get_running_loop().time() + self.server.reply_deadline_seconds
        reading = True
        try:
            # One timer for both deadlines: the body's first, then the reply's.
            async with asyncio.timeout(self.server.body_timeout_seconds) as deadline:
                body = await self._read_body(receive, headers)
                reading = False
                deadline.reschedule(reply_by)
                return await self._verify_and_store(scope, headers, body)
        except TimeoutError:
            if reading:
                raise RequestError("request_timeout", "body not received in time", status=408) from None
            raise PublishError("timeout", "reply deadline passed") from None

    async def _verify_and_store(
        self, scope: Scope, headers: dict[str, str], body: bytes
    ) -> tuple[Sequence[SmsEvent], Sequence[KafkaRecord]]:
        received_at = self.clock.now()
        token = scope.get("path_params", {}).get("token")
        if token is None and scope.get("query_string"):
            token = dict(parse_qsl(scope["query_string"].decode("latin-1"))).get("token")
        peer = scope.get("client")
        raw = RawCallback(
            body=body,
            headers=headers,
            client=client_address(
                peer[0] if peer else None, headers.get("x-forwarded-for"), self.server.trusted_proxies
            ),
            received_at=received_at,
            url_token=token,
        )
        verified = self.provider.verify(raw)
        try:
            return await self._store(verified, headers)
        except CallbackError:
            raise  # dead-lettered: stored, so the reservation stands
        except BaseException:
            self.provider.release(verified)  # not stored: the provider's retry must be accepted
            raise

    async def _store(
        self, verified: VerifiedCallback, headers: dict[str, str]
    ) -> tuple[Sequence[SmsEvent], Sequence[KafkaRecord]]:
        try:
            events = self.provider.parse(verified)
            traceparent = valid_traceparent(headers.get("traceparent"))
            records = [self.envelope.to_record(e, traceparent) for e in events]
        except MalformedCallbackError as error:
            await self._dead_letter(verified, error)
            raise
        started = time.perf_counter()
        await self.publisher.publish(records)
        self.metrics.publish_duration.observe(time.perf_counter() - started)
        now = self.clock.time()
        for event, record in zip(events, records, strict=True):
            status = event.status.value if isinstance(event, DeliveryReceipt) else None
            self.metrics.event_published(
                self.kind, self.instance, event.type.value, record.topic, status, now - event.occurred_at.timestamp()
            )
        return events, records

    async def _dead_letter(self, verified: VerifiedCallback, error: MalformedCallbackError) -> None:
        record = to_dead_letter(
            self.dead_letter_topic,
            provider=self.kind,
            instance=self.instance,
            error=error,
            body=verified.raw.body,
            headers=verified.raw.headers,
            received_at=verified.raw.received_at,
        )
        await self.publisher.publish([record])
        self.metrics.dead_lettered(self.kind, self.instance, error.reason)

    async def _read_body(self, receive: Receive, headers: dict[str, str]) -> bytes:
        limit = self.server.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            raise RequestError("body_too_large", f"body exceeds {limit} bytes", status=413)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestError("bad_request", "client disconnected before the body ended", status=400)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError("body_too_large", f"body exceeds {limit} bytes", status=413)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _reply_for(self, error: CallbackError) -> Reply:
        reply = self.provider.rejected(error)
        if error.status == 405:
            return Reply(reply.status, reply.body, reply.media_type, {**reply.headers, "Allow": "POST"})
        if error.status == 503:
            return Reply(
                reply.status, reply.body, reply.media_type, {**reply.headers, "Retry-After": RETRY_AFTER_SECONDS}
            )
        return reply

    def _failure(self, error: PublishError) -> Reply:
        failure = CallbackError(error.reason, "not stored; retry later", status=503)
        return self._reply_for(failure)

    def _fields(self, request_id: str, outcome: str, reason: str | None, detail: str | None) -> dict[str, object]:
        return {
            "event": "callback",
            "request_id": request_id,
            "provider": self.kind,
            "instance": self.instance,
            "outcome": outcome,
            "reason": reason,
            "detail": detail,
        }


async def _send(send: Send, reply: Reply, request_id: str) -> None:
    headers = [
        (b"content-type", reply.media_type.encode("latin-1")),
        (b"content-length", str(len(reply.body)).encode("latin-1")),
        (b"x-request-id", request_id.encode("latin-1", "replace")),
    ]
    headers.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items())
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


def masked_parties(event: SmsEvent) -> dict[str, str | None]:
    """The event's numbers, masked, for a debug log line."""
    return {"to": mask_phone(event.to), "from": mask_phone(event.from_)}
