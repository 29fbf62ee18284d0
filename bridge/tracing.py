"""OpenTelemetry tracing (the optional `otel` extra): a SERVER span per callback, a PRODUCER span per publish.

Off unless configured the standard way: `configured()` reads only the environment, and nothing of OpenTelemetry
is imported until `Tracing.from_env()` is called (by `serve`, when configured). The app then gets a Tracing;
without one, the endpoint and the pipeline do nothing more per callback than check that it is None.

Spans carry what identifies the callback and its outcome, never a phone number, a text, a token or a secret:
`url.path` is the instance's path, without the URL token segment or any query.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span

ENDPOINT_VARIABLES: Final = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
SERVICE_NAME: Final = "sms-bridge"


def configured(env: Mapping[str, str]) -> bool:
    """Whether to trace: an OTLP endpoint is set, the SDK is not disabled and the traces exporter is not `none`."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return any(env.get(name, "").strip() for name in ENDPOINT_VARIABLES)


class Tracing:
    """Starts and ends the bridge's spans. Only this class touches OpenTelemetry (imported when it is built)."""

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry.trace import SpanKind, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self._tracer = provider.get_tracer("bridge")
        self._propagator = TraceContextTextMapPropagator()
        self._server, self._producer, self._error = SpanKind.SERVER, SpanKind.PRODUCER, StatusCode.ERROR

    @classmethod
    def from_env(cls) -> Tracing:
        """OTLP/HTTP export configured by the standard OTEL_* variables (endpoint, headers, timeout, service name,
        resource attributes, sampler), batched off the event loop."""
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import OTELResourceDetector, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({"service.name": SERVICE_NAME}).merge(OTELResourceDetector().detect())
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(provider)

    def shutdown(self) -> None:
        """Export what is still buffered (at exit)."""
        self.provider.shutdown()

    def callback(self, traceparent: str | None, method: str, path: str, kind: str, instance: str) -> Span:
        """The SERVER span of one callback, continuing the caller's trace when it sent a valid `traceparent`."""
        parent = self._propagator.extract({"traceparent": traceparent}) if traceparent is not None else None
        return self._tracer.start_span(
            f"{method} {path}", context=parent, kind=self._server,
            attributes={"http.request.method": method, "url.path": path, "http.route": path,
                        "sms_bridge.provider": kind, "sms_bridge.instance": instance},
        )  # fmt: skip

    def callback_done(self, span: Span, status_code: int, outcome: str, reason: str | None) -> None:
        span.set_attribute("http.response.status_code", status_code)
        span.set_attribute("sms_bridge.outcome", outcome)
        if reason is not None:
            span.set_attribute("sms_bridge.reason", reason)
        if status_code >= 500:
            span.set_status(self._error)
            span.set_attribute("error.type", reason or str(status_code))
        span.end()

    def publish(self, parent: Span, topic: str, count: int) -> Span:
        """The PRODUCER span of one publish (a child of the callback's span); its context goes on the records."""
        from opentelemetry.trace import set_span_in_context

        return self._tracer.start_span(
            f"send {topic}", context=set_span_in_context(parent), kind=self._producer,
            attributes={"messaging.system": "kafka", "messaging.operation.type": "send",
                        "messaging.operation.name": "send", "messaging.destination.name": topic,
                        "messaging.batch.message_count": count},
        )  # fmt: skip

    def publish_done(self, span: Span, error: BaseException | None) -> None:
        if error is not None:
            span.set_status(self._error)
            span.set_attribute("error.type", type(error).__name__)
        span.end()

    @staticmethod
    def traceparent(span: Span) -> str:
        """The W3C `traceparent` of a span: what a record carries so that consumers continue the trace."""
        context = span.get_span_context()
        return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
