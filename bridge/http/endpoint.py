"""The callback endpoint: a thin ASGI shell over one instance's intake and pipeline.

It bounds each callback's time (the body's, then the reply's), turns every error into a reply in
the provider's own format (each error says its outcome, status and reply headers), counts and
logs the outcome, and writes the reply. An instance's callback URL is `<path>` or
`<path>/<token>`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.types import Receive, Scope, Send

from bridge.errors import CallbackError, InternalError, Outcome, PublishError, RequestError
from bridge.events import SmsEvent
from bridge.http.accepted_log import AcceptedLog, Fixed
from bridge.http.deadlines import Deadlines
from bridge.http.intake import Intake, headers_of, send_reply
from bridge.http.intake import request_id as new_request_id
from bridge.http.lifecycle import Lifecycle
from bridge.http.pipeline import Pipeline, Stored
from bridge.kafka.envelope import valid_traceparent
from bridge.metrics import BridgeMetrics
from bridge.providers.base import Handshake, Reply
from bridge.redact import mask_phone

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from bridge.tracing import Tracing

log = logging.getLogger(__name__)


class CallbackEndpoint:
    """The ASGI endpoint of one provider instance, built once at assembly with its resolved deadlines."""

    def __init__(
        self,
        intake: Intake,
        pipeline: Pipeline,
        *,
        reply_deadline: float,
        body_timeout: float,
        lifecycle: Lifecycle,
        deadlines: Deadlines,
        metrics: BridgeMetrics,
        accepted_log: AcceptedLog,
        tracing: Tracing | None = None,
    ) -> None:
        self.intake = intake
        self.pipeline = pipeline
        self.provider = pipeline.provider
        self.kind = pipeline.kind
        self.instance = pipeline.instance
        self.reply_deadline = reply_deadline
        self.body_timeout = body_timeout
        self.lifecycle = lifecycle
        self.deadlines = deadlines
        self.metrics = metrics
        self.accepted_log = accepted_log
        self.tracing = tracing
        self.path = self.provider.settings.path  # the instance's path: never its URL token
        # What every accepted line says alike, rendered once; the line adds its request id and the rest.
        self._accepted = Fixed({k: v for k, v in self._fields("", "accepted", None, None).items() if k != "request_id"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        lifecycle = self.lifecycle
        lifecycle.in_flight += 1
        headers = headers_of(scope["headers"])
        request_id = new_request_id(headers.get("x-request-id"))
        outcome: Outcome = "accepted"
        reason: str | None = None
        stored: Stored | None = None
        span: Span | None = None
        if self.tracing is not None:
            span = self.tracing.callback(valid_traceparent(headers.get("traceparent")), scope["method"], self.path,
                                         self.kind, self.instance)
        try:
            handled = await self._handle(scope, receive, headers, request_id, span)
            if isinstance(handled, Handshake):
                reply = handled.reply
            else:
                stored, reply = handled, self.provider.accepted(handled.verified)
        except (CallbackError, PublishError) as failure:
            error = failure.refusal if isinstance(failure, PublishError) else failure
            outcome, reason, reply = error.outcome, error.reason, self._reply_for(error)
            if isinstance(failure, PublishError):
                self.metrics.publish_failed(failure.reason)
            elif outcome == "rejected":
                self.metrics.callback_rejected(self.kind, self.instance, error.reason)
            message = "callback not stored" if outcome == "failed" else "callback rejected"
            log.log(error.log_level, message, extra=self._fields(request_id, outcome, reason, str(failure)))
        except Exception:
            error = InternalError()
            outcome, reason, reply = error.outcome, error.reason, self.provider.rejected(error)
            log.exception("callback failed", extra=self._fields(request_id, outcome, reason, None))
        finally:
            lifecycle.in_flight -= 1
        elapsed = time.perf_counter() - started
        self.metrics.callback_done(self.kind, self.instance, outcome, elapsed)
        if stored is not None and self.accepted_log.enabled:
            self.accepted_log.write({
                "request_id": request_id,
                "event_ids": [r.event_id for r in stored.records],
                "parties": [masked_parties(e) for e in stored.events[:5]],
                "dead_lettered_reports": len(stored.bad),
                "latency_ms": int(elapsed * 1_000_000) / 1000,  # to the µs; round(x, 3) costs a decimal conversion
            }, self._accepted)
        if span is not None and self.tracing is not None:
            self.tracing.callback_done(span, reply.status, outcome, reason)
        await send_reply(send, reply, request_id)

    async def _handle(
        self, scope: Scope, receive: Receive, headers: dict[str, str], request_id: str, span: Span | None
    ) -> Stored | Handshake:
        """One deadline for both: the body's first, then the reply's."""
        task: asyncio.Task[object] = asyncio.current_task()  # type: ignore[assignment]
        now = task.get_loop().time()  # the task's loop: get_running_loop() would ask the OS for the pid again
        reply_by = now + self.reply_deadline
        reading = True
        try:
            self.deadlines.set(task, now + self.body_timeout)
            raw = await self.intake.read(scope, receive, headers)
            reading = False
            self.deadlines.set(task, reply_by)
            return await self.pipeline.handle(raw, request_id, reply_by, span)
        except asyncio.CancelledError:
            if not self.deadlines.clear(task):
                raise  # not our deadline: shutdown or the client went away
            task.uncancel()
            if reading:
                raise RequestError("request_timeout", "body not received in time", status=408) from None
            raise PublishError("timeout", "reply deadline passed") from None
        finally:
            self.deadlines.clear(task)

    def _reply_for(self, error: CallbackError) -> Reply:
        """The provider's refusal, with the headers the error calls for (Allow, Retry-After)."""
        reply = self.provider.rejected(error)
        extra = error.headers
        return Reply(reply.status, reply.body, reply.media_type, {**reply.headers, **extra}) if extra else reply

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
