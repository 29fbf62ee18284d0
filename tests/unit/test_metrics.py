"""BridgeMetrics on its own registry: closed label sets exported at zero, what each method counts,
buckets around the deadlines, and /metrics through prometheus_client's negotiation."""

from __future__ import annotations

import gzip

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Message

from bridge.events import EventType
from bridge.http.settings import ServerSettings
from bridge.kafka.settings import KafkaSettings
from bridge.metrics import (
    DEAD_LETTER_REASONS,
    LAG_BUCKETS,
    LATENCY_BUCKETS,
    OUTCOMES,
    PUBLISH_FAILURES,
    REJECTION_REASONS,
    STATUSES,
    BridgeMetrics,
    region_label,
)
from bridge.spool.store import SpoolSettings

TOPICS = {EventType.DELIVERY_RECEIPT: "sms.delivery-receipts", EventType.INBOUND_MESSAGE: "sms.inbound-messages"}
ALIBABA_REPLY_DEADLINE = 0.6  # Alibaba Cloud SMS expects a reply within this; instances may set it


@pytest.fixture
def metrics(registry: CollectorRegistry) -> BridgeMetrics:
    built = BridgeMetrics(registry)
    built.add_instance("tencent", "main", topics=TOPICS)
    return built


def series(registry: CollectorRegistry, name: str) -> list[dict[str, str]]:
    """The label sets of every sample named `name`."""
    return [dict(s.labels) for family in registry.collect() for s in family.samples if s.name == name]


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_no_family_uses_a_label_that_prometheus_sets_itself(metrics: BridgeMetrics) -> None:
    for family in metrics.registry.collect():
        for sample in family.samples:
            assert not {"instance", "job"} & sample.labels.keys(), sample.name


def test_every_labelled_series_of_an_account_is_exported_at_zero(metrics: BridgeMetrics) -> None:
    r = metrics.registry
    account = {"provider": "tencent", "account": "main"}
    for outcome in OUTCOMES:
        assert value(r, "sms_bridge_callbacks_total", **account, outcome=outcome) == 0
        assert value(r, "sms_bridge_callback_duration_seconds_count", **account, outcome=outcome) == 0
    for reason in REJECTION_REASONS:
        assert value(r, "sms_bridge_callback_rejections_total", **account, reason=reason) == 0
    for reason in DEAD_LETTER_REASONS:
        assert value(r, "sms_bridge_dead_letters_total", **account, reason=reason) == 0
    for status in STATUSES:
        for final in ("true", "false"):
            assert value(r, "sms_bridge_delivery_statuses_total", **account, status=status, final=final,
                         region="unknown") == 0
    for event_type, topic in TOPICS.items():
        assert value(r, "sms_bridge_records_published_total", **account, type=event_type.value, topic=topic) == 0
        assert value(r, "sms_bridge_event_lag_seconds_count", **account, type=event_type.value) == 0
    for reason in PUBLISH_FAILURES:
        assert value(r, "sms_bridge_publish_failures_total", reason=reason) == 0
    for publish in ("ok", "failed"):
        assert value(r, "sms_bridge_publish_duration_seconds_count", outcome=publish) == 0
    assert value(r, "sms_bridge_callback_rejections_total", provider="none", account="none", reason="not_found") == 0


def test_the_closed_sets_match_the_error_codes() -> None:
    assert "not_found" not in REJECTION_REASONS  # it has no account; exported once as provider=account="none"
    assert {"bad_signature", "stale_timestamp", "replay", "overloaded", "draining"} <= set(REJECTION_REASONS)
    assert not set(REJECTION_REASONS) & set(DEAD_LETTER_REASONS)
    assert set(PUBLISH_FAILURES) == {"not_connected", "timeout", "broker_error", "spool_full", "spool_failed"}


def test_a_dead_letter_is_not_counted_as_a_rejection(metrics: BridgeMetrics) -> None:
    metrics.dead_lettered("tencent", "main", "invalid_json")
    metrics.dead_lettered("tencent", "main", "invalid_json")
    r = metrics.registry
    assert value(r, "sms_bridge_dead_letters_total", provider="tencent", account="main", reason="invalid_json") == 2
    rejections = [s for s in series(r, "sms_bridge_callback_rejections_total")]
    assert all(r.get_sample_value("sms_bridge_callback_rejections_total", s) == 0 for s in rejections)


def test_callback_done_counts_the_outcome_and_times_it_by_outcome(metrics: BridgeMetrics) -> None:
    metrics.callback_done("tencent", "main", "accepted", 0.02)
    metrics.callback_done("tencent", "main", "failed", 5.01)
    r = metrics.registry
    labels = {"provider": "tencent", "account": "main"}
    assert value(r, "sms_bridge_callbacks_total", **labels, outcome="accepted") == 1
    assert value(r, "sms_bridge_callback_duration_seconds_bucket", **labels, outcome="accepted", le="0.025") == 1
    assert value(r, "sms_bridge_callback_duration_seconds_bucket", **labels, outcome="failed", le="5.0") == 0
    assert value(r, "sms_bridge_callback_duration_seconds_bucket", **labels, outcome="failed", le="5.25") == 1


def test_publish_durations_are_recorded_for_failures_too(metrics: BridgeMetrics) -> None:
    metrics.publish_done("ok", 0.004)
    metrics.publish_done("failed", 5.002)
    metrics.publish_failed("timeout")
    r = metrics.registry
    assert value(r, "sms_bridge_publish_duration_seconds_count", outcome="ok") == 1
    assert value(r, "sms_bridge_publish_duration_seconds_count", outcome="failed") == 1
    assert value(r, "sms_bridge_publish_duration_seconds_sum", outcome="failed") == pytest.approx(5.002)
    assert value(r, "sms_bridge_publish_failures_total", reason="timeout") == 1


def test_a_receipt_counts_its_status_by_region_and_opens_the_regions_other_statuses(metrics: BridgeMetrics) -> None:
    metrics.event_published("tencent", "main", "sms.delivery_receipt", "sms.delivery-receipts", "delivered", "CN", 0.3,
                            final=True)
    r = metrics.registry
    labels = {"provider": "tencent", "account": "main"}
    assert value(r, "sms_bridge_delivery_statuses_total", **labels, status="delivered", final="true", region="CN") == 1
    others = [("delivered", "false"), *((s, f) for s in ("undelivered", "unknown") for f in ("true", "false"))]
    for status, final in others:
        assert value(r, "sms_bridge_delivery_statuses_total", **labels, status=status, final=final, region="CN") == 0
    assert value(r, "sms_bridge_records_published_total", **labels, type="sms.delivery_receipt",
                 topic="sms.delivery-receipts") == 1  # fmt: skip
    assert value(r, "sms_bridge_event_lag_seconds_bucket", **labels, type="sms.delivery_receipt", le="0.25") == 0
    assert value(r, "sms_bridge_event_lag_seconds_bucket", **labels, type="sms.delivery_receipt", le="0.5") == 1


def test_an_intermediate_receipt_counts_as_not_final(metrics: BridgeMetrics) -> None:
    metrics.event_published("telnyx", "main", "sms.delivery_receipt", "sms.delivery-receipts", "unknown", "US", 0.3)
    r = metrics.registry
    labels = {"provider": "telnyx", "account": "main", "status": "unknown", "region": "US"}
    assert value(r, "sms_bridge_delivery_statuses_total", **labels, final="false") == 1
    assert value(r, "sms_bridge_delivery_statuses_total", **labels, final="true") == 0


def test_an_inbound_message_counts_no_status(metrics: BridgeMetrics) -> None:
    metrics.event_published("tencent", "main", "sms.inbound_message", "sms.inbound-messages", None, "US", 1.0)
    regions = {s["region"] for s in series(metrics.registry, "sms_bridge_delivery_statuses_total")}
    assert regions == {"unknown"}


@pytest.mark.parametrize(
    ("region", "label"),
    [("CN", "CN"), ("US", "US"), (None, "unknown"), ("cn", "unknown"), ("CHN", "unknown"), ("", "unknown"),
     ("Ü1", "unknown"), ('C"', "unknown")],
)  # fmt: skip
def test_region_labels_are_alpha_2_codes_or_unknown(region: str | None, label: str) -> None:
    assert region_label(region) == label


def test_a_negative_lag_from_a_fast_clock_is_counted_as_zero(metrics: BridgeMetrics) -> None:
    metrics.event_published("tencent", "main", "sms.inbound_message", "sms.inbound-messages", None, None, -3.0)
    labels = {"provider": "tencent", "account": "main", "type": "sms.inbound_message"}
    assert value(metrics.registry, "sms_bridge_event_lag_seconds_bucket", **labels, le="0.1") == 1


@pytest.mark.parametrize(
    "deadline",
    [
        ServerSettings.model_fields["reply_deadline_seconds"].default,
        KafkaSettings.model_fields["produce_timeout_seconds"].default,
        ALIBABA_REPLY_DEADLINE,
        SpoolSettings.model_fields["budget_seconds"].default,
    ],
)
def test_latency_buckets_resolve_each_deadline(deadline: float) -> None:
    """A bucket at the deadline and the next within 10 % above it: replies cut off at the deadline
    are not interpolated across a wide bucket (the p50 of 7.2 s while every reply took 5.0 s)."""
    assert deadline in LATENCY_BUCKETS
    above = LATENCY_BUCKETS[LATENCY_BUCKETS.index(deadline) + 1]
    assert above <= deadline * 1.1
    below = LATENCY_BUCKETS[LATENCY_BUCKETS.index(deadline) - 1]
    assert below >= deadline * 0.75


def test_lag_buckets_resolve_sub_second_lag_and_a_day_of_backlog() -> None:
    assert sum(b < 1.0 for b in LAG_BUCKETS) >= 3
    assert LAG_BUCKETS[0] <= 0.1
    assert LAG_BUCKETS[-1] >= 86400
    assert list(LAG_BUCKETS) == sorted(set(LAG_BUCKETS))
    assert list(LATENCY_BUCKETS) == sorted(set(LATENCY_BUCKETS))


# --- /metrics -------------------------------------------------------------------------------------


@pytest.fixture
def client(metrics: BridgeMetrics) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/metrics", metrics.asgi(), methods=["GET"])])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bridge.test")


@pytest.mark.anyio
async def test_metrics_are_served_as_prometheus_text_by_default(client: httpx.AsyncClient) -> None:
    reply = await client.get("/metrics", headers={"accept-encoding": "identity"})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "content-encoding" not in reply.headers
    names = {f.name for f in text_string_to_metric_families(reply.text)}
    assert "sms_bridge_callbacks" in names


@pytest.mark.anyio
async def test_metrics_negotiate_openmetrics(client: httpx.AsyncClient) -> None:
    reply = await client.get("/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert reply.headers["content-type"].startswith("application/openmetrics-text")
    assert reply.text.endswith("# EOF\n")


@pytest.mark.anyio
async def test_metrics_are_gzipped_when_the_scraper_asks(metrics: BridgeMetrics) -> None:
    metrics.callback_done("tencent", "main", "accepted", 0.01)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "query_string": b"",
             "headers": [(b"accept-encoding", b"gzip, deflate")]}  # fmt: skip
    await metrics.asgi()(scope, receive, send)
    start, body = sent
    assert (b"content-encoding", b"gzip") in start["headers"]
    text = gzip.decompress(body["body"]).decode()
    assert 'sms_bridge_callbacks_total{account="main",outcome="accepted",provider="tencent"} 1.0' in text


@pytest.mark.anyio
async def test_metrics_endpoint_refuses_other_methods(client: httpx.AsyncClient) -> None:
    assert (await client.post("/metrics")).status_code == 405
