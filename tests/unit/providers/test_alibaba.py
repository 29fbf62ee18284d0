"""Alibaba Cloud SMS: URL token, SmsReport and SmsUp arrays by shape, replies, and the 700 ms answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from bridge.clock import FixedClock
from bridge.config import Settings, parse
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, InboundMessage, Status
from bridge.http.app import create_app
from bridge.http.lifecycle import Lifecycle
from bridge.providers.alibaba import MAX_REPORTS, AlibabaProvider, AlibabaSettings
from bridge.providers.base import BadReport, RawCallback, Verified
from bridge.spool.metrics import SpoolMetrics
from bridge.spool.publisher import SpoolingPublisher
from bridge.spool.store import Spool, SpoolSettings
from tests.conftest import fixture_bytes
from tests.fakes import FakePublisher
from tests.helpers import SEED_TIME, Checked, assert_valid_record

TOKEN = "test-alibaba-token-0123456789abcdef"
REPORT = {
    "phone_number": "13800138000", "send_time": "2017-01-01 00:00:00", "report_time": "2017-01-01 00:00:05",
    "success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1",
    "biz_id": "900619746936498440^0", "out_id": "67890",
}
UP = {"phone_number": "13800138000", "content": "退订", "send_time": "2017-09-01 00:00:00", "dest_code": "1234",
      "sequence_id": "1234567890"}


def instance(**overrides: Any) -> dict[str, Any]:
    return {"kind": "alibaba", "name": "alibaba-test", "path": "/callbacks/alibaba/test", "url_token": TOKEN,
            **overrides}


def provider(clock: FixedClock, **overrides: Any) -> Checked:
    return Checked(AlibabaProvider(AlibabaSettings.model_validate(instance(**overrides)), clock), clock)


@pytest.fixture
def alibaba(clock: FixedClock) -> Checked:
    return provider(clock)


def raw(body: bytes, token: str | None = TOKEN, client: str | None = "203.0.113.7") -> RawCallback:
    return RawCallback(body=body, headers={"content-type": "application/json"}, client=client,
                       received_at=SEED_TIME, url_token=token)


def items(alibaba: Checked, body: bytes | list[Any]) -> list[Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return list(alibaba.parse(alibaba.verify(raw(data))))


def events(alibaba: Checked, body: bytes | list[Any]) -> list[Any]:
    """The events, the first bad report's error raised as if it were the only report."""
    found = items(alibaba, body)
    for item in found:
        if isinstance(item, BadReport):
            raise item.error
    return found


# --- verification -------------------------------------------------------------------------------------


def test_the_right_url_token_is_verified(alibaba: Checked) -> None:
    callback = raw(b"[]")
    verified = alibaba.verify(callback)
    assert isinstance(verified, Verified) and verified.raw is callback
    assert (verified.signed_at, verified.replay_key) == (None, None)  # nothing signed, nothing to replay by


@pytest.mark.parametrize("token", ["", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), " " + TOKEN, "\ud800", "tést" + TOKEN])
def test_a_wrong_url_token_is_refused(alibaba: Checked, token: str) -> None:
    with pytest.raises(VerificationError, match="token does not match") as caught:
        alibaba.verify(raw(b"[]", token=token))
    assert (caught.value.reason, caught.value.status) == ("bad_token", 401)


def test_no_url_token_is_refused(alibaba: Checked) -> None:
    with pytest.raises(VerificationError, match="no token") as caught:
        alibaba.verify(raw(b"[]", token=None))
    assert caught.value.reason == "missing_credentials"


def test_a_caller_outside_the_allowlist_is_refused_even_with_the_token(clock: FixedClock) -> None:
    alibaba = provider(clock, allowed_networks=["47.0.0.0/8"])
    assert alibaba.verify(raw(b"[]", client="47.1.2.3"))
    with pytest.raises(VerificationError, match="allowed_networks") as caught:
        alibaba.verify(raw(b"[]", client="203.0.113.7"))
    assert caught.value.status == 403


def test_settings_refuse_a_short_token_and_a_reply_deadline_at_alibabas_timeout() -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        AlibabaSettings.model_validate(instance(url_token="x" * 15))
    with pytest.raises(ValidationError, match="reply_deadline_seconds"):
        AlibabaSettings.model_validate(instance(reply_deadline_seconds=0.7))
    defaults = AlibabaSettings.model_validate(instance())
    assert (defaults.reply_deadline_seconds, defaults.default_region, defaults.timezone) == (0.6, "CN",
                                                                                            "Asia/Shanghai")
    assert TOKEN not in repr(defaults)


# --- SmsReport --------------------------------------------------------------------------------------------


def test_documented_sms_report_gives_a_delivery_receipt(alibaba: Checked) -> None:
    body = fixture_bytes("alibaba", "sms_report.json")
    [event] = events(alibaba, body)
    assert isinstance(event, DeliveryReceipt)
    assert event.provider == "alibaba"
    assert event.message_id == event.key == "12345********:1381111****"
    assert (event.status, event.status_code, event.status_detail) == (Status.DELIVERED, "DELIVERED", "用户接收成功")
    assert (event.to, event.region, event.from_) == ("1381111****", None, None)  # masked: kept as given
    assert event.occurred_at == datetime(2016, 12, 31, 16, 0, tzinfo=UTC)  # report_time, Beijing time
    assert event.received_at == SEED_TIME
    assert (event.segments, event.price) == (1, None)
    assert event.raw == orjson.loads(body)[0]


def test_a_chinese_number_without_country_code_becomes_e164_with_region_cn(alibaba: Checked) -> None:
    [event] = events(alibaba, [REPORT])
    assert (event.to, event.region) == ("+8613800138000", "CN")
    assert event.message_id == "900619746936498440^0:13800138000"


def test_without_a_default_region_the_number_is_kept_as_given(clock: FixedClock) -> None:
    [event] = events(provider(clock, default_region=None), [REPORT])
    assert (event.to, event.region) == ("13800138000", None)


@pytest.mark.parametrize(
    ("success", "err_code", "status"),
    [
        (True, "DELIVERED", Status.DELIVERED),
        (False, "UNDELIV", Status.UNDELIVERED),
        (False, "MK:0001", Status.UNDELIVERED),
        (False, "IB:0008", Status.UNDELIVERED),
        (False, "EXPIRED", Status.UNDELIVERED),
        (True, "", Status.DELIVERED),  # `success` decides; the code is kept, whatever it is
    ],
)
def test_status_comes_from_success_and_err_code_is_kept_verbatim(alibaba: Checked, success: bool, err_code: str,
                                                                 status: Status) -> None:
    [event] = events(alibaba, [{**REPORT, "success": success, "err_code": err_code}])
    assert (event.status, event.status_code) == (status, err_code)


def test_numbers_of_one_send_request_share_biz_id_but_get_their_own_ids(alibaba: Checked) -> None:
    reports = [{**REPORT, "phone_number": n} for n in ("13800138000", "13900139000", "13700137000")]
    found = events(alibaba, reports)
    assert len({e.message_id for e in found}) == len({e.id for e in found}) == 3
    assert [e.raw["biz_id"] for e in found] == [REPORT["biz_id"]] * 3


def test_the_same_report_pushed_again_has_the_same_event_id(alibaba: Checked, clock: FixedClock) -> None:
    [first] = events(alibaba, [REPORT])
    [again] = events(provider(clock), [REPORT])
    assert first.id == again.id


def test_report_times_are_read_in_the_instance_time_zone(clock: FixedClock) -> None:
    [event] = events(provider(clock, timezone="UTC"), [REPORT])
    assert event.occurred_at == datetime(2017, 1, 1, 0, 0, 5, tzinfo=UTC)


def test_a_compact_time_is_read_too(alibaba: Checked) -> None:
    [event] = events(alibaba, [{**REPORT, "report_time": "20170101000005"}])
    assert event.occurred_at == datetime(2016, 12, 31, 16, 0, 5, tzinfo=UTC)


# --- SmsUp --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sms_up.json", "sms_up_old.json"])
def test_documented_sms_up_samples_give_an_inbound_message(alibaba: Checked, name: str) -> None:
    body = fixture_bytes("alibaba", name)
    [event] = events(alibaba, body)
    assert isinstance(event, InboundMessage)
    assert (event.provider, event.message_id, event.subject) == ("alibaba", "1234567890", "1234567890")
    assert (event.from_, event.key, event.region, event.to) == ("1381111****", "1381111****", None, "1234")
    assert event.text == "内容"
    assert event.occurred_at == datetime(2017, 8, 31, 16, 0, tzinfo=UTC)
    assert (event.segments, event.price, event.raw) == (None, None, orjson.loads(body)[0])


def test_an_inbound_sender_becomes_e164_and_the_record_key(alibaba: Checked) -> None:
    [event] = events(alibaba, [UP])
    assert (event.from_, event.key, event.region) == ("+8613800138000", "+8613800138000", "CN")


def test_one_array_may_mix_reports_and_inbound_messages(alibaba: Checked) -> None:
    found = events(alibaba, [REPORT, UP, REPORT | {"phone_number": "13900139000"}])
    assert [type(e) for e in found] == [DeliveryReceipt, InboundMessage, DeliveryReceipt]


# --- bad reports and malformed callbacks --------------------------------------------------------------------


def test_one_bad_element_is_set_apart_and_the_others_are_events(alibaba: Checked) -> None:
    reports: list[Any] = [{**REPORT, "phone_number": f"1380013{i:04d}"} for i in range(50)]
    reports[7] = {**REPORT, "report_time": "not a time"}
    reports[20] = {"something": "else"}
    reports[33] = "text"
    found = items(alibaba, reports)
    bad = [item for item in found if isinstance(item, BadReport)]
    assert [(b.index, b.error.reason) for b in bad] == [(7, "invalid_field"), (20, "wrong_shape"), (33, "wrong_shape")]
    assert bad[1].report == {"something": "else"}
    assert len([e for e in found if isinstance(e, DeliveryReceipt)]) == 47


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"", "invalid_json"), (b"[{", "invalid_json"), (b"\xff[]", "invalid_utf8"), (b"[]", "wrong_shape"),
     (b"{}", "wrong_shape"), (orjson.dumps(REPORT), "wrong_shape"), (b"null", "wrong_shape")],
)
def test_bodies_that_are_not_a_non_empty_array_are_malformed(alibaba: Checked, body: bytes, reason: str) -> None:
    with pytest.raises(MalformedCallbackError) as caught:
        items(alibaba, body)
    assert (caught.value.reason, caught.value.status) == (reason, 400)


def test_more_reports_than_max_reports_are_refused(clock: FixedClock) -> None:
    assert len(events(provider(clock), [REPORT] * MAX_REPORTS)) == MAX_REPORTS
    with pytest.raises(MalformedCallbackError, match="more than 2") as caught:
        items(provider(clock, max_reports=2), [REPORT] * 3)
    assert caught.value.reason == "too_many_reports"


@pytest.mark.parametrize(
    ("report", "reason", "message"),
    [
        ({**REPORT, "success": "true"}, "invalid_field", r"\[0\]\.success: must be true or false"),
        ({**REPORT, "success": None}, "invalid_field", "success: must be true or false"),
        ({k: v for k, v in REPORT.items() if k != "biz_id"}, "missing_field", r"\[0\]\.biz_id: required"),
        ({k: v for k, v in REPORT.items() if k != "err_code"}, "missing_field", "err_code: required"),
        ({k: v for k, v in REPORT.items() if k != "report_time"}, "missing_field", "report_time: required"),
        ({**REPORT, "phone_number": ""}, "invalid_field", "phone_number: must not be empty"),
        ({**REPORT, "report_time": "2017-13-01 00:00:00"}, "invalid_field", "report_time: must be a time"),
        ({**REPORT, "sms_size": "two"}, "invalid_field", "sms_size: must be a non-negative integer"),
        ({**REPORT, "err_msg": {"a": 1}}, "invalid_field", "err_msg: must be a string"),
        ({k: v for k, v in UP.items() if k != "sequence_id"}, "missing_field", "sequence_id: required"),
        ({**UP, "content": None}, "missing_field", "content: required"),
        ({**UP, "send_time": 1504195200}, "invalid_field", "send_time: must be a time"),
        ({**UP, "sequence_id": "a\x01b"}, "invalid_field", "sequence_id: must not"),
    ],
)
def test_a_report_with_missing_or_wrong_fields_is_a_bad_report(alibaba: Checked, report: dict[str, Any],
                                                                reason: str, message: str) -> None:
    with pytest.raises(MalformedCallbackError, match=message) as caught:
        events(alibaba, [report])
    assert caught.value.reason == reason


def test_error_messages_never_carry_the_callback_values(alibaba: Checked) -> None:
    with pytest.raises(MalformedCallbackError) as caught:
        events(alibaba, [{**REPORT, "report_time": "13800138000"}])
    assert "13800138000" not in str(caught.value)


# --- replies ------------------------------------------------------------------------------------------------


def test_accepted_reply_is_alibabas_success_json_with_a_numeric_code(alibaba: Checked) -> None:
    reply = alibaba.accepted(alibaba.verify(raw(b"[]")))
    assert (reply.status, reply.media_type) == (200, "application/json")
    assert reply.body == '{"code":0,"msg":"接收成功"}'.encode()


@pytest.mark.parametrize("status", [400, 401, 403, 500, 503])
def test_failure_reply_has_the_http_status_and_a_non_zero_numeric_code(alibaba: Checked, status: int) -> None:
    reply = alibaba.rejected(CallbackError("bad_token", "callback URL token does not match", status=status))
    body = orjson.loads(reply.body)
    assert reply.status == status and body["code"] == status and isinstance(body["code"], int)
    assert body["msg"].startswith("bad_token") and reply.headers["X-Bridge-Reason"] == "bad_token"
    assert TOKEN not in reply.body.decode()


# --- over HTTP: the 700 ms answer ------------------------------------------------------------------------------


def bridge_settings() -> Settings:
    document = {
        "server": {"host": "127.0.0.1", "port": 8080},
        "kafka": {"bootstrap_servers": ["127.0.0.1:9"], "enable_idempotence": False, "produce_timeout_seconds": 1},
        "providers": [instance(reply_deadline_seconds=0.3)],
    }
    return parse(yaml.safe_dump(document), {})


def client(publisher: Any) -> httpx.AsyncClient:
    app = create_app(bridge_settings(), publisher, CollectorRegistry(), FixedClock(SEED_TIME.timestamp()), Lifecycle())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("47.1.2.3", 4000)),
                             base_url="http://bridge.test")


URL = f"/callbacks/alibaba/test/{TOKEN}"


@pytest.fixture
async def stalled() -> AsyncIterator[FakePublisher]:
    publisher = FakePublisher()
    await publisher.start()
    publisher.stall()
    yield publisher
    publisher.release()


@pytest.mark.anyio
async def test_a_batch_with_one_bad_report_is_answered_success_and_the_good_ones_published() -> None:
    publisher = FakePublisher()
    async with client(publisher) as http:
        reply = await http.post(URL, content=orjson.dumps([REPORT, {"x": 1}, UP]),
                                headers={"content-type": "application/json"})
    assert (reply.status_code, reply.json()) == (200, {"code": 0, "msg": "接收成功"})
    types = [r.event_type.value if r.event_type else r.topic for r in publisher.records]
    assert types == ["sms.delivery_receipt", "sms.inbound_message", "sms.bridge.dead-letter"]
    for record in publisher.records[:2]:
        assert_valid_record(record)


@pytest.mark.anyio
async def test_when_kafka_is_slower_than_the_reply_deadline_alibaba_gets_503_and_retries(
    stalled: FakePublisher,
) -> None:
    async with client(stalled) as http:
        reply = await http.post(URL, content=orjson.dumps([REPORT]), headers={"content-type": "application/json"})
    assert reply.status_code == 503 and reply.headers["retry-after"] == "5"
    assert reply.json()["code"] == 503 and reply.json()["msg"].startswith("timeout")
    assert stalled.records == []


@pytest.mark.anyio
async def test_with_the_spool_the_spool_answers_in_time_when_kafka_is_slow(tmp_path: Path,
                                                                           stalled: FakePublisher) -> None:
    spool = Spool(SpoolSettings(path=str(tmp_path / "spool.db"), budget_seconds=0.05))
    publisher = SpoolingPublisher(stalled, spool, SpoolMetrics(CollectorRegistry()))
    await publisher.start()
    try:
        async with client(publisher) as http:
            reply = await http.post(URL, content=orjson.dumps([REPORT, UP]),
                                    headers={"content-type": "application/json"})
        assert (reply.status_code, reply.json()) == (200, {"code": 0, "msg": "接收成功"})
        assert spool.records == 2 and stalled.records == []
    finally:
        stalled.release()
        await publisher.stop()
    assert len(stalled.records) >= 2  # drained to Kafka once it answered


# --- totality ---------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
reports = st.fixed_dictionaries({}, optional={k: json_values | st.just(v) for k, v in {**REPORT, **UP}.items()})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=120) | st.lists(reports | json_values, max_size=4).map(orjson.dumps),
       token=st.none() | st.just(TOKEN) | st.text(max_size=40))
def test_any_callback_gives_events_bad_reports_or_a_callback_error(clock: FixedClock, body: bytes,
                                                                    token: str | None) -> None:
    alibaba = AlibabaProvider(AlibabaSettings.model_validate(instance()), clock)
    try:
        found = alibaba.parse(alibaba.verify(raw(body, token=token)))
    except CallbackError as error:
        assert error.status in (400, 401)
        return
    assert all(isinstance(e, DeliveryReceipt | InboundMessage | BadReport) for e in found)
