"""CloudEvents 1.0 structured records: the envelope of EVENTS.md, the schemas, the official SDK."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.clock import FixedClock
from bridge.errors import MalformedCallbackError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, SmsEvent, Status
from bridge.kafka.envelope import CONTENT_TYPE, DATASCHEMA, MAX_RECORD_BYTES, Envelope, KafkaRecord, valid_traceparent
from bridge.schemas import load as load_schema
from tests.conftest import fixture_bytes
from tests.helpers import (
    CE_SCHEMA_PATH,
    DATA_VALIDATORS,
    assert_valid_record,
    cloudevents_validator,
    decode,
    events_of,
    nx_callback,
    nxcloud_provider,
    tencent_callback,
    tencent_provider,
)

TOPICS = {EventType.DELIVERY_RECEIPT: "sms.delivery-receipts", EventType.INBOUND_MESSAGE: "sms.inbound-messages"}
WHEN = datetime(2021, 2, 7, 6, 54, tzinfo=UTC)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
RECEIPT_KEYS = {"provider", "message_id", "status", "status_code", "status_detail", "final", "to", "region", "from",
                "occurred_at",
                "received_at", "segments", "price", "raw"}
INBOUND_KEYS = {"provider", "message_id", "from", "to", "region", "text", "occurred_at", "received_at", "segments",
                "price",
                "raw"}


def envelope(type_prefix: str = "", *, include_raw: bool = True) -> Envelope:
    return Envelope("/sms/nxcloud/kGp5uFHN", TOPICS, type_prefix, include_raw)


def receipt(**overrides: Any) -> DeliveryReceipt:
    fields: dict[str, Any] = {
        "provider": "nxcloud", "message_id": "fcf3432fd1834ccdac807a7cfb2d1fdf", "status": Status.DELIVERED,
        "status_code": "DELIVRD", "status_detail": None, "to": "+18184505018", "from_": "+12347200160",
        "occurred_at": WHEN, "received_at": WHEN + timedelta(seconds=2), "segments": 1, "price": "0.0360",
        "raw": {"messageId": "fcf3432fd1834ccdac807a7cfb2d1fdf"}, "final": True, **overrides,
    }
    return DeliveryReceipt(**fields)


def inbound(**overrides: Any) -> InboundMessage:
    fields: dict[str, Any] = {
        "provider": "tencent", "message_id": None, "from_": "+8613800138000", "to": None, "text": "你好",
        "occurred_at": WHEN, "received_at": WHEN, "segments": None, "price": None, "raw": {"text": "你好"},
        **overrides,
    }
    return InboundMessage(**fields)


def value(record: KafkaRecord) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(record.value)
    return loaded


def fixture_events() -> list[tuple[str, SmsEvent, bool]]:
    """Every event the providers make from the fixture payloads, with the envelope's `include_raw` on and off."""
    clock = FixedClock(WHEN.timestamp())
    out: list[tuple[str, SmsEvent, bool]] = []
    for include_raw in (True, False):
        tencent = tencent_provider(clock, include_raw=include_raw)
        for name in ("status.json", "reply.json"):
            for event in events_of(tencent.parse(tencent.verify(tencent_callback(fixture_bytes("tencent", name))))):
                out.append((f"tencent/{name}/raw={include_raw}", event, include_raw))
        nx = nxcloud_provider(clock, include_raw=include_raw)
        for name, action in (("dr.json", "dr"), ("mo.json", "mo")):
            for algorithm in ("md5", "sha256"):
                body = fixture_bytes("nxcloud", name)
                verified = nx.verify(nx_callback(body, action=action, algorithm=algorithm))
                for event in events_of(nx.parse(verified)):
                    out.append((f"nxcloud/{name}/{algorithm}/raw={include_raw}", event, include_raw))
    return out


FIXTURE_EVENTS = fixture_events()


def test_fixtures_give_an_event_of_each_type_from_each_provider() -> None:
    kinds = {(e.provider, e.type) for _, e, _ in FIXTURE_EVENTS}
    assert kinds == {(p, t) for p in ("tencent", "nxcloud") for t in EventType}


# --- the envelope, field by field ---------------------------------------------------------------


def test_delivery_receipt_envelope_has_exactly_the_contract_attributes() -> None:
    record = envelope().to_record(receipt())
    raw = value(record)
    assert list(raw) == ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema",
                         "partitionkey", "data"]
    assert raw["specversion"] == "1.0"
    assert raw["id"] == receipt().id
    assert raw["source"] == "/sms/nxcloud/kGp5uFHN"
    assert raw["type"] == "sms.delivery_receipt"
    assert raw["subject"] == "fcf3432fd1834ccdac807a7cfb2d1fdf"
    assert raw["time"] == "2021-02-07T06:54:00Z"
    assert raw["datacontenttype"] == "application/json"
    assert raw["dataschema"] == "urn:sms-bridge:schema:sms.delivery_receipt:v1"
    assert raw["partitionkey"] == "fcf3432fd1834ccdac807a7cfb2d1fdf"
    assert raw["data"] == {
        "provider": "nxcloud", "message_id": "fcf3432fd1834ccdac807a7cfb2d1fdf", "status": "delivered",
        "status_code": "DELIVRD", "status_detail": None, "final": True, "to": "+18184505018", "region": None,
        "from": "+12347200160", "occurred_at": "2021-02-07T06:54:00Z", "received_at": "2021-02-07T06:54:02Z",
        "segments": 1,
        "price": "0.0360", "raw": {"messageId": "fcf3432fd1834ccdac807a7cfb2d1fdf"},
    }


def test_an_intermediate_receipt_says_it_is_not_final_and_an_old_reader_ignores_the_field() -> None:
    record = envelope().to_record(receipt(status=Status.UNKNOWN, status_code="SENT", final=False))
    data = value(record)["data"]
    assert data["final"] is False
    schema = load_schema(EventType.DELIVERY_RECEIPT)
    assert "final" not in schema["required"] and schema["properties"]["final"] == {
        "type": "boolean", "description": schema["properties"]["final"]["description"]}
    assert not list(DATA_VALIDATORS[EventType.DELIVERY_RECEIPT].iter_errors(data))
    assert not list(DATA_VALIDATORS[EventType.DELIVERY_RECEIPT].iter_errors({k: v for k, v in data.items()
                                                                             if k != "final"}))  # a v1.0 record


def test_inbound_message_without_provider_id_has_no_subject_and_is_keyed_by_sender() -> None:
    record = envelope().to_record(inbound())
    raw = value(record)
    assert "subject" not in raw
    assert raw["type"] == "sms.inbound_message"
    assert raw["dataschema"] == "urn:sms-bridge:schema:sms.inbound_message:v1"
    assert record.key == b"+8613800138000" and raw["partitionkey"] == "+8613800138000"
    assert set(raw["data"]) == INBOUND_KEYS
    assert raw["data"]["to"] is None and raw["data"]["text"] == "你好"


def test_inbound_message_with_provider_id_has_it_as_subject() -> None:
    raw = value(envelope().to_record(inbound(message_id="a1b2c3")))
    assert raw["subject"] == "a1b2c3"
    assert raw["partitionkey"] == "+8613800138000"


def test_type_prefix_goes_before_the_event_type() -> None:
    record = envelope("com.example").to_record(receipt())
    assert value(record)["type"] == "com.example.sms.delivery_receipt"
    assert value(envelope("com.example").to_record(inbound()))["type"] == "com.example.sms.inbound_message"
    assert record.event_type is EventType.DELIVERY_RECEIPT


def test_record_goes_to_the_topic_of_its_event_type() -> None:
    assert envelope().to_record(receipt()).topic == "sms.delivery-receipts"
    assert envelope().to_record(inbound()).topic == "sms.inbound-messages"


def test_record_key_is_the_partitionkey_in_utf8() -> None:
    record = envelope().to_record(receipt(message_id="5000:短信-1"))
    assert record.key == "5000:短信-1".encode()
    assert value(record)["partitionkey"] == "5000:短信-1"


def test_record_header_is_the_structured_content_type_and_nothing_else() -> None:
    record = envelope().to_record(receipt())
    assert record.headers == (("content-type", b"application/cloudevents+json; charset=utf-8"),)
    assert CONTENT_TYPE == b"application/cloudevents+json; charset=utf-8"
    assert not [name for name, _ in record.headers if name.lower().startswith("ce_")]


def test_record_carries_its_event_id_for_logging() -> None:
    record = envelope().to_record(receipt())
    assert record.event_id == receipt().id == value(record)["id"]


@pytest.mark.parametrize("event_type", list(EventType))
def test_dataschema_is_an_absolute_uri_equal_to_the_shipped_schema_id(event_type: EventType) -> None:
    uri = DATASCHEMA[event_type]
    assert urlsplit(uri).scheme in ("urn", "http", "https")
    assert load_schema(event_type)["$id"] == uri
    assert uri.endswith(":v1")


def test_record_value_is_utf8_json_with_non_ascii_text_unescaped() -> None:
    record = envelope().to_record(inbound(text="你好 STOP"))
    assert "你好 STOP".encode() in record.value
    assert value(record)["data"]["text"] == "你好 STOP"


def test_fractional_event_time_is_written_in_milliseconds() -> None:
    raw = value(envelope().to_record(receipt(occurred_at=WHEN.replace(microsecond=250_000))))
    assert raw["time"] == raw["data"]["occurred_at"] == "2021-02-07T06:54:00.250Z"


def test_include_raw_off_gives_null_raw() -> None:
    raw = value(envelope().to_record(receipt(raw=None)))
    assert raw["data"]["raw"] is None
    DATA_VALIDATORS[EventType.DELIVERY_RECEIPT].validate(raw["data"])


@pytest.mark.parametrize("event", [receipt(), inbound()], ids=["receipt", "inbound"])
def test_an_envelope_without_include_raw_writes_the_record_of_an_event_without_raw(event: SmsEvent) -> None:
    """Providers always fill `raw`; leaving it out in the envelope gives the bytes a raw-less event gave."""
    without = envelope(include_raw=False).to_record(event, TRACEPARENT)
    assert without == envelope().to_record(replace(event, raw=None), TRACEPARENT)
    assert value(without)["data"]["raw"] is None
    assert value(envelope().to_record(event))["data"]["raw"] == event.raw


# --- every fixture event: schema, SDK, CloudEvents schema -------------------------------------------


@pytest.mark.parametrize(("name", "event", "include_raw"), FIXTURE_EVENTS, ids=[n for n, _, _ in FIXTURE_EVENTS])
def test_fixture_event_data_validates_against_its_shipped_schema(name: str, event: SmsEvent, include_raw: bool) -> None:
    raw = value(envelope(include_raw=include_raw).to_record(event))
    DATA_VALIDATORS[event.type].validate(raw["data"])
    assert set(raw["data"]) == (RECEIPT_KEYS if event.type is EventType.DELIVERY_RECEIPT else INBOUND_KEYS)


@pytest.mark.parametrize(("name", "event", "include_raw"), FIXTURE_EVENTS, ids=[n for n, _, _ in FIXTURE_EVENTS])
def test_fixture_event_record_decodes_with_the_official_sdk(name: str, event: SmsEvent, include_raw: bool) -> None:
    record = envelope("com.example", include_raw=include_raw).to_record(event, TRACEPARENT)
    raw = assert_valid_record(record)
    decoded = decode(record)
    assert decoded.get_specversion() == "1.0"
    assert decoded.get_subject() == raw.get("subject")
    assert decoded.get_dataschema() == raw["dataschema"]
    assert decoded.get_datacontenttype() == "application/json"
    assert decoded.get_extension("partitionkey") == raw["partitionkey"]
    assert decoded.get_extension("traceparent") == TRACEPARENT


def test_the_cloudevents_schema_copy_is_present_so_the_second_oracle_runs() -> None:
    assert CE_SCHEMA_PATH.exists()
    assert cloudevents_validator() is not None


def test_the_record_oracle_rejects_a_record_without_id() -> None:
    # The SDK fills in a missing id, so the oracle must look at the raw JSON itself.
    record = envelope().to_record(receipt())
    broken = {k: v for k, v in value(record).items() if k != "id"}
    with pytest.raises(AssertionError):
        assert_valid_record(KafkaRecord(record.topic, record.key, orjson.dumps(broken), record.headers,
                                        record.event_id, record.event_type))


# --- size -----------------------------------------------------------------------------------------


def test_an_oversized_record_drops_raw_and_keeps_everything_else() -> None:
    big_raw = {"padding": "x" * MAX_RECORD_BYTES}
    record = envelope().to_record(receipt(raw=big_raw))
    raw = assert_valid_record(record)
    assert raw["data"]["raw"] is None
    assert raw["data"]["message_id"] == "fcf3432fd1834ccdac807a7cfb2d1fdf"
    assert len(record.value) <= MAX_RECORD_BYTES


def test_a_record_just_under_the_limit_keeps_raw() -> None:
    base = len(envelope().to_record(receipt(raw={"padding": ""})).value)
    record = envelope().to_record(receipt(raw={"padding": "x" * (MAX_RECORD_BYTES - base)}))
    assert len(record.value) == MAX_RECORD_BYTES
    assert value(record)["data"]["raw"] is not None


def test_a_record_still_too_big_without_raw_is_malformed() -> None:
    huge = inbound(text="x" * MAX_RECORD_BYTES)
    with pytest.raises(MalformedCallbackError, match="exceeds") as caught:
        envelope().to_record(huge)
    assert caught.value.reason == "record_too_large"


# --- traceparent ------------------------------------------------------------------------------------


def test_a_valid_traceparent_is_carried_as_an_extension() -> None:
    raw = value(envelope().to_record(receipt(), valid_traceparent(TRACEPARENT)))
    assert raw["traceparent"] == TRACEPARENT


def test_no_traceparent_means_no_traceparent_attribute() -> None:
    assert "traceparent" not in value(envelope().to_record(receipt(), valid_traceparent(None)))


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        TRACEPARENT[:-1],
        TRACEPARENT + "0",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span id
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  # not hex
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",  # wrong separators
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\n",
        "0-4bf92f3577b34da6a3ce929d0e0e47360-00f067aa0ba902b7-01",  # wrong field widths
    ],
)
def test_an_invalid_traceparent_is_dropped(header: str) -> None:
    assert valid_traceparent(header) is None


@settings(max_examples=300, deadline=None)
@given(header=st.text(max_size=70) | st.from_regex(r"\A[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}\Z"))
def test_traceparent_is_carried_only_when_it_has_the_w3c_layout(header: str) -> None:
    carried = valid_traceparent(header)
    if carried is not None:
        parts = carried.split("-")
        assert [len(p) for p in parts] == [2, 32, 16, 2]
        assert all(c in "0123456789abcdef-" for c in carried)
        assert parts[0] != "ff" and set(parts[1]) != {"0"} and set(parts[2]) != {"0"}
        raw = value(envelope().to_record(receipt(), carried))
        assert raw["traceparent"] == carried


# --- any event the model allows becomes a valid record -------------------------------------------------

_plain_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)
_times = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
_prices = st.none() | st.from_regex(r"\A-?[0-9]{1,6}(\.[0-9]{1,4})?\Z")
# orjson reads JSON integers outside the 64-bit range as floats, so raw never holds bigger ones.
_raws = st.none() | st.dictionaries(
    st.text(max_size=10), st.text(max_size=20) | st.integers(-(2**63), 2**64 - 1), max_size=4
)

_receipts = st.builds(
    DeliveryReceipt, provider=st.sampled_from(["tencent", "nxcloud"]), message_id=_plain_text,
    status=st.sampled_from(Status), status_code=st.text(max_size=20), status_detail=st.none() | st.text(max_size=40),
    to=st.text(max_size=20), from_=st.none() | st.text(max_size=20), occurred_at=_times, received_at=_times,
    segments=st.none() | st.integers(0, 999), price=_prices, raw=_raws,
)
_inbound = st.builds(
    InboundMessage, provider=st.sampled_from(["tencent", "nxcloud"]), message_id=st.none() | _plain_text,
    from_=_plain_text, to=st.none() | st.text(max_size=20), text=st.text(max_size=200), occurred_at=_times,
    received_at=_times, segments=st.none() | st.integers(0, 999), price=_prices, raw=_raws,
    status_code=st.text(max_size=10),
)


@settings(max_examples=200, deadline=None)
@given(event=_receipts | _inbound, prefix=st.sampled_from(["", "com.example", "io.acme-corp.sms"]))
def test_any_well_formed_event_becomes_a_record_the_sdk_and_schemas_accept(event: SmsEvent, prefix: str) -> None:
    record = envelope(prefix).to_record(event)
    raw = assert_valid_record(record)
    assert raw["id"] == event.id
    assert raw["type"] == (f"{prefix}.{event.type.value}" if prefix else event.type.value)
