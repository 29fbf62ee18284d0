"""Sinch SMS callbacks: the SDKs' HMAC vector, forgeries of each signed part, Basic auth, and parsing."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bridge.clock import FixedClock
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.http.guard import Guard
from bridge.kafka.envelope import Envelope
from bridge.providers import PROVIDERS
from bridge.providers.base import BadReport, Outgoing, RawCallback, Verified
from bridge.providers.sinch import SinchProvider, SinchSettings, signature, ulid
from tests.conftest import fixture_bytes
from tests.helpers import assert_valid_record, recorded_raw

SECRET = "SMSWebhooksSecret"  # the SDK test's secret (vector S1)
NOW = 1736760161.0  # the SDK test's timestamp
RECEIVED = datetime.fromtimestamp(NOW, UTC)
URL = "https://bridge.example.com/callbacks/sinch/main"
S1_BODY = fixture_bytes("sinch", "signed_recipient_report.json")
S1_HEADERS = {
    "x-sinch-webhook-signature": "ZoHei66PPN/kZjw7hFVfGhJOnml3iGNCMWoyQVcE5o0=",
    "x-sinch-webhook-signature-algorithm": "HmacSHA256",
    "x-sinch-webhook-signature-nonce": "01JHFFHWYY7HSS4FWTMDTQEK8V",
    "x-sinch-webhook-signature-timestamp": "1736760161",
    "content-type": "application/json",
}
RECIPIENT = fixture_bytes("sinch", "recipient_delivery_report_sms.json")
BATCH = fixture_bytes("sinch", "delivery_report_sms.json")
MO_TEXT = fixture_bytes("sinch", "mo_text.json")
MO_BINARY = fixture_bytes("sinch", "mo_binary.json")
ENVELOPE = Envelope("/sms/sinch/test", {t: t.value for t in EventType})


def settings_of(**overrides: Any) -> SinchSettings:
    document = {"kind": "sinch", "name": "sinch-test", "path": "/callbacks/sinch/test", "hmac_secret": SECRET,
                **overrides}
    return SinchSettings.model_validate({k: v for k, v in document.items() if v is not None})


class Checked:
    """The provider behind the endpoint's shared checks (allowlist, verify, window, replay), in order."""

    def __init__(self, clock: FixedClock, **overrides: Any) -> None:
        self.provider = SinchProvider(settings_of(**overrides), clock)
        self.guard = Guard(self.provider.settings, clock, timestamped=self.provider.signs_time())

    def verify(self, callback: RawCallback) -> Verified:
        self.guard.admit(callback.client)
        verified = self.provider.verify(callback)
        self.guard.check(verified)
        return verified


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def checked(clock: FixedClock) -> Checked:
    return Checked(clock)


@pytest.fixture
def provider(clock: FixedClock) -> SinchProvider:
    return SinchProvider(settings_of(), clock)


def callback(body: bytes, headers: dict[str, str]) -> RawCallback:
    return RawCallback(body, headers, "203.0.113.7", RECEIVED, None, "POST", URL)


def signed_headers(body: bytes, *, nonce: str = "01JHFFHWYY7HSS4FWTMDTQEK8V", timestamp: str = "1736760161",
                   secret: str = SECRET) -> dict[str, str]:
    return {**S1_HEADERS, "x-sinch-webhook-signature": signature(body, nonce, timestamp, secret),
            "x-sinch-webhook-signature-nonce": nonce, "x-sinch-webhook-signature-timestamp": timestamp}


def parsed(provider: SinchProvider, body: bytes | dict[str, Any]) -> list[Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return list(provider.parse(provider.verify(callback(data, signed_headers(data)))))


def refused(provider: SinchProvider | Checked, raw: RawCallback) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        provider.verify(raw)
    return caught.value


# --- the official vectors ----------------------------------------------------------------------


def test_the_sdks_sms_vector_gives_the_documented_signature() -> None:
    assert signature(S1_BODY, "01JHFFHWYY7HSS4FWTMDTQEK8V", "1736760161", SECRET) == S1_HEADERS[
        "x-sinch-webhook-signature"]


def test_the_conversation_vector_of_the_same_scheme_matches() -> None:
    # providers.md §4, sinch-sdk-python tests/unit/domains/conversation/…/test_conversation_sinch_event.py
    body = (b'{"app_id":"01EB37HMH1M6SV18BSNS3G135H","accepted_time":"2020-11-17T15:09:11.659Z","project_id":'
            b'"c36f3d3d-1513-2edd-ae42-11995557ff61","message_delivery_report":{"message_id":"01EQBC1A3BEK731GY4YXEN0C2R'
            b'","conversation_id":"01EPYATA64TMNZ1FV02JKF12JF","status":"QUEUED_ON_CHANNEL","contact_id":'
            b'"01EXA07N79THJ20WSN6AS30TMW"}}')
    expected = "Yc+3R1pIS78xLASybulhs8BsSo9BPB3Pr92QCUoczfk="
    assert signature(body, "01FJA8B4A7BM43YGWSG9GBV067", "1634579353", "foo_secret1234") == expected


def test_the_sdks_signed_callback_is_verified_and_parsed(checked: Checked) -> None:
    verified = checked.verify(callback(S1_BODY, S1_HEADERS))
    assert verified.signed_at == NOW
    assert verified.replay_key == "nonce:01JHFFHWYY7HSS4FWTMDTQEK8V"
    [event] = checked.provider.parse(verified)
    assert isinstance(event, DeliveryReceipt)
    assert event.message_id == "01JHFFHQ0P99JPPNQPJDV7JTBP:+33662162466"
    assert (event.to, event.region) == ("+33662162466", "FR")
    assert (event.status, event.status_code, event.status_detail) == (Status.DELIVERED, "Delivered", "0")
    assert event.occurred_at == datetime(2025, 1, 13, 9, 22, 40, 914000, tzinfo=UTC)


def ulid_ms(text: str) -> int:
    return int("".join(f"{'0123456789ABCDEFGHJKMNPQRSTVWXYZ'.index(c):05b}" for c in text[:10]), 2)


def test_the_nonce_sinch_sends_is_a_ulid_of_the_signing_time_and_so_are_ours() -> None:
    assert 0 <= ulid_ms(S1_HEADERS["x-sinch-webhook-signature-nonce"]) - NOW * 1000 < 1000
    assert ulid_ms(ulid(NOW, "any")) == NOW * 1000 and len(ulid(NOW, "any")) == 26


# --- forgeries of every signed part --------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(position=st.integers(0, len(S1_BODY) - 1), flip=st.integers(1, 255))
def test_any_changed_body_byte_is_refused(position: int, flip: int) -> None:
    body = bytearray(S1_BODY)
    body[position] ^= flip
    error = refused(SinchProvider(settings_of(), FixedClock(NOW)), callback(bytes(body), S1_HEADERS))
    assert error.reason == "bad_signature"


@pytest.mark.parametrize(("header", "value"), [
    ("x-sinch-webhook-signature-nonce", "01JHFFHWYY7HSS4FWTMDTQEK8W"),
    ("x-sinch-webhook-signature-nonce", "01jhffhwyy7hss4fwtmdtqek8v"),
    ("x-sinch-webhook-signature-timestamp", "1736760162"),
    ("x-sinch-webhook-signature-timestamp", "1736760160"),
    ("x-sinch-webhook-signature", "ZoHei66PPN/kZjw7hFVfGhJOnml3iGNCMWoyQVcE5o1="),
    ("x-sinch-webhook-signature", "zoHei66PPN/kZjw7hFVfGhJOnml3iGNCMWoyQVcE5o0="),
    ("x-sinch-webhook-signature", "ZoHei66PPN/kZjw7hFVfGhJOnml3iGNCMWoyQVcE5o0"),
    ("x-sinch-webhook-signature", "é\ud800"),
])
def test_each_signed_header_changed_is_refused(provider: SinchProvider, header: str, value: str) -> None:
    assert refused(provider, callback(S1_BODY, {**S1_HEADERS, header: value})).reason == "bad_signature"


@pytest.mark.parametrize("secret", ["smsWebhooksSecret", SECRET + " ", "other"])
def test_a_signature_with_another_secret_is_refused(provider: SinchProvider, secret: str) -> None:
    error = refused(provider, callback(S1_BODY, signed_headers(S1_BODY, secret=secret)))
    assert error.reason == "bad_signature"


def test_the_body_is_signed_as_raw_bytes_not_as_its_json_value(provider: SinchProvider) -> None:
    pretty = orjson.dumps(orjson.loads(S1_BODY), option=orjson.OPT_INDENT_2)
    assert refused(provider, callback(pretty, S1_HEADERS)).reason == "bad_signature"


@pytest.mark.parametrize("header", ["x-sinch-webhook-signature", "x-sinch-webhook-signature-nonce",
                                    "x-sinch-webhook-signature-timestamp"])
def test_a_missing_or_empty_signature_header_is_refused(provider: SinchProvider, header: str) -> None:
    without = {k: v for k, v in S1_HEADERS.items() if k != header}
    assert refused(provider, callback(S1_BODY, without)).reason == "missing_credentials"
    assert refused(provider, callback(S1_BODY, {**S1_HEADERS, header: ""})).reason == "missing_credentials"


@pytest.mark.parametrize("algorithm", ["HmacSHA512", "HmacSHA1", "sha256", "", "HmacSHA256 x"])
def test_an_algorithm_other_than_hmac_sha256_is_refused(provider: SinchProvider, algorithm: str) -> None:
    headers = {**S1_HEADERS, "x-sinch-webhook-signature-algorithm": algorithm}
    assert refused(provider, callback(S1_BODY, headers)).reason == "unsupported_algorithm"


@pytest.mark.parametrize("algorithm", ["HmacSHA256", "hmacsha256", "HMACSHA256", None])
def test_the_algorithm_header_is_case_insensitive_and_may_be_absent(provider: SinchProvider,
                                                                     algorithm: str | None) -> None:
    headers = {k: v for k, v in S1_HEADERS.items() if k != "x-sinch-webhook-signature-algorithm"}
    if algorithm is not None:
        headers["x-sinch-webhook-signature-algorithm"] = algorithm
    assert provider.verify(callback(S1_BODY, headers)).signed_at == NOW


def test_an_authorization_header_does_not_replace_the_signature_in_hmac_mode(provider: SinchProvider) -> None:
    headers = {"authorization": "Basic " + base64.b64encode(b"user:" + SECRET.encode()).decode()}
    assert refused(provider, callback(S1_BODY, headers)).reason == "missing_credentials"


# --- the signed time and the nonce ------------------------------------------------------------


FULL_WIDTH = "".join(chr(0xFF10 + int(d)) for d in "1736760161")


@pytest.mark.parametrize("timestamp", ["1736760161000", "-1736760161", "1.7e9", FULL_WIDTH, "0x67"])
def test_a_signed_timestamp_that_is_not_unix_seconds_is_refused(checked: Checked, timestamp: str) -> None:
    error = refused(checked, callback(S1_BODY, signed_headers(S1_BODY, timestamp=timestamp)))
    assert error.reason == "stale_timestamp"


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_a_timestamp_within_the_window_is_accepted(checked: Checked, skew: int) -> None:
    assert checked.verify(callback(S1_BODY, signed_headers(S1_BODY, timestamp=str(int(NOW) + skew))))


@pytest.mark.parametrize("skew", [-301, 301, -86_400])
def test_a_timestamp_outside_the_window_is_refused(checked: Checked, skew: int) -> None:
    error = refused(checked, callback(S1_BODY, signed_headers(S1_BODY, timestamp=str(int(NOW) + skew))))
    assert error.reason == "stale_timestamp"


def test_the_same_nonce_twice_is_a_replay_and_a_new_nonce_is_not(checked: Checked) -> None:
    checked.verify(callback(S1_BODY, S1_HEADERS))
    error = refused(checked, callback(S1_BODY, S1_HEADERS))
    assert (error.reason, error.status) == ("replay", 403)
    assert checked.verify(callback(S1_BODY, signed_headers(S1_BODY, nonce="01JHFFHWYY7HSS4FWTMDTQEK8X")))


# --- Basic auth --------------------------------------------------------------------------------

BASIC = {"auth": "basic", "hmac_secret": None, "basic_username": "sinch", "basic_password": "pässword-42"}


def basic(user: bytes, password: bytes, scheme: str = "Basic") -> dict[str, str]:
    return {"authorization": f"{scheme} " + base64.b64encode(user + b":" + password).decode()}


def test_basic_credentials_are_accepted_with_neither_time_nor_replay_key(clock: FixedClock) -> None:
    provider = SinchProvider(settings_of(**BASIC), clock)
    verified = provider.verify(callback(RECIPIENT, basic(b"sinch", "pässword-42".encode())))
    assert (verified.signed_at, verified.replay_key) == (None, None)
    assert Checked(clock, **BASIC).verify(callback(RECIPIENT, basic(b"sinch", "pässword-42".encode(), "basic")))


@pytest.mark.parametrize(("headers", "reason"), [
    ({}, "missing_credentials"),
    ({"authorization": "Bearer abc"}, "missing_credentials"),
    ({"authorization": "Basic "}, "missing_credentials"),
    ({"authorization": "Basic %%%"}, "bad_token"),
    ({"authorization": "Basic é"}, "bad_token"),
    (basic(b"sinch", b"password-42"), "bad_token"),
    (basic(b"Sinch", "pässword-42".encode()), "bad_token"),
    (basic(b"sinch", "pässword-42 ".encode()), "bad_token"),
    ({"authorization": "Basic " + base64.b64encode(b"sinch").decode()}, "bad_token"),
    (S1_HEADERS, "missing_credentials"),
])
def test_wrong_or_missing_basic_credentials_are_refused(clock: FixedClock, headers: dict[str, str],
                                                        reason: str) -> None:
    provider = SinchProvider(settings_of(**BASIC), clock)
    error = refused(provider, callback(RECIPIENT, headers))
    assert (error.reason, error.status) == (reason, 401)
    assert "pässword" not in str(error)
    assert provider.rejected(error).headers["WWW-Authenticate"].startswith("Basic realm=")


@pytest.mark.parametrize("overrides", [
    {"hmac_secret": None},
    {"basic_password": "p"},
    {"auth": "basic", "hmac_secret": None, "basic_username": "u"},
    {"auth": "basic", "basic_username": "u", "basic_password": "p"},
    {"auth": "basic", "hmac_secret": None, "basic_username": "u:x", "basic_password": "p"},
    {"auth": "oauth2"},
])
def test_settings_need_exactly_the_secrets_of_the_chosen_method(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        settings_of(**overrides)
    assert SECRET not in str(caught.value)


# --- parsing -------------------------------------------------------------------------------------


def test_the_recipient_report_fixture_gives_one_receipt(provider: SinchProvider) -> None:
    [event] = parsed(provider, RECIPIENT)
    assert event == DeliveryReceipt(
        provider="sinch", message_id="01FC66621XXXXX119Z8PMV1QPQ:+44231235674", status=Status.UNKNOWN,
        status_code="Dispatched", status_detail="401", to="+44231235674", region=None, from_="applied originator",
        occurred_at=datetime(2022, 8, 30, 8, 16, 8, 930000, tzinfo=UTC), received_at=RECEIVED, segments=123,
        price=None,
    )
    assert event.raw == orjson.loads(RECIPIENT)
    assert assert_valid_record(ENVELOPE.to_record(event))["subject"] == event.message_id


def test_the_full_batch_report_fixture_gives_one_receipt_per_recipient(provider: SinchProvider) -> None:
    [event] = parsed(provider, BATCH)
    assert isinstance(event, DeliveryReceipt)
    assert event.message_id == "01FC66621XXXXX119Z8PMV1QPQ:44231235674"  # not a valid number: kept as given
    assert (event.status, event.status_code, event.status_detail) == (Status.DELIVERED, "Delivered", "0")
    assert event.occurred_at == RECEIVED  # batch reports carry no time
    assert event.raw == {"type": "delivery_report_sms", "batch_id": "01FC66621XXXXX119Z8PMV1QPQ",
                         "client_reference": "a client reference", "status": "Delivered", "code": 0,
                         "recipient": "44231235674"}
    assert_valid_record(ENVELOPE.to_record(event))


def test_a_retried_batch_report_gives_the_same_event_ids(provider: SinchProvider) -> None:
    """The same batch report posted again a second later with a new nonce and timestamp, as Sinch retries it:
    the report carries no time, so the time of receipt stays out of the ids (EVENTS.md: a retry is a duplicate)."""
    ids = []
    for offset, nonce in ((0, "01JHFFHWYY7HSS4FWTMDTQEK8V"), (1, "01JHFFHWYZ0000000000000000")):
        raw = RawCallback(BATCH, signed_headers(BATCH, nonce=nonce, timestamp=str(int(NOW) + offset)),
                          "203.0.113.7", datetime.fromtimestamp(NOW + offset, UTC), None, "POST", URL)
        [event] = provider.parse(provider.verify(raw))
        assert isinstance(event, DeliveryReceipt) and event.occurred_at == raw.received_at
        ids.append(event.id)
    assert ids[0] == ids[1]


def test_the_mo_text_fixture_gives_one_inbound_message(provider: SinchProvider) -> None:
    [event] = parsed(provider, MO_TEXT)
    assert isinstance(event, InboundMessage)
    assert (event.message_id, event.text) == ("01FC66621XXXXX119Z8PMV1QPA", "a body")
    assert (event.from_, event.region, event.to) == ("+11203494390", None, "11203453453")  # invalid: as given
    assert event.occurred_at == datetime(2019, 8, 24, 14, 17, 22, tzinfo=UTC)
    assert event.raw == orjson.loads(MO_TEXT)
    assert_valid_record(ENVELOPE.to_record(event))


def test_a_batch_report_dead_letters_only_what_it_cannot_understand(provider: SinchProvider) -> None:
    report = {"type": "delivery_report_sms", "batch_id": "01BATCH", "statuses": [
        {"code": 0, "count": 2, "recipients": ["+12015550123", "33612345678"], "status": "Delivered"},
        {"code": 402, "count": 1, "status": "Failed"},  # a summary entry: no recipients
        "nonsense",
        {"code": 412, "count": 2, "recipients": ["12010000000", ["x"]], "status": "Aborted"},
        {"code": 0, "count": 1, "recipients": ["12015550124"]},  # no status
    ]}
    items = parsed(provider, report)
    events = [i for i in items if isinstance(i, DeliveryReceipt)]
    bad = [i for i in items if isinstance(i, BadReport)]
    assert [(e.to, e.status, e.status_detail) for e in events] == [
        ("+12015550123", Status.DELIVERED, "0"), ("+33612345678", Status.DELIVERED, "0"),
        ("12010000000", Status.UNDELIVERED, "412")]
    assert [b.index for b in bad] == [2, 3, 5, 6] and [b.index for b in items if isinstance(b, BadReport)]
    assert [(b.error.reason, str(b.error).split(":")[0]) for b in bad] == [
        ("missing_field", "statuses[1].recipients"), ("wrong_shape", "statuses[2]"),
        ("invalid_field", "statuses[3].recipients[1].recipient"), ("missing_field", "statuses[4].recipients[0].status")]
    assert len({e.id for e in events}) == 3  # same batch, status and time: the recipient keeps ids apart


def test_a_summary_report_is_dead_lettered_entry_by_entry(provider: SinchProvider) -> None:
    report = {"type": "delivery_report_sms", "batch_id": "01BATCH", "statuses": [
        {"code": 0, "count": 3, "status": "Delivered"}, {"code": 402, "count": 1, "status": "Failed"}]}
    items = parsed(provider, report)
    assert all(isinstance(i, BadReport) and i.error.reason == "missing_field" for i in items) and len(items) == 2


def test_a_batch_report_with_more_recipients_than_max_reports_is_refused_whole(clock: FixedClock) -> None:
    provider = SinchProvider(settings_of(max_reports=2), clock)
    report = {"type": "delivery_report_sms", "batch_id": "b", "statuses": [
        {"status": "Delivered", "recipients": ["1", "2"]}, {"status": "Failed", "recipients": ["3"]}]}
    with pytest.raises(MalformedCallbackError, match="more than 2") as caught:
        parsed(provider, report)
    assert caught.value.reason == "too_many_reports"


@pytest.mark.parametrize(("status", "neutral"), [
    ("Delivered", Status.DELIVERED), ("DELIVERED", Status.DELIVERED),
    ("Aborted", Status.UNDELIVERED), ("Cancelled", Status.UNDELIVERED), ("Rejected", Status.UNDELIVERED),
    ("Deleted", Status.UNDELIVERED), ("Failed", Status.UNDELIVERED), ("Expired", Status.UNDELIVERED),
    ("Queued", Status.UNKNOWN), ("Dispatched", Status.UNKNOWN), ("Unknown", Status.UNKNOWN),
    ("Read", Status.UNKNOWN), ("", Status.UNKNOWN),
])
def test_every_documented_status_maps_and_is_kept_verbatim(provider: SinchProvider, status: str,
                                                           neutral: Status) -> None:
    [event] = parsed(provider, {**orjson.loads(RECIPIENT), "status": status})
    assert (event.status, event.status_code) == (neutral, status)


@pytest.mark.parametrize(("body", "reason", "message"), [
    (MO_BINARY, "unsupported_callback", "type: binary inbound messages"),
    ({"type": "mo_media"}, "unsupported_callback", "type: MMS inbound"),
    ({"type": "delivery_report_mms"}, "unsupported_callback", "type: MMS delivery reports"),
    ({"type": "recipient_delivery_report_mms"}, "unsupported_callback", "type: MMS delivery reports"),
    ({"type": "something_else"}, "unsupported_callback", "type: must be"),
    ({"batch_id": "b"}, "missing_field", "type: required"),
    (b"[]", "wrong_shape", "JSON object"),
    (b"{", "invalid_json", "JSON"),
    (b"", "invalid_json", "empty"),
    ({"type": "delivery_report_sms", "batch_id": "b", "statuses": []}, "wrong_shape", "statuses"),
    ({"type": "delivery_report_sms", "batch_id": "b"}, "wrong_shape", "statuses"),
    ({"type": "delivery_report_sms", "statuses": [{}]}, "missing_field", "batch_id"),
])
def test_callbacks_it_cannot_understand_are_malformed(provider: SinchProvider, body: bytes | dict[str, Any],
                                                      reason: str, message: str) -> None:
    with pytest.raises(MalformedCallbackError, match=message) as caught:
        parsed(provider, body)
    assert caught.value.reason == reason


@pytest.mark.parametrize(("changes", "reason", "message"), [
    ({"batch_id": ...}, "missing_field", "batch_id: required"),
    ({"recipient": ""}, "invalid_field", "recipient: must not be empty"),
    ({"status": ...}, "missing_field", "status: required"),
    ({"at": ...}, "missing_field", "at: required"),
    ({"at": "30/08/2022"}, "invalid_field", "at: must be an ISO 8601 time"),
    ({"at": "0001-01-01T00:00:00+01:00"}, "invalid_field", "at: must be a time within"),
    ({"number_of_message_parts": "many"}, "invalid_field", "number_of_message_parts"),
    ({"code": [401]}, "invalid_field", "code: must be a string"),
])
def test_recipient_reports_with_missing_or_wrong_fields_are_malformed(
    provider: SinchProvider, changes: dict[str, Any], reason: str, message: str
) -> None:
    body = {k: v for k, v in {**orjson.loads(RECIPIENT), **changes}.items() if v is not ...}
    with pytest.raises(MalformedCallbackError, match=message) as caught:
        parsed(provider, body)
    assert caught.value.reason == reason


@pytest.mark.parametrize("field", ["id", "from", "body", "received_at"])
def test_inbound_messages_missing_a_required_field_are_malformed(provider: SinchProvider, field: str) -> None:
    body = {k: v for k, v in orjson.loads(MO_TEXT).items() if k != field}
    with pytest.raises(MalformedCallbackError, match=f"{field}: required"):
        parsed(provider, body)


def test_include_raw_off_leaves_raw_out(clock: FixedClock) -> None:
    provider = SinchProvider(settings_of(include_raw=False), clock)
    [event] = parsed(provider, RECIPIENT)
    assert recorded_raw(provider.settings, event) is None


def test_restore_rebuilds_a_dead_letter_without_its_signature(provider: SinchProvider) -> None:
    [event] = provider.parse(provider.restore(callback(MO_TEXT, {})))
    assert isinstance(event, InboundMessage)


# --- replies -----------------------------------------------------------------------------------


def test_replies_are_2xx_for_stored_and_sinchs_error_shape_otherwise(provider: SinchProvider) -> None:
    accepted = provider.accepted(provider.verify(callback(S1_BODY, S1_HEADERS)))
    assert (accepted.status, accepted.body) == (200, b"")
    for error in (VerificationError("bad_signature", "header x: does not match"),
                  MalformedCallbackError("invalid_json", "body is not valid JSON"),
                  CallbackError("timeout", "not stored; retry later", status=503)):
        reply = provider.rejected(error)
        assert reply.status == error.status and reply.media_type == "application/json"
        assert orjson.loads(reply.body) == {"code": error.reason, "text": str(error)}
        assert "WWW-Authenticate" not in reply.headers


# --- totality ----------------------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8") | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF,
                                                              categories=["Cs"]), max_size=40)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), basic_mode=st.booleans())
def test_any_body_and_headers_give_events_or_a_callback_error(data: st.DataObject, basic_mode: bool) -> None:
    provider = SinchProvider(settings_of(**(BASIC if basic_mode else {})), FixedClock(NOW))
    names = [*S1_HEADERS, "authorization"]
    headers = data.draw(st.dictionaries(st.sampled_from(names), texts | st.sampled_from(list(S1_HEADERS.values())),
                                        max_size=6))
    body = data.draw(st.sampled_from([S1_BODY, RECIPIENT, BATCH, MO_TEXT, MO_BINARY]) | st.binary(max_size=300)
                     | st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
                                    | st.text(st.characters(codec="utf-8"), max_size=40),  # JSON: no lone surrogates
                                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                                        st.sampled_from(["type", "batch_id", "statuses", "recipients", "status",
                                                         "code", "at", "recipient", "from", "id", "body",
                                                         "received_at", "to"]), inner, max_size=6),
                                    max_leaves=12).map(lambda v: orjson.dumps(v)))
    if data.draw(st.booleans()):
        headers = {**headers, **signed_headers(body)}
    try:
        verified = provider.verify(callback(body, headers))
    except VerificationError as error:
        assert error.status == 401
        return
    try:
        items = provider.parse(verified)
    except MalformedCallbackError:
        return
    assert all(isinstance(i, DeliveryReceipt | InboundMessage | BadReport) for i in items)


# --- the samples, end to end in process ----------------------------------------------------------


def resolved(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    return value


def to_raw(request: Outgoing) -> RawCallback:
    headers = {k.lower(): v for k, v in request.headers.items()}
    query = tuple(parse_qsl(urlsplit(request.url).query))
    return RawCallback(request.body, headers, "203.0.113.7", RECEIVED, None, request.method, request.url, query)


@pytest.mark.parametrize("auth", ["hmac", "basic"])
def test_every_sample_signed_by_the_dev_instance_is_verified_and_parsed_to_its_type(auth: str) -> None:
    assert PROVIDERS["sinch"] is SinchProvider
    dev = {k: resolved(v) for k, v in SinchProvider.dev_instance.items()}
    if auth == "basic":
        dev = {"auth": "basic", "basic_username": "u", "basic_password": "p"}
    instance = SinchSettings.model_validate({"kind": "sinch", "name": "x", "path": "/callbacks/x", **dev})
    clock = FixedClock(NOW)
    provider = SinchProvider(instance, clock)
    guard = Guard(instance, clock, timestamped=provider.signs_time())
    nonces = set()
    for sample in provider.samples:
        request = provider.sign(URL, sample.body(NOW), sample.name, NOW)
        verified = provider.verify(to_raw(request))
        guard.check(verified)  # each sample has its own nonce
        nonces.add(verified.replay_key)
        events = [e for e in provider.parse(verified) if not isinstance(e, BadReport)]
        assert events and all(e.type is sample.event_type for e in events), sample.name
        for event in events:
            assert_valid_record(ENVELOPE.to_record(event))
    assert len(nonces) == (len(provider.samples) if auth == "hmac" else 1)


def test_signing_the_same_callback_twice_gives_the_same_nonce(provider: SinchProvider) -> None:
    first = provider.sign(URL, S1_BODY, "dr", NOW)
    assert first.headers == provider.sign(URL, S1_BODY, "dr", NOW).headers
    assert first.headers["x-sinch-webhook-signature-nonce"] != provider.sign(URL, RECIPIENT, "dr", NOW).headers[
        "x-sinch-webhook-signature-nonce"]
