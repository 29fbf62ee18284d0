"""The canonical event model: deterministic ids, UTC RFC 3339 times, keys and subjects."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.events import (
    DeliveryReceipt,
    EventType,
    InboundMessage,
    Status,
    event_id,
    format_instant,
    format_time,
)

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
CST = timezone(timedelta(hours=8))
WHEN = datetime(2021, 2, 7, 6, 54, tzinfo=UTC)

aware_datetimes = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
).filter(lambda d: d.utcoffset() is not None)
id_inputs = st.tuples(
    st.text(max_size=20), st.sampled_from(EventType), st.text(max_size=40), st.text(max_size=20), aware_datetimes
)


def receipt(**overrides: object) -> DeliveryReceipt:
    fields: dict[str, object] = {
        "provider": "nxcloud",
        "message_id": "fcf3432fd1834ccdac807a7cfb2d1fdf",
        "status": Status.DELIVERED,
        "status_code": "DELIVRD",
        "status_detail": None,
        "to": "+18184505018",
        "from_": "+12347200160",
        "occurred_at": WHEN,
        "received_at": WHEN + timedelta(seconds=3),
        "segments": 1,
        "price": "0.0360",
        "raw": {"messageId": "fcf3432fd1834ccdac807a7cfb2d1fdf"},
        **overrides,
    }
    return DeliveryReceipt(**fields)  # type: ignore[arg-type]


def inbound(**overrides: object) -> InboundMessage:
    fields: dict[str, object] = {
        "provider": "tencent",
        "message_id": None,
        "from_": "+8613800138000",
        "to": None,
        "text": "hello",
        "occurred_at": WHEN,
        "received_at": WHEN,
        "segments": None,
        "price": None,
        **overrides,
    }
    return InboundMessage(**fields)  # type: ignore[arg-type]


# --- event_id -----------------------------------------------------------------------------------


def test_event_id_is_stable_across_releases() -> None:
    # Consumers deduplicate on ids written by earlier versions: this value must never change.
    when = datetime(2015, 10, 17, 0, 3, 4, tzinfo=UTC)
    golden = "d6e8d82c5b54f271f338f4a98e56e33c"
    assert event_id("tencent", EventType.DELIVERY_RECEIPT, "xxxxxxx", "DELIVRD", when) == golden


def test_event_id_follows_the_documented_recipe() -> None:
    material = json.dumps(["nxcloud", "sms.delivery_receipt", "m1", "DELIVRD", "2021-02-07T06:54:00Z"],
                          separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]
    assert event_id("nxcloud", EventType.DELIVERY_RECEIPT, "m1", "DELIVRD", WHEN) == expected


@settings(max_examples=200, deadline=None)
@given(inputs=id_inputs)
def test_event_id_is_32_lowercase_hex_and_the_same_for_the_same_inputs(
    inputs: tuple[str, EventType, str, str, datetime],
) -> None:
    first = event_id(*inputs)
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert event_id(*inputs) == first


@settings(max_examples=200, deadline=None)
@given(inputs=id_inputs, other=id_inputs)
def test_event_id_differs_when_any_input_differs(
    inputs: tuple[str, EventType, str, str, datetime], other: tuple[str, EventType, str, str, datetime]
) -> None:
    provider, type_, key, code, when = inputs
    provider2, type2, key2, code2, when2 = other
    same = (provider, type_, key, code, format_time(when)) == (provider2, type2, key2, code2, format_time(when2))
    assert (event_id(*inputs) == event_id(*other)) == same


@settings(max_examples=200, deadline=None)
@given(when=aware_datetimes, zone=st.timezones())
def test_event_id_depends_on_the_instant_not_on_its_time_zone(when: datetime, zone: timezone) -> None:
    args = ("nxcloud", EventType.DELIVERY_RECEIPT, "m1", "DELIVRD")
    assert event_id(*args, when) == event_id(*args, when.astimezone(zone))


def test_event_id_separates_fields_so_shifting_text_between_them_changes_it() -> None:
    a = event_id("nx", EventType.DELIVERY_RECEIPT, "ab", "c", WHEN)
    b = event_id("nx", EventType.DELIVERY_RECEIPT, "a", "bc", WHEN)
    assert a != b


# --- format_time --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(when=aware_datetimes)
def test_format_time_is_rfc3339_utc_with_z_for_any_instant(when: datetime) -> None:
    text = format_time(when)
    assert RFC3339_UTC.match(text), text
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    in_utc = when.astimezone(UTC)  # (an inter-zone == is always False for a time in a DST gap)
    assert parsed == in_utc.replace(microsecond=in_utc.microsecond // 1000 * 1000)


@settings(max_examples=1000, deadline=None)
@given(when=aware_datetimes)
def test_format_instant_is_the_isoformat_rendering_in_utc(when: datetime) -> None:
    """Reception times' uncached rendering (a cached text per whole second) against isoformat's own."""
    in_utc = when.astimezone(UTC).replace(tzinfo=None)
    reference = in_utc.isoformat(timespec="milliseconds" if in_utc.microsecond else "seconds") + "Z"
    assert format_instant(when) == reference
    assert format_instant(when) == reference  # again: the same object, remembered
    assert format_instant(when.replace(microsecond=999)) == format_instant(when.replace(microsecond=0))[:-1] + ".000Z"
    assert format_instant(when) == reference  # after others: not a stale memory


def test_format_time_converts_an_offset_to_utc() -> None:
    assert format_time(datetime(2015, 10, 17, 8, 3, 4, tzinfo=CST)) == "2015-10-17T00:03:04Z"


def test_format_time_keeps_milliseconds_only_when_there_is_a_fraction() -> None:
    assert format_time(WHEN) == "2021-02-07T06:54:00Z"
    assert format_time(WHEN.replace(microsecond=123456)) == "2021-02-07T06:54:00.123Z"


def test_format_time_pads_years_before_1000_to_four_digits() -> None:
    assert format_time(datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02T03:04:05Z"


# --- the event classes --------------------------------------------------------------------------


def test_event_types_and_statuses_are_the_contract_values() -> None:
    assert [t.value for t in EventType] == ["sms.delivery_receipt", "sms.inbound_message"]
    assert [s.value for s in Status] == ["delivered", "undelivered", "unknown"]


def test_delivery_receipt_id_key_and_subject_come_from_the_provider_message() -> None:
    event = receipt()
    assert event.type is EventType.DELIVERY_RECEIPT
    assert event.id == event_id("nxcloud", EventType.DELIVERY_RECEIPT, event.message_id, "DELIVRD", WHEN)
    assert event.key == event.subject == "fcf3432fd1834ccdac807a7cfb2d1fdf"


def test_a_retry_received_later_has_the_same_id() -> None:
    first = receipt()
    retry = receipt(received_at=WHEN + timedelta(minutes=5), raw={"other": "copy"})
    assert retry.id == first.id


@pytest.mark.parametrize(
    "change",
    [
        {"message_id": "other"},
        {"status_code": "UNDELIVR"},
        {"occurred_at": WHEN + timedelta(seconds=1)},
        {"provider": "tencent"},
    ],
)
def test_delivery_receipt_id_changes_with_each_identifying_field(change: dict[str, object]) -> None:
    assert receipt(**change).id != receipt().id


def test_raw_does_not_take_part_in_equality() -> None:
    assert receipt(raw={"a": 1}) == receipt(raw=None)


def test_inbound_message_key_is_the_sender_and_subject_the_provider_id() -> None:
    event = inbound(message_id="a1b2", to="+12347200160")
    assert event.type is EventType.INBOUND_MESSAGE
    assert event.key == "+8613800138000"
    assert event.subject == "a1b2"
    assert event.id == event_id("tencent", EventType.INBOUND_MESSAGE, "a1b2", "", WHEN)


def test_inbound_message_without_provider_id_has_no_subject_and_an_id_from_its_content() -> None:
    event = inbound()
    assert event.subject is None
    assert event.id == inbound(received_at=WHEN + timedelta(hours=1)).id
    assert event.id != inbound(text="hello!").id
    assert event.id != inbound(from_="+8613800138001").id
    assert event.id != inbound(to="+10000000000").id
    assert event.id != inbound(occurred_at=WHEN + timedelta(seconds=1)).id
