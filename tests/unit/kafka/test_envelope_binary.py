"""CloudEvents binary content mode (`kafka.content_mode: binary`): the Kafka protocol binding's `ce_*` headers,
`data` alone as the value, and the same event as the structured record gives, read by the official SDK."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bridge.errors import MalformedCallbackError
from bridge.events import EventType, SmsEvent
from bridge.kafka.envelope import MAX_RECORD_BYTES, Envelope, KafkaRecord
from bridge.kafka.settings import KafkaSettings
from tests.helpers import assert_valid_binary_record, assert_valid_record, decode, decode_binary
from tests.unit.kafka.test_envelope import (
    FIXTURE_EVENTS,
    TOPICS,
    TRACEPARENT,
    _inbound,
    _receipts,
    inbound,
    receipt,
)


def binary(type_prefix: str = "", *, include_raw: bool = True) -> Envelope:
    return Envelope("/sms/nxcloud/kGp5uFHN", TOPICS, type_prefix, include_raw, "binary")


def structured(type_prefix: str = "", *, include_raw: bool = True) -> Envelope:
    return Envelope("/sms/nxcloud/kGp5uFHN", TOPICS, type_prefix, include_raw)


def test_structured_stays_the_default_content_mode() -> None:
    assert KafkaSettings(bootstrap_servers=("kafka:9092",)).content_mode == "structured"
    assert Envelope("/s", TOPICS).content_mode == "structured"
    assert KafkaSettings(bootstrap_servers=("kafka:9092",), content_mode="binary").content_mode == "binary"
    with pytest.raises(ValidationError, match="content_mode"):
        KafkaSettings.model_validate({"bootstrap_servers": ["kafka:9092"], "content_mode": "avro"})


def test_a_binary_record_has_every_attribute_as_a_ce_header_in_the_binding_order() -> None:
    event = receipt()
    record = binary("com.example").to_record(event, TRACEPARENT)
    assert record.headers == (
        ("ce_specversion", b"1.0"),
        ("ce_id", event.id.encode()),
        ("ce_source", b"/sms/nxcloud/kGp5uFHN"),
        ("ce_type", b"com.example.sms.delivery_receipt"),
        ("ce_subject", b"fcf3432fd1834ccdac807a7cfb2d1fdf"),
        ("ce_time", b"2021-02-07T06:54:00Z"),
        ("ce_dataschema", b"urn:sms-bridge:schema:sms.delivery_receipt:v1"),
        ("ce_partitionkey", b"fcf3432fd1834ccdac807a7cfb2d1fdf"),
        ("ce_traceparent", TRACEPARENT.encode()),
        ("content-type", b"application/json"),
    )
    assert record.key == b"fcf3432fd1834ccdac807a7cfb2d1fdf"
    assert record.topic == "sms.delivery-receipts" and record.event_type is EventType.DELIVERY_RECEIPT


def test_a_binary_record_value_is_the_data_alone() -> None:
    event = receipt()
    record = binary().to_record(event)
    assert orjson.loads(record.value) == orjson.loads(structured().to_record(event).value)["data"]
    assert b"specversion" not in record.value


def test_an_inbound_message_without_provider_id_has_no_subject_header_and_is_keyed_by_sender() -> None:
    record = binary().to_record(inbound(text="你好"))
    headers = dict(record.headers)
    assert "ce_subject" not in headers and "ce_traceparent" not in headers
    assert record.key == headers["ce_partitionkey"] == b"+8613800138000"
    assert "你好".encode() in record.value
    assert record.topic == "sms.inbound-messages"


def test_non_ascii_attributes_are_utf8_headers_as_the_kafka_binding_reads_them() -> None:
    record = binary().to_record(receipt(message_id="5000:短信-1"))
    assert dict(record.headers)["ce_subject"] == "5000:短信-1".encode()
    assert decode_binary(record).get_subject() == "5000:短信-1"
    assert decode_binary(record).get_extension("partitionkey") == "5000:短信-1"


def test_the_sdk_reads_a_binary_record_as_binary_and_a_structured_one_as_structured() -> None:
    """`from_kafka` picks the mode by the `ce_` headers: a structured record must carry none."""
    event = receipt()
    from_binary = decode_binary(binary().to_record(event, TRACEPARENT))
    from_structured = decode(structured().to_record(event, TRACEPARENT))
    assert from_binary.get_attributes() == from_structured.get_attributes()
    assert from_binary.get_data() == from_structured.get_data()
    assert from_binary.get_extension("traceparent") == TRACEPARENT


@pytest.mark.parametrize(("name", "event", "include_raw"), FIXTURE_EVENTS, ids=[n for n, _, _ in FIXTURE_EVENTS])
def test_every_fixture_event_gives_the_same_cloudevent_in_both_modes(name: str, event: SmsEvent,
                                                                      include_raw: bool) -> None:
    as_binary = binary("com.example", include_raw=include_raw).to_record(event, TRACEPARENT)
    as_structured = structured("com.example", include_raw=include_raw).to_record(event, TRACEPARENT)
    assert assert_valid_binary_record(as_binary) == assert_valid_record(as_structured)


# --- size: the value and the ce_ headers ------------------------------------------------------------


def _size(record: KafkaRecord) -> int:
    return len(record.value) + sum(len(n) + len(v) for n, v in record.headers if n.startswith("ce_"))


def test_an_oversized_binary_record_drops_raw_and_keeps_everything_else() -> None:
    record = binary().to_record(receipt(raw={"padding": "x" * MAX_RECORD_BYTES}))
    raw = assert_valid_binary_record(record)
    assert raw["data"]["raw"] is None and raw["data"]["message_id"] == "fcf3432fd1834ccdac807a7cfb2d1fdf"
    assert _size(record) <= MAX_RECORD_BYTES


def test_the_headers_count_towards_the_binary_limit() -> None:
    base = _size(binary().to_record(receipt(raw={"padding": ""})))
    at_limit = binary().to_record(receipt(raw={"padding": "x" * (MAX_RECORD_BYTES - base)}))
    assert _size(at_limit) == MAX_RECORD_BYTES and orjson.loads(at_limit.value)["raw"] is not None
    over = binary().to_record(receipt(raw={"padding": "x" * (MAX_RECORD_BYTES - base + 1)}))
    assert orjson.loads(over.value)["raw"] is None


def test_a_binary_record_still_too_big_without_raw_is_malformed() -> None:
    with pytest.raises(MalformedCallbackError, match="exceeds") as caught:
        binary().to_record(inbound(text="x" * MAX_RECORD_BYTES))
    assert caught.value.reason == "record_too_large"


@settings(max_examples=200, deadline=None)
@given(event=_receipts | _inbound, prefix=st.sampled_from(["", "com.example"]), traced=st.booleans())
def test_any_well_formed_event_gives_the_same_cloudevent_in_both_modes(event: SmsEvent, prefix: str,
                                                                        traced: bool) -> None:
    traceparent = TRACEPARENT if traced else None
    as_binary = assert_valid_binary_record(binary(prefix).to_record(event, traceparent))
    assert as_binary == assert_valid_record(structured(prefix).to_record(event, traceparent))
