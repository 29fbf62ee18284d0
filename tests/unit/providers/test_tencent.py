"""Tencent Cloud SMS: URL token and allowlist, status reports and reply callbacks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from bridge.clock import FixedClock
from bridge.errors import MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, InboundMessage, Status
from bridge.providers.base import BadReport, Verified
from bridge.providers.tencent import MAX_REPORTS
from tests.conftest import TENCENT_TOKEN, fixture_bytes
from tests.helpers import (
    SEED_TIME,
    Checked,
    events_of,
    recorded_raw,
    tencent_callback,
    tencent_provider,
    tencent_settings,
)

SAMPLE = {
    "user_receive_time": "2015-10-17 08:03:04",
    "nationcode": "86",
    "mobile": "13800138000",
    "report_status": "SUCCESS",
    "errmsg": "DELIVRD",
    "description": "用户短信送达成功",
    "sid": "5000:1045710669157053657849499619",
}
REPLY = {"extend": "", "mobile": "13800138000", "nationcode": "86", "sign": "Demo", "text": "你好", "time": 1457336869}


@pytest.fixture
def provider(clock: FixedClock) -> Checked:
    return tencent_provider(clock)


def parse(provider: Checked, body: bytes | Any) -> list[Any]:
    """The events of a callback; the first bad report's error raised, as if it were the only report."""
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    items = list(provider.parse(provider.verify(tencent_callback(data))))
    for item in items:
        if isinstance(item, BadReport):
            raise item.error
    return items


def report(**changes: Any) -> dict[str, Any]:
    out = {**SAMPLE, **changes}
    return {k: v for k, v in out.items() if v is not ...}


# --- status callbacks -------------------------------------------------------------------------


def test_seed_sample_gives_one_delivery_receipt_with_every_field(provider: Checked) -> None:
    body = fixture_bytes("tencent", "status.json")
    [event] = parse(provider, body)
    assert isinstance(event, DeliveryReceipt)
    assert event.provider == "tencent"
    assert event.message_id == "xxxxxxx"
    assert event.status is Status.DELIVERED
    assert event.status_code == "DELIVRD"
    assert event.status_detail == "The SMS message is successfully delivered"
    assert event.to == "13xxxxxxxxx"  # not digits: kept as given
    assert event.from_ is None
    assert event.occurred_at == datetime(2015, 10, 17, 0, 3, 4, tzinfo=UTC)  # 08:03:04 Beijing time
    assert event.received_at == SEED_TIME
    assert event.segments is None and event.price is None
    assert event.raw == orjson.loads(body)[0]


def test_recipient_is_e164_from_nationcode_and_mobile(provider: Checked) -> None:
    [event] = parse(provider, [SAMPLE])
    assert event.to == "+8613800138000"
    assert event.key == event.subject == "5000:1045710669157053657849499619"


def test_the_given_nationcode_is_kept_for_a_possible_number_that_is_not_valid(provider: Checked) -> None:
    """44 + 7700900011 (a reserved UK range, unknown to libphonenumber as valid): the country code Tencent
    gave is never dropped; no region, as the number is not known to be valid."""
    [event] = parse(provider, [report(nationcode="44", mobile="7700900011")])
    assert (event.to, event.region) == ("+447700900011", None)
    [reply] = parse(provider, {**REPLY, "nationcode": "44", "mobile": "7700900011"})
    assert (reply.from_, reply.key, reply.region) == ("+447700900011", "+447700900011", None)
    [valid] = parse(provider, [report(nationcode="44", mobile="7700100011")])  # control: a valid number
    assert (valid.to, valid.region) == ("+447700100011", "GB")


def test_user_receive_time_is_read_in_the_instance_time_zone(clock: FixedClock) -> None:
    provider = tencent_provider(clock, timezone="UTC")
    [event] = parse(provider, [SAMPLE])
    assert event.occurred_at == datetime(2015, 10, 17, 8, 3, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("report_status", "status"),
    [
        ("SUCCESS", Status.DELIVERED),
        ("FAIL", Status.UNDELIVERED),
        ("success", Status.UNKNOWN),
        ("PENDING", Status.UNKNOWN),
        ("", Status.UNKNOWN),
    ],
)
def test_status_maps_from_report_status(provider: Checked, report_status: str, status: Status) -> None:
    [event] = parse(provider, [report(report_status=report_status)])
    assert event.status is status


@pytest.mark.parametrize("errmsg", ["DELIVRD", "UNDELIV", "MK:0001", "-106", "002", "用户不在服务区"])
def test_errmsg_is_kept_verbatim_as_status_code(provider: Checked, errmsg: str) -> None:
    [event] = parse(provider, [report(report_status="FAIL", errmsg=errmsg, description=None)])
    assert event.status_code == errmsg
    assert event.status_detail is None


def test_reports_become_events_in_order_with_distinct_ids(provider: Checked) -> None:
    reports = [report(sid=f"5000:{i}", mobile=f"1380013{i:04d}") for i in range(MAX_REPORTS)]
    events = parse(provider, reports)
    assert [e.message_id for e in events] == [f"5000:{i}" for i in range(MAX_REPORTS)]
    assert len({e.id for e in events}) == MAX_REPORTS


def test_more_than_100_reports_are_rejected(provider: Checked) -> None:
    reports = [report(sid=f"5000:{i}") for i in range(MAX_REPORTS + 1)]
    with pytest.raises(MalformedCallbackError, match="more than 100") as caught:
        parse(provider, reports)
    assert caught.value.reason == "too_many_reports"


def test_max_reports_is_configurable(clock: FixedClock) -> None:
    provider = tencent_provider(clock, max_reports=2)
    assert len(parse(provider, [SAMPLE, SAMPLE])) == 2
    with pytest.raises(MalformedCallbackError, match="more than 2"):
        parse(provider, [SAMPLE] * 3)


def test_optional_and_unknown_fields_are_tolerated(provider: Checked) -> None:
    [event] = parse(provider, [report(ext="session-ctx", description=..., nationcode=..., extra={"a": 1})])
    assert event.status_detail is None
    assert event.to == "13800138000"  # no nationcode, no default_region: not a valid number alone, kept as given
    assert event.raw is not None and event.raw["ext"] == "session-ctx"


def test_numbers_given_as_json_numbers_are_read_as_text(provider: Checked) -> None:
    [event] = parse(provider, [report(mobile=13800138000, nationcode=86, sid=123)])
    assert event.to == "+8613800138000"
    assert event.message_id == "123"


def test_include_raw_off_leaves_raw_out(clock: FixedClock) -> None:
    provider = tencent_provider(clock, include_raw=False)
    [event] = parse(provider, [SAMPLE])
    assert recorded_raw(provider.settings, event) is None


def test_same_report_received_twice_has_the_same_event_id(provider: Checked, clock: FixedClock) -> None:
    [first] = parse(provider, [SAMPLE])
    clock.advance(600)
    later = replace(tencent_callback(orjson.dumps([SAMPLE])), received_at=clock.now())
    [again] = events_of(provider.parse(provider.verify(later)))
    assert again.received_at != first.received_at
    assert again.id == first.id


# --- reply callbacks ------------------------------------------------------------------------------


def test_seed_reply_gives_an_inbound_message(provider: Checked) -> None:
    body = fixture_bytes("tencent", "reply.json")
    [event] = parse(provider, body)
    assert isinstance(event, InboundMessage)
    assert event.provider == "tencent"
    assert event.message_id is None and event.subject is None
    assert event.from_ == "13xxxxxxxxx"  # not digits: kept as given
    assert event.to is None
    assert event.text == "用户回复的内容"
    assert event.occurred_at == datetime(2016, 3, 7, 7, 47, 49, tzinfo=UTC)  # UNIX seconds, no zone question
    assert event.received_at == SEED_TIME
    assert event.raw == orjson.loads(body)


def test_reply_sender_is_e164_and_the_record_key(provider: Checked) -> None:
    [event] = parse(provider, REPLY)
    assert event.from_ == event.key == "+8613800138000"


def test_reply_time_does_not_depend_on_the_instance_time_zone(clock: FixedClock) -> None:
    [utc] = parse(tencent_provider(clock, timezone="UTC"), REPLY)
    [cst] = parse(tencent_provider(clock, timezone="Asia/Shanghai"), REPLY)
    assert utc.occurred_at == cst.occurred_at == datetime(2016, 3, 7, 7, 47, 49, tzinfo=UTC)


def test_reply_time_may_be_a_decimal_string(provider: Checked) -> None:
    [event] = parse(provider, {**REPLY, "time": "1457336869"})
    assert event.occurred_at == datetime(2016, 3, 7, 7, 47, 49, tzinfo=UTC)


def test_reply_text_with_different_content_gives_a_different_id(provider: Checked) -> None:
    [a] = parse(provider, REPLY)
    [b] = parse(provider, {**REPLY, "text": "你好!"})
    assert a.id != b.id


# --- verification ---------------------------------------------------------------------------------


def test_right_token_is_verified(provider: Checked) -> None:
    callback = tencent_callback(b"[]")
    verified = provider.verify(callback)
    assert isinstance(verified, Verified)
    assert verified.raw is callback


def test_missing_token_is_rejected(provider: Checked) -> None:
    with pytest.raises(VerificationError, match="no token") as caught:
        provider.verify(tencent_callback(b"[]", token=None))
    assert (caught.value.reason, caught.value.status) == ("missing_credentials", 401)


@pytest.mark.parametrize(
    "token",
    ["", "wrong-token-0123456789abcdef0123", TENCENT_TOKEN[:-1], TENCENT_TOKEN + "x", TENCENT_TOKEN.upper(),
     " " + TENCENT_TOKEN, "tést-tencent-token-0123456789abcdef", "\ud800", TENCENT_TOKEN + "\udcff"],
)
def test_wrong_token_is_rejected(provider: Checked, token: str) -> None:
    with pytest.raises(VerificationError, match="token does not match") as caught:
        provider.verify(tencent_callback(b"[]", token=token))
    assert (caught.value.reason, caught.value.status) == ("bad_token", 401)


@pytest.mark.parametrize("client", ["10.1.2.3", "10.255.255.255", "2001:db8::1"])
def test_client_inside_the_allowlist_is_verified(clock: FixedClock, client: str) -> None:
    provider = tencent_provider(clock, allowed_networks=["10.0.0.0/8", "2001:db8::/32"])
    assert provider.verify(tencent_callback(b"[]", client=client)).raw.client == client


@pytest.mark.parametrize("client", ["11.0.0.1", "192.168.1.1", "2001:db9::1", None, "not-an-address", ""])
def test_client_outside_the_allowlist_is_rejected_even_with_the_right_token(
    clock: FixedClock, client: str | None
) -> None:
    provider = tencent_provider(clock, allowed_networks=["10.0.0.0/8", "2001:db8::/32"])
    with pytest.raises(VerificationError, match="allowed_networks") as caught:
        provider.verify(tencent_callback(b"[]", client=client))
    assert (caught.value.reason, caught.value.status) == ("source_not_allowed", 403)


def test_no_allowlist_admits_any_client(provider: Checked) -> None:
    assert provider.verify(tencent_callback(b"[]", client=None))


def test_short_url_token_is_refused_by_the_settings() -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        tencent_settings(url_token="x" * 15)
    assert tencent_settings(url_token="x" * 16).url_token.reveal() == "x" * 16


# --- malformed callbacks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "invalid_json"),
        (b"   \n", "invalid_json"),
        (b"[{", "invalid_json"),
        (b"\xff\xfe[]", "invalid_utf8"),
        (b'[{"sid":"\xc3"}]', "invalid_utf8"),
        (b"[]", "wrong_shape"),
        (b"42", "wrong_shape"),
        (b'"text"', "wrong_shape"),
        (b"null", "wrong_shape"),
        (b"true", "wrong_shape"),
        (b"[1]", "wrong_shape"),
        (b"[[]]", "wrong_shape"),
        (b'[{"sid":"x"}, 3]', "missing_field"),
    ],
)
def test_wrong_shapes_are_malformed(provider: Checked, body: bytes, reason: str) -> None:
    with pytest.raises(MalformedCallbackError) as caught:
        parse(provider, body)
    assert caught.value.reason == reason
    assert caught.value.status == 400


@pytest.mark.parametrize("field", ["sid", "report_status", "errmsg", "mobile", "user_receive_time"])
def test_report_missing_a_required_field_is_malformed(provider: Checked, field: str) -> None:
    with pytest.raises(MalformedCallbackError, match=rf"\[0\]\.{field}: required") as caught:
        parse(provider, [report(**{field: ...})])
    assert caught.value.reason == "missing_field"


@pytest.mark.parametrize("field", ["sid", "report_status", "errmsg", "mobile", "user_receive_time"])
def test_report_with_null_required_field_is_malformed(provider: Checked, field: str) -> None:
    with pytest.raises(MalformedCallbackError, match=rf"{field}: required"):
        parse(provider, [report(**{field: None})])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sid": {"a": 1}}, "sid: must be a string"),
        ({"sid": ["x"]}, "sid: must be a string"),
        ({"report_status": True}, "report_status: must be a string"),
        ({"mobile": ["138"]}, "mobile: must be a string"),
        ({"description": {"a": 1}}, "description: must be a string"),
        ({"sid": ""}, "sid: must not be empty"),
        ({"sid": "a\x00b"}, "sid: must not contain NUL"),
        ({"user_receive_time": "yesterday"}, "user_receive_time: must be a time"),
        ({"user_receive_time": "2015-13-17 08:03:04"}, "user_receive_time: must be a time"),
        ({"user_receive_time": 1445040184}, "user_receive_time: must be a time"),
    ],
)
def test_report_with_a_wrong_field_type_is_malformed(
    provider: Checked, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(MalformedCallbackError, match=message) as caught:
        parse(provider, [SAMPLE, report(**changes)])
    assert caught.value.reason == "invalid_field"
    assert "[1]." in str(caught.value)  # the error names the report


@pytest.mark.parametrize(
    ("changes", "reason", "message"),
    [
        ({"time": ...}, "missing_field", "time: required"),
        ({"text": ...}, "missing_field", "text: required"),
        ({"mobile": ...}, "missing_field", "mobile: required"),
        ({"time": None}, "invalid_field", "time: must be UNIX seconds"),
        ({"time": "yesterday"}, "invalid_field", "time: must be UNIX seconds"),
        ({"time": -1}, "invalid_field", "time: must be UNIX seconds"),
        ({"time": 1e20}, "invalid_field", "time: must be UNIX seconds"),
        ({"time": True}, "invalid_field", "time: must be UNIX seconds"),
        ({"time": [1457336869]}, "invalid_field", "time: must be UNIX seconds"),
        ({"text": {"a": 1}}, "invalid_field", "text: must be a string"),
        ({"mobile": ""}, "invalid_field", "mobile: must not be empty"),  # the sender is the record key
    ],
)
def test_reply_with_missing_or_wrong_fields_is_malformed(
    provider: Checked, changes: dict[str, Any], reason: str, message: str
) -> None:
    body = {k: v for k, v in {**REPLY, **changes}.items() if v is not ...}
    with pytest.raises(MalformedCallbackError, match=message) as caught:
        parse(provider, body)
    assert caught.value.reason == reason


def test_error_messages_never_carry_the_callback_values(provider: Checked) -> None:
    with pytest.raises(MalformedCallbackError) as caught:
        parse(provider, [report(mobile={"secret": "13800138000"})])
    assert "13800138000" not in str(caught.value)


# --- arrays accept what they can ---------------------------------------------------------------------


def test_one_bad_report_of_a_hundred_is_set_apart_and_the_others_are_receipts(provider: Checked) -> None:
    reports: list[Any] = [report(sid=f"sid-{i}") for i in range(100)]
    reports[37] = report(sid="sid-37", user_receive_time="not a time")
    items = list(provider.parse(provider.verify(tencent_callback(orjson.dumps(reports)))))
    bad = [item for item in items if isinstance(item, BadReport)]
    assert len(items) == 100 and len(bad) == 1
    assert (bad[0].index, bad[0].report, bad[0].error.reason) == (37, reports[37], "invalid_field")
    assert [e.message_id for e in items if not isinstance(e, BadReport)] == [f"sid-{i}" for i in range(100) if i != 37]


def test_a_report_that_is_not_an_object_is_a_bad_report_too(provider: Checked) -> None:
    items = list(provider.parse(provider.verify(tencent_callback(orjson.dumps([SAMPLE, 3])))))
    assert isinstance(items[1], BadReport) and items[1].report == 3 and items[1].error.reason == "wrong_shape"


# --- replies ----------------------------------------------------------------------------------------


def test_accepted_reply_is_tencents_success_json(provider: Checked) -> None:
    reply = provider.accepted(provider.verify(tencent_callback(b"[]")))
    assert reply.status == 200
    assert reply.media_type == "application/json"
    assert orjson.loads(reply.body) == {"result": 0, "errmsg": "OK"}


def test_rejected_reply_is_tencents_json_with_a_non_zero_result(provider: Checked) -> None:
    reply = provider.rejected(VerificationError("bad_token", "callback URL token does not match"))
    assert reply.status == 401
    body = orjson.loads(reply.body)
    assert body["result"] != 0
    assert body["errmsg"].startswith("bad_token")
    assert TENCENT_TOKEN not in reply.body.decode()
