"""Tracing end to end: a real `sms-bridge serve` process exporting over OTLP/HTTP to a receiver started here,
publishing to the embedded broker. One trace runs from the callback's `traceparent` through the bridge's spans
to the `traceparent` on the Kafka record."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.conftest import TENCENT_TOKEN, config_dict
from tests.integration.kafka import read_sync

DR = "sms.delivery-receipts"


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP traces endpoint on a free loopback port: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[tuple[dict[str, Any], Span]] = []  # (resource attributes, span)
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path != "/v1/traces" or self.headers.get("content-type") != "application/x-protobuf":
            self.send_response(404)
            self.end_headers()
            return
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                self.server.spans.extend((resource, span) for span in scope_spans.spans)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_one_trace_from_the_callers_traceparent_to_the_kafka_record(  # type: ignore[no-untyped-def]
    broker, bridge_process, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    bridge = bridge_process(config_dict(broker.bootstrap))
    trace_id, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    sid = f"trace-{uuid.uuid4().hex[:12]}"
    body = orjson.dumps([{"user_receive_time": "2015-10-17 08:03:04", "nationcode": "86", "mobile": "13800138000",
                          "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "ok", "sid": sid}])
    reply = httpx.post(f"{bridge.url}/callbacks/tencent/test/{TENCENT_TOKEN}", content=body,
                       headers={"content-type": "application/json", "traceparent": f"00-{trace_id}-{caller_span}-01"})
    assert reply.status_code == 200, reply.text

    [record] = [r for r in read_sync(broker.bootstrap, [DR], lambda rs: any(r.key == sid.encode() for r in rs))
                if r.key == sid.encode()]
    version, record_trace, record_span, flags = orjson.loads(record.value)["traceparent"].split("-")
    assert (version, record_trace, flags) == ("00", trace_id, "01")

    deadline = time.monotonic() + 60  # the exporter batches: a condition with a generous deadline
    while time.monotonic() < deadline and len([s for _, s in receiver.spans if s.trace_id.hex() == trace_id]) < 2:
        time.sleep(0.1)
    mine = {s.kind: (resource, s) for resource, s in receiver.spans if s.trace_id.hex() == trace_id}
    assert set(mine) == {Span.SPAN_KIND_SERVER, Span.SPAN_KIND_PRODUCER}, receiver.spans
    resource, server = mine[Span.SPAN_KIND_SERVER]
    _, producer = mine[Span.SPAN_KIND_PRODUCER]
    assert resource["service.name"] == "sms-bridge"
    assert server.parent_span_id.hex() == caller_span
    assert producer.parent_span_id == server.span_id
    assert producer.span_id.hex() == record_span  # the record carries the bridge's publish span
    attributes = {a.key: a.value for a in server.attributes}
    assert attributes["url.path"].string_value == "/callbacks/tencent/test"
    assert attributes["sms_bridge.outcome"].string_value == "accepted"
    assert attributes["http.response.status_code"].int_value == 200
    assert TENCENT_TOKEN not in str(receiver.spans) and "13800138000" not in str(receiver.spans)
