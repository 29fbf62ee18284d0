"""The whole app in process: routes, replies, dead letters, failure handling, metrics and probes."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from bridge.clock import FixedClock
from bridge.config import Settings
from bridge.errors import PublishError
from bridge.http.app import RequestIds, create_app
from bridge.http.lifecycle import Lifecycle
from bridge.logs import JsonFormatter
from tests.conftest import (
    NX_ACCESS_KEY,
    NX_OTHER_SECRET,
    NX_SECRET,
    TENCENT_TOKEN,
    config_dict,
    fixture_bytes,
    make_settings,
)
from tests.fakes import FakePublisher
from tests.helpers import SEED_MS, assert_valid_record, nx_headers

pytestmark = pytest.mark.anyio

DR_TOPIC, MO_TOPIC, DLQ_TOPIC = "sms.delivery-receipts", "sms.inbound-messages", "sms.bridge.dead-letter"
TENCENT = "/callbacks/tencent/test"
NXCLOUD = "/callbacks/nxcloud/test"
PEER = ("203.0.113.5", 40000)
JSON = {"content-type": "application/json"}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
STATUS = fixture_bytes("tencent", "status.json")
DR = fixture_bytes("nxcloud", "dr.json")
MO = fixture_bytes("nxcloud", "mo.json")


@pytest.fixture(autouse=True)
def _no_internal_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail any test in which a callback ended in an unexpected exception."""
    caplog.set_level(logging.INFO, logger="bridge")
    yield
    failed = [r for r in caplog.records if r.name.startswith("bridge") and r.exc_info]
    assert not failed, [r.getMessage() for r in failed]


class Bridge:
    """The app under test with its fake publisher, registry and lifecycle."""

    def __init__(self, settings: Settings, registry: CollectorRegistry, clock: FixedClock, peer: tuple[str, int]):
        self.publisher = FakePublisher()
        self.registry = registry
        self.lifecycle = Lifecycle()
        self.app: Starlette = create_app(settings, self.publisher, registry, clock, self.lifecycle)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=peer), base_url="http://bridge.test"
        )

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def outcomes(self, provider: str, instance: str) -> dict[str, float]:
        return {
            o: self.metric("sms_bridge_callbacks_total", provider=provider, account=instance, outcome=o)
            for o in ("accepted", "rejected", "dead_lettered", "failed")
        }

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(path, content=body, headers=JSON if headers is None else headers)

    async def post_nx(self, body: bytes, **signing: Any) -> httpx.Response:
        return await self.post(NXCLOUD, body, nx_headers(body, **signing))


@contextlib.asynccontextmanager
async def running(settings: Settings, registry: CollectorRegistry, clock: FixedClock,
                  peer: tuple[str, int] = PEER) -> AsyncIterator[Bridge]:
    bridge = Bridge(settings, registry, clock, peer)
    async with bridge.app.router.lifespan_context(bridge.app), bridge.client:
        yield bridge


@pytest.fixture
async def bridge(settings: Settings, registry: CollectorRegistry, clock: FixedClock) -> AsyncIterator[Bridge]:
    async with running(settings, registry, clock) as running_bridge:
        yield running_bridge


# --- Tencent ------------------------------------------------------------------------------------------


async def test_tencent_token_in_the_path_publishes_the_receipt(bridge: Bridge) -> None:
    reply = await bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", STATUS, {**JSON, "traceparent": TRACEPARENT})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == {"result": 0, "errmsg": "OK"}
    [record] = bridge.publisher.records
    assert record.topic == DR_TOPIC
    raw = assert_valid_record(record)
    assert raw["source"] == "/sms/tencent/1400000000"
    assert raw["time"] == "2015-10-17T00:03:04Z"
    assert raw["traceparent"] == TRACEPARENT
    assert raw["data"]["received_at"] == "2021-02-07T06:54:00Z"  # the injected clock
    assert bridge.outcomes("tencent", "tencent-test") == {"accepted": 1, "rejected": 0, "dead_lettered": 0,
                                                          "failed": 0}
    assert bridge.metric("sms_bridge_records_published_total", provider="tencent", account="tencent-test",
                         type="sms.delivery_receipt", topic=DR_TOPIC) == 1


async def test_tencent_token_in_the_query_publishes_the_reply_as_inbound_message(bridge: Bridge) -> None:
    reply = await bridge.post(f"{TENCENT}?token={TENCENT_TOKEN}", fixture_bytes("tencent", "reply.json"))
    assert reply.status_code == 200 and reply.json() == {"result": 0, "errmsg": "OK"}
    [record] = bridge.publisher.records
    assert record.topic == MO_TOPIC
    assert assert_valid_record(record)["data"]["text"] == "用户回复的内容"
    assert bridge.metric("sms_bridge_records_published_total", provider="tencent", account="tencent-test",
                         type="sms.inbound_message", topic=MO_TOPIC) == 1


async def test_tencent_array_of_reports_is_published_in_one_all_or_nothing_call(bridge: Bridge) -> None:
    reports = [{**orjson.loads(STATUS)[0], "sid": f"5000:{i}"} for i in range(100)]
    reply = await bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", orjson.dumps(reports))
    assert reply.status_code == 200
    assert bridge.publisher.calls == 1
    assert [r.key for r in bridge.publisher.records] == [f"5000:{i}".encode() for i in range(100)]
    assert bridge.metric("sms_bridge_records_published_total", provider="tencent", account="tencent-test",
                         type="sms.delivery_receipt", topic=DR_TOPIC) == 100


async def test_a_tencent_array_with_one_bad_report_publishes_the_rest_and_dead_letters_that_one(bridge: Bridge) -> None:
    reports = [{**orjson.loads(STATUS)[0], "sid": f"6000:{i}"} for i in range(100)]
    reports[41] = {**reports[41], "user_receive_time": "not a time"}
    reply = await bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", orjson.dumps(reports), {**JSON, "x-request-id": "rq-41"})
    assert (reply.status_code, reply.json()) == (200, {"result": 0, "errmsg": "OK"})
    assert bridge.publisher.calls == 1  # receipts and the dead letter: stored together, or not at all
    assert [r.key for r in bridge.publisher.on(DR_TOPIC)] == [f"6000:{i}".encode() for i in range(100) if i != 41]
    [letter] = [orjson.loads(r.value) for r in bridge.publisher.on(DLQ_TOPIC)]
    assert (letter["index"], letter["report"], letter["reason"], letter["request_id"]) == (
        41, reports[41], "invalid_field", "rq-41")
    assert orjson.loads(letter["report_body"]) == [reports[41]]
    assert bridge.metric("sms_bridge_dead_letters_total", provider="tencent", account="tencent-test",
                         reason="invalid_field") == 1
    assert bridge.outcomes("tencent", "tencent-test")["accepted"] == 1


async def test_a_tencent_array_whose_reports_all_fail_is_400_with_each_report_dead_lettered(bridge: Bridge) -> None:
    reports = [{**orjson.loads(STATUS)[0], "sid": f"7000:{i}", "mobile": None} for i in range(3)]
    reply = await bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", orjson.dumps(reports))
    assert reply.status_code == 400
    assert bridge.publisher.on(DR_TOPIC) == []
    assert [orjson.loads(r.value)["index"] for r in bridge.publisher.on(DLQ_TOPIC)] == [0, 1, 2]


@pytest.mark.parametrize(
    ("path", "reason"),
    [(f"{TENCENT}/wrong-token-0123456789abcdef", "bad_token"), (f"{TENCENT}?token=wrong", "bad_token"),
     (TENCENT, "missing_credentials")],
)
async def test_tencent_bad_or_missing_token_is_401_in_tencents_format(bridge: Bridge, path: str, reason: str) -> None:
    reply = await bridge.post(path, STATUS)
    assert reply.status_code == 401
    body = reply.json()
    assert body["result"] != 0 and body["errmsg"].startswith(reason)
    assert bridge.publisher.records == []
    assert bridge.metric("sms_bridge_callback_rejections_total", provider="tencent", account="tencent-test",
                         reason=reason) == 1
    assert bridge.outcomes("tencent", "tencent-test")["rejected"] == 1


async def test_tencent_wrong_token_does_not_leak_the_right_one(bridge: Bridge) -> None:
    reply = await bridge.post(f"{TENCENT}/{TENCENT_TOKEN[:-1]}", STATUS)
    assert reply.status_code == 401
    assert TENCENT_TOKEN not in reply.text


# --- HTTP rules -----------------------------------------------------------------------------------------


async def test_unknown_path_is_a_json_404_that_does_not_echo_the_path(bridge: Bridge) -> None:
    reply = await bridge.post(f"/callbacks/unknown/{TENCENT_TOKEN}", STATUS)
    assert reply.status_code == 404
    assert reply.json() == {"error": "not_found"}
    assert TENCENT_TOKEN not in reply.text
    assert bridge.metric("sms_bridge_callback_rejections_total", provider="none", account="none",
                         reason="not_found") == 1


@pytest.mark.parametrize("path", ["/callbacks/unknown", "/livez", "/readyz", "/metrics"])
async def test_every_reply_carries_a_request_id_the_callers_when_given(bridge: Bridge, path: str) -> None:
    generated = await bridge.client.get(path)
    assert len(generated.headers["x-request-id"]) > 12
    given = await bridge.client.get(path, headers={"x-request-id": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"


async def test_metrics_are_gzipped_and_negotiate_openmetrics(bridge: Bridge) -> None:
    plain = await bridge.client.get("/metrics", headers={"accept-encoding": "identity"})
    assert plain.headers["content-type"].startswith("text/plain") and "sms_bridge_callbacks_total" in plain.text
    zipped = await bridge.client.get("/metrics", headers={"accept-encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and "sms_bridge_callbacks_total" in zipped.text
    open_metrics = await bridge.client.get("/metrics", headers={"accept": "application/openmetrics-text"})
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.rstrip().endswith("# EOF")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_other_methods_than_post_are_405_with_allow(bridge: Bridge, method: str) -> None:
    reply = await bridge.client.request(method, f"{TENCENT}/{TENCENT_TOKEN}")
    assert reply.status_code == 405
    assert reply.headers["allow"] == "POST"
    assert reply.json()["result"] != 0
    nx = await bridge.client.request(method, NXCLOUD)
    assert (nx.status_code, nx.text) == (405, "error")
    assert bridge.publisher.records == []


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "application/xml"])
async def test_a_body_that_is_not_json_by_content_type_is_415(bridge: Bridge, content_type: str) -> None:
    reply = await bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", STATUS, {"content-type": content_type})
    assert reply.status_code == 415
    assert bridge.publisher.records == []
    assert bridge.metric("sms_bridge_callback_rejections_total", provider="tencent", account="tencent-test",
                         reason="unsupported_media_type") == 1


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON", "text/plain"])
async def test_json_content_types_are_accepted(bridge: Bridge, content_type: str) -> None:
    reply = await bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", STATUS, {"content-type": content_type})
    assert reply.status_code == 200


@pytest.fixture
async def small_bridge(registry: CollectorRegistry, clock: FixedClock) -> AsyncIterator[Bridge]:
    async with running(make_settings(config_dict(max_body_bytes=1024)), registry, clock) as running_bridge:
        yield running_bridge


async def test_a_body_over_max_body_bytes_with_content_length_is_413(small_bridge: Bridge) -> None:
    reply = await small_bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", b"[" + b" " * 1024 + b"]")
    assert reply.status_code == 413
    assert small_bridge.publisher.records == []
    assert small_bridge.metric("sms_bridge_callback_rejections_total", provider="tencent", account="tencent-test",
                               reason="body_too_large") == 1


async def test_a_chunked_body_over_max_body_bytes_is_413(small_bridge: Bridge) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b" " * 300

    reply = await small_bridge.client.post(f"{TENCENT}/{TENCENT_TOKEN}", content=chunks(), headers=JSON)
    assert reply.status_code == 413
    assert small_bridge.publisher.records == []


async def test_a_chunked_body_within_the_limit_is_read_whole(small_bridge: Bridge) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield STATUS[:50]
        yield STATUS[50:]

    reply = await small_bridge.client.post(f"{TENCENT}/{TENCENT_TOKEN}", content=chunks(), headers=JSON)
    assert reply.status_code == 200
    assert len(small_bridge.publisher.records) == 1


# --- dead letters ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "reason"), [(b'[{"sid": ', "invalid_json"), (b"[\xff\xfe]", "invalid_utf8"),
                                              (b'{"mobile":"1"}', "missing_field")])
async def test_tencent_authentic_but_malformed_body_is_400_and_one_dead_letter(
    bridge: Bridge, body: bytes, reason: str
) -> None:
    reply = await bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", body, {**JSON, "cookie": "session=abc"})
    assert reply.status_code == 400
    assert reply.json()["result"] != 0
    [record] = bridge.publisher.records
    assert record.topic == DLQ_TOPIC
    assert record.key == b"tencent-test"
    letter = orjson.loads(record.value)
    assert (letter["provider"], letter["instance"], letter["reason"]) == ("tencent", "tencent-test", reason)
    assert letter.get("body", "").encode() == body or letter.get("body_base64")
    assert TENCENT_TOKEN.encode() not in record.value
    assert b"session=abc" not in record.value
    assert bridge.outcomes("tencent", "tencent-test")["dead_lettered"] == 1
    assert bridge.metric("sms_bridge_dead_letters_total", provider="tencent", account="tencent-test",
                         reason=reason) == 1


async def test_nxcloud_signed_but_unparseable_callback_is_dead_lettered_without_secrets(bridge: Bridge) -> None:
    body = b'{"messageId": "m1", "toPhone": '
    reply = await bridge.post_nx(body)
    assert (reply.status_code, reply.text) == (400, "error")
    [record] = bridge.publisher.records
    letter = orjson.loads(record.value)
    assert record.topic == DLQ_TOPIC
    assert (letter["provider"], letter["instance"], letter["reason"]) == ("nxcloud", "nxcloud-test", "invalid_json")
    assert letter["body"] == body.decode()
    assert letter["headers"]["accesskey"] == NX_ACCESS_KEY
    assert "sign" not in letter["headers"]
    assert NX_SECRET.encode() not in record.value and nx_headers(body)["sign"].encode() not in record.value


async def test_nxcloud_unsupported_action_is_dead_lettered(bridge: Bridge) -> None:
    reply = await bridge.post_nx(DR, action="status")
    assert (reply.status_code, reply.text) == (400, "error")
    [record] = bridge.publisher.records
    assert orjson.loads(record.value)["reason"] == "unsupported_callback"


# --- NxCloud ---------------------------------------------------------------------------------------------


async def test_nxcloud_signed_dr_and_mo_are_published_to_their_topics(bridge: Bridge) -> None:
    dr = await bridge.post_nx(DR)
    mo = await bridge.post_nx(MO, action="mo", algorithm="sha256")
    assert (dr.status_code, dr.text) == (200, "success")
    assert (mo.status_code, mo.text) == (200, "success")
    assert [r.topic for r in bridge.publisher.records] == [DR_TOPIC, MO_TOPIC]
    for record in bridge.publisher.records:
        assert assert_valid_record(record)["source"] == f"/sms/nxcloud/{NX_ACCESS_KEY}"


async def test_nxcloud_header_names_are_case_insensitive_on_the_wire(bridge: Bridge) -> None:
    signed = nx_headers(DR)
    names = {"accesskey": "AccessKey", "action": "Action", "biztype": "BizType", "ts": "TS", "sign": "SIGN"}
    reply = await bridge.post(NXCLOUD, DR, {names.get(k, k): v for k, v in signed.items()})
    assert (reply.status_code, reply.text) == (200, "success")


async def test_nxcloud_second_access_key_is_accepted(bridge: Bridge) -> None:
    reply = await bridge.post_nx(DR, access_key="fme2na3kdi3ki", secret=NX_OTHER_SECRET)
    assert (reply.status_code, reply.text) == (200, "success")


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [({"sign": "0" * 32}, 401, "bad_signature"), ({"accesskey": "nobody"}, 403, "unknown_access_key"),
     ({"ts": str(SEED_MS - 61_000)}, 401, "bad_signature")],
)
async def test_nxcloud_tampered_callback_is_rejected_in_nxclouds_format(
    bridge: Bridge, change: dict[str, str], status: int, reason: str
) -> None:
    reply = await bridge.post(NXCLOUD, DR, {**nx_headers(DR), **change})
    assert (reply.status_code, reply.text) == (status, "error")
    assert reply.headers["x-bridge-reason"] == reason
    assert bridge.publisher.records == []


async def test_nxcloud_stale_timestamp_is_rejected(bridge: Bridge) -> None:
    reply = await bridge.post_nx(DR, ts_ms=SEED_MS - 61_000)
    assert (reply.status_code, reply.text) == (401, "error")
    assert bridge.metric("sms_bridge_callback_rejections_total", provider="nxcloud", account="nxcloud-test",
                         reason="stale_timestamp") == 1


async def test_nxcloud_replayed_callback_is_rejected(bridge: Bridge) -> None:
    headers = nx_headers(DR)
    assert (await bridge.post(NXCLOUD, DR, headers)).status_code == 200
    again = await bridge.post(NXCLOUD, DR, headers)
    assert (again.status_code, again.text) == (403, "error")
    assert len(bridge.publisher.records) == 1
    assert bridge.metric("sms_bridge_callback_rejections_total", provider="nxcloud", account="nxcloud-test",
                         reason="replay") == 1


# --- publisher failures -----------------------------------------------------------------------------------


async def test_publisher_failure_is_503_with_retry_after_in_tencents_format(bridge: Bridge) -> None:
    bridge.publisher.fail_next(PublishError("broker_error", "refused"))
    reply = await bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", STATUS)
    assert reply.status_code == 503
    assert reply.headers["retry-after"].isdigit()
    assert reply.json()["result"] != 0
    assert bridge.publisher.records == []
    assert bridge.metric("sms_bridge_publish_failures_total", reason="broker_error") == 1
    assert bridge.outcomes("tencent", "tencent-test") == {"accepted": 0, "rejected": 0, "dead_lettered": 0,
                                                          "failed": 1}
    retry = await bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", STATUS)
    assert retry.status_code == 200 and len(bridge.publisher.records) == 1


async def test_nxcloud_publisher_failure_releases_the_replay_reservation_so_the_retry_succeeds(
    bridge: Bridge,
) -> None:
    headers = nx_headers(DR)
    bridge.publisher.fail_next(PublishError("timeout", "no ack"))
    first = await bridge.post(NXCLOUD, DR, headers)
    assert (first.status_code, first.text) == (503, "error")
    assert "retry-after" in first.headers
    assert bridge.metric("sms_bridge_publish_failures_total", reason="timeout") == 1
    retry = await bridge.post(NXCLOUD, DR, headers)  # the identical callback, as NxCloud would resend it
    assert (retry.status_code, retry.text) == (200, "success")
    assert len(bridge.publisher.records) == 1
    assert bridge.metric("sms_bridge_records_published_total", provider="nxcloud", account="nxcloud-test",
                         type="sms.delivery_receipt", topic=DR_TOPIC) == 1


async def test_dead_letter_failure_is_503_and_the_retry_is_dead_lettered(bridge: Bridge) -> None:
    body = b"{not json"
    headers = nx_headers(body)
    bridge.publisher.fail_next()
    first = await bridge.post(NXCLOUD, body, headers)
    assert (first.status_code, first.text) == (503, "error")
    assert bridge.metric("sms_bridge_dead_letters_total", provider="nxcloud", account="nxcloud-test",
                         reason="invalid_json") == 0
    retry = await bridge.post(NXCLOUD, body, headers)
    assert (retry.status_code, retry.text) == (400, "error")
    assert [r.topic for r in bridge.publisher.records] == [DLQ_TOPIC]


async def test_publisher_not_connected_is_503(bridge: Bridge) -> None:
    bridge.publisher.failing = PublishError("not_connected", "Kafka producer is not connected")
    reply = await bridge.post_nx(DR)
    assert (reply.status_code, reply.text) == (503, "error")
    assert bridge.metric("sms_bridge_publish_failures_total", reason="not_connected") == 1


# --- client address --------------------------------------------------------------------------------------


def allowlisted(trusted_proxies: list[str]) -> Settings:
    document = config_dict(trusted_proxies=trusted_proxies)
    document["providers"][0]["allowed_networks"] = ["198.51.100.0/24"]
    return make_settings(document)


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(registry: CollectorRegistry,
                                                               clock: FixedClock) -> None:
    async with running(allowlisted([]), registry, clock, peer=("203.0.113.5", 1)) as bridge:
        reply = await bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", STATUS, {**JSON, "x-forwarded-for": "198.51.100.7"})
        assert reply.status_code == 403
        assert bridge.publisher.records == []


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(registry: CollectorRegistry,
                                                                   clock: FixedClock) -> None:
    async with running(allowlisted(["10.0.0.0/8"]), registry, clock, peer=("10.1.1.1", 1)) as bridge:
        ok = await bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", STATUS, {**JSON, "x-forwarded-for": "198.51.100.7"})
        assert ok.status_code == 200
        spoofed = await bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", STATUS,
                                    {**JSON, "x-forwarded-for": "198.51.100.7, 203.0.113.9"})
        assert spoofed.status_code == 403


# --- probes, draining, metrics, lifespan ----------------------------------------------------------------------


async def test_livez_is_200_whatever_the_publisher_and_draining(bridge: Bridge) -> None:
    assert (await bridge.client.get("/livez")).status_code == 200
    bridge.publisher.set_ready(False)
    bridge.lifecycle.draining = True
    assert (await bridge.client.get("/livez")).status_code == 200


async def test_readyz_is_200_when_the_publisher_is_ready(bridge: Bridge) -> None:
    reply = await bridge.client.get("/readyz")
    assert reply.status_code == 200
    assert bridge.metric("sms_bridge_ready") == 1


async def test_readyz_is_503_when_the_publisher_is_not_ready(bridge: Bridge) -> None:
    bridge.publisher.set_ready(False)
    reply = await bridge.client.get("/readyz")
    assert reply.status_code == 503
    assert "kafka" in reply.text
    assert bridge.metric("sms_bridge_ready") == 0
    assert bridge.metric("sms_bridge_kafka_connected") == 0


async def test_readyz_and_metrics_name_why_kafka_cannot_be_reached(bridge: Bridge) -> None:
    bridge.publisher.set_ready(False)
    bridge.publisher.down_cause = "tls_hostname"
    bridge.publisher.failures["tls_hostname"] = 3
    reply = await bridge.client.get("/readyz")
    assert (reply.status_code, reply.text) == (503, "not ready: kafka not connected: tls_hostname\n")
    assert bridge.metric("sms_bridge_kafka_connect_failures_total", cause="tls_hostname") == 3
    assert bridge.registry.get_sample_value("sms_bridge_kafka_connect_failures_total", {"cause": "refused"}) == 0


async def test_readyz_is_503_when_draining(bridge: Bridge) -> None:
    bridge.lifecycle.draining = True
    reply = await bridge.client.get("/readyz")
    assert reply.status_code == 503
    assert "draining" in reply.text


async def test_callbacks_while_draining_get_503_with_retry_after(bridge: Bridge) -> None:
    bridge.lifecycle.draining = True
    reply = await bridge.post_nx(DR)
    assert (reply.status_code, reply.text) == (503, "error")
    assert "retry-after" in reply.headers
    assert bridge.publisher.records == []


async def test_metrics_endpoint_exposes_the_registry(bridge: Bridge) -> None:
    await bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", STATUS)
    reply = await bridge.client.get("/metrics")
    assert reply.status_code == 200
    assert ('sms_bridge_callbacks_total{account="tencent-test",outcome="accepted",provider="tencent"} 1.0'
            in reply.text)


async def test_configured_instances_export_zero_outcomes_from_the_start(bridge: Bridge) -> None:
    assert bridge.registry.get_sample_value(
        "sms_bridge_callbacks_total", {"provider": "nxcloud", "account": "nxcloud-test", "outcome": "failed"}
    ) == 0


async def test_lifespan_starts_and_stops_the_publisher_and_drains(
    settings: Settings, registry: CollectorRegistry, clock: FixedClock
) -> None:
    bridge = Bridge(settings, registry, clock, PEER)
    assert not bridge.publisher.started
    async with bridge.app.router.lifespan_context(bridge.app):
        assert bridge.publisher.started and not bridge.publisher.stopped
        assert not bridge.lifecycle.draining
    assert bridge.publisher.stopped
    assert bridge.lifecycle.draining
    await bridge.client.aclose()


# --- logs ------------------------------------------------------------------------------------------------------


async def test_log_lines_carry_no_token_secret_signature_text_or_whole_number(
    bridge: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    sender = "+8613912345678"
    reply = orjson.dumps({"mobile": sender[3:], "nationcode": "86", "text": "private words", "time": 1457336869})
    await bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", reply)
    await bridge.post(f"{TENCENT}/{TENCENT_TOKEN[:-1]}x", STATUS)
    await bridge.post(f"{TENCENT}?token={TENCENT_TOKEN}", b"[{")
    headers = nx_headers(MO, action="mo")
    await bridge.post(NXCLOUD, MO, headers)
    await bridge.post(NXCLOUD, MO, headers)  # replay
    bridge.publisher.fail_next()
    await bridge.post_nx(DR)
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records if r.name.startswith("bridge")]
    assert any('"outcome":"accepted"' in line for line in lines)
    assert any('"reason":"replay"' in line for line in lines)
    text = "\n".join(lines)
    for never in (TENCENT_TOKEN, NX_SECRET, headers["sign"], "private words", "你好 STOP", sender, "18184505018"):
        assert never not in text


async def test_the_replay_memory_and_its_early_evictions_are_exported(registry: CollectorRegistry,
                                                                      clock: FixedClock) -> None:
    document = config_dict()
    document["providers"][1]["replay_cache_size"] = 1
    async with running(make_settings(document), registry, clock) as small:
        for message_id in ("m1", "m2"):
            body = orjson.dumps({**orjson.loads(DR), "messageId": message_id})
            assert (await small.post(NXCLOUD, body, nx_headers(body))).status_code == 200
        labels = {"provider": "nxcloud", "account": "nxcloud-test"}
        assert small.metric("sms_bridge_replay_cache_entries", **labels) == 1
        assert small.metric("sms_bridge_replay_evictions_total", **labels) == 1


def test_servers_take_the_app_for_an_asgi3_app(
    settings: Settings, registry: CollectorRegistry, clock: FixedClock
) -> None:
    """uvicorn (and gunicorn's uvicorn workers) run an app whose __call__ is not a coroutine function as ASGI 2,
    which the bridge is not: it would fail at start-up."""
    app = create_app(settings, FakePublisher(), registry, clock, Lifecycle())
    config = uvicorn.Config(app, lifespan="off")
    config.load()
    assert config.interface == "asgi3"


async def test_while_draining_every_reply_says_connection_close_callbacks_too(bridge: Bridge) -> None:
    before = await bridge.client.get("/readyz")
    assert "connection" not in before.headers
    bridge.lifecycle.draining = True
    callback = await bridge.post(f"{TENCENT}/{TENCENT_TOKEN}", STATUS, JSON)
    probe = await bridge.client.get("/readyz")
    assert (callback.status_code, callback.headers["connection"]) == (503, "close")
    assert (probe.status_code, probe.headers["connection"]) == (503, "close")


def test_middleware_cannot_be_added_where_callbacks_would_skip_it(
    settings: Settings, registry: CollectorRegistry, clock: FixedClock
) -> None:
    app = create_app(settings, FakePublisher(), registry, clock, Lifecycle())
    with pytest.raises(TypeError, match="past any Starlette middleware"):
        app.add_middleware(RequestIds)
