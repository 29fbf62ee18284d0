"""OpenTelemetry tracing in process, with the SDK's in-memory exporter: one trace from the caller's `traceparent`
through the callback's SERVER span and its publish's PRODUCER span to the `traceparent` on the record."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from bridge.clock import FixedClock
from bridge.config import Settings
from bridge.errors import PublishError
from bridge.http.app import create_app
from bridge.tracing import Tracing, configured
from tests.conftest import NX_SECRET, TENCENT_TOKEN, fixture_bytes
from tests.fakes import FakePublisher
from tests.helpers import assert_valid_record, nx_headers

pytestmark = pytest.mark.anyio

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
TENCENT = "/callbacks/tencent/test"
NXCLOUD = "/callbacks/nxcloud/test"
STATUS = fixture_bytes("tencent", "status.json")
DR = fixture_bytes("nxcloud", "dr.json")


class Traced:
    def __init__(self, settings: Settings, registry: CollectorRegistry, clock: FixedClock) -> None:
        self.spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.publisher = FakePublisher()
        self.app = create_app(settings, self.publisher, registry, clock, tracing=Tracing(provider))
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app, client=("203.0.113.5", 40000)),
                                        base_url="http://bridge.test")


@pytest.fixture
async def traced(settings: Settings, registry: CollectorRegistry, clock: FixedClock) -> AsyncIterator[Traced]:
    bridge = Traced(settings, registry, clock)
    async with bridge.app.router.lifespan_context(bridge.app), bridge.client:
        yield bridge


async def test_one_trace_runs_from_the_callers_traceparent_to_the_records(traced: Traced) -> None:
    reply = await traced.client.post(f"{TENCENT}/{TENCENT_TOKEN}", content=STATUS,
                                     headers={"content-type": "application/json", "traceparent": TRACEPARENT})
    assert reply.status_code == 200
    server, producer = sorted(traced.spans.get_finished_spans(), key=lambda s: s.kind is SpanKind.PRODUCER)
    assert server.kind is SpanKind.SERVER and producer.kind is SpanKind.PRODUCER
    assert server.context is not None and producer.context is not None and producer.parent is not None
    assert f"{server.context.trace_id:032x}" == f"{producer.context.trace_id:032x}" == TRACE_ID
    assert server.parent is not None and f"{server.parent.span_id:016x}" == "00f067aa0ba902b7"  # the caller's
    assert producer.parent.span_id == server.context.span_id
    [record] = traced.publisher.records
    assert assert_valid_record(record)["traceparent"] == f"00-{TRACE_ID}-{producer.context.span_id:016x}-01"
    assert server.name == f"POST {TENCENT}"
    assert dict(server.attributes or {}) == {
        "http.request.method": "POST", "url.path": TENCENT, "http.route": TENCENT, "http.response.status_code": 200,
        "sms_bridge.provider": "tencent", "sms_bridge.instance": "tencent-test", "sms_bridge.outcome": "accepted",
    }
    assert dict(producer.attributes or {}) == {
        "messaging.system": "kafka", "messaging.operation.type": "send", "messaging.operation.name": "send",
        "messaging.destination.name": "sms.delivery-receipts", "messaging.batch.message_count": 1,
    }


async def test_spans_carry_no_token_number_text_or_secret(traced: Traced) -> None:
    await traced.client.post(f"{TENCENT}/{TENCENT_TOKEN}", content=STATUS, headers={"content-type": "application/json"})
    await traced.client.post(NXCLOUD, content=DR, headers=nx_headers(DR))
    await traced.client.post(f"{TENCENT}/wrong-token-0123456789", content=STATUS,
                             headers={"content-type": "application/json"})
    spans = traced.spans.get_finished_spans()
    assert len(spans) == 5
    text = repr([(s.name, dict(s.attributes or {}), s.events) for s in spans])
    for secret in (TENCENT_TOKEN, "wrong-token", NX_SECRET, "13800138000", "8184505018", "2347200160"):
        assert secret not in text
    rejected = [s for s in spans if (s.attributes or {}).get("sms_bridge.outcome") == "rejected"]
    assert [dict(s.attributes or {})["sms_bridge.reason"] for s in rejected] == ["bad_token"]


async def test_without_a_caller_traceparent_the_bridge_starts_the_trace(traced: Traced) -> None:
    await traced.client.post(f"{TENCENT}/{TENCENT_TOKEN}", content=STATUS, headers={"content-type": "application/json"})
    server = next(s for s in traced.spans.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert server.parent is None and server.context is not None
    [record] = traced.publisher.records
    assert assert_valid_record(record)["traceparent"].startswith(f"00-{server.context.trace_id:032x}-")


async def test_a_failed_publish_marks_both_spans_as_errors(traced: Traced) -> None:
    traced.publisher.failing = PublishError("timeout", "no ack")
    reply = await traced.client.post(f"{TENCENT}/{TENCENT_TOKEN}", content=STATUS,
                                     headers={"content-type": "application/json"})
    assert reply.status_code >= 500
    spans = traced.spans.get_finished_spans()
    assert {s.kind: s.status.status_code for s in spans} == {SpanKind.SERVER: StatusCode.ERROR,
                                                             SpanKind.PRODUCER: StatusCode.ERROR}


@pytest.mark.parametrize(
    ("env", "on"),
    [({}, False), ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
     ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
     ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
     ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False)],
)  # fmt: skip
def test_tracing_is_off_unless_the_environment_configures_it(env: dict[str, str], on: bool) -> None:
    assert configured(env) is on


def test_without_tracing_nothing_of_opentelemetry_is_imported() -> None:
    code = ("import sys, bridge.cli.serve, bridge.http.app, bridge.tracing; "
            "sys.exit(any(m.startswith('opentelemetry') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
