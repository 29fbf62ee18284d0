"""Telnyx webhooks: Ed25519 vectors on the RFC 8032 key and on generated keys, forgeries, and parsing."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bridge.clock import FixedClock
from bridge.errors import CallbackError, MalformedCallbackError, UsageError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.http.guard import Guard
from bridge.kafka.envelope import Envelope
from bridge.providers import PROVIDERS
from bridge.providers.base import BadReport, RawCallback, Verified
from bridge.providers.telnyx import TelnyxProvider, TelnyxSettings
from bridge.providers.telnyx_signature import signed_message
from tests.conftest import fixture_bytes
from tests.helpers import assert_valid_record, recorded_raw

# providers-2.md §9 T1: RFC 8032 §7.1 TEST 1
RFC_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
RFC_PUBLIC_SPKI = "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
RFC_PRIVATE = base64.b64encode(RFC_SEED).decode()
RFC_SIGNER = Ed25519PrivateKey.from_private_bytes(RFC_SEED)
T1_TIME = "1700000000"
T1_BODY = fixture_bytes("telnyx", "t1_finalized.json")
T1_SIGNATURE = "SO8pje2sZvyedZK4zVfMpL1dDLQZq7wH3JYCzx2IEZrEwSzGrBn9Hqjjo0q+vD3MhoCfK9gZ0zGTHFnBdo5HBg=="
EMPTY_SIGNATURE = "rCd4Wrq89Q/PGOdFxiyXKd/BhCfaVjBc6L4IDQVtenxv+Tou8wn9F/rTnj0xItbd0Za6Dvt/32tZd1LIK4c4Bg=="
NOW = 1700000000.0
RECEIVED = datetime.fromtimestamp(NOW, UTC)
SENT = fixture_bytes("telnyx", "message_sent.json")
RECEIVED_2019 = fixture_bytes("telnyx", "message_received_2019.json")
ENVELOPE = Envelope("/sms/telnyx/test", {t: t.value for t in EventType})

# our own key pair, generated once per run: vectors that no fixed key could fake
OWN = Ed25519PrivateKey.generate()
OWN_PUBLIC = base64.b64encode(OWN.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
OWN_PRIVATE = base64.b64encode(OWN.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode()


def settings_of(**overrides: Any) -> TelnyxSettings:
    document = {"kind": "telnyx", "name": "telnyx-test", "path": "/callbacks/telnyx/test", "public_key": RFC_PUBLIC,
                "signing_private_key": RFC_PRIVATE, **overrides}
    return TelnyxSettings.model_validate({k: v for k, v in document.items() if v is not None})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def provider(clock: FixedClock) -> TelnyxProvider:
    return TelnyxProvider(settings_of(), clock)


class Checked:
    """The provider behind the endpoint's shared checks (allowlist, verify, window, replay), in order."""

    def __init__(self, clock: FixedClock, **overrides: Any) -> None:
        self.provider = TelnyxProvider(settings_of(**overrides), clock)
        self.guard = Guard(self.provider.settings, clock, timestamped=self.provider.signs_time())

    def verify(self, callback: RawCallback) -> Verified:
        self.guard.admit(callback.client)
        verified = self.provider.verify(callback)
        self.guard.check(verified)
        return verified


def callback(body: bytes, headers: dict[str, str]) -> RawCallback:
    return RawCallback(body, headers, "192.76.120.130", RECEIVED, None, "POST", "https://bridge.example.com/t")


def headers_of(signature: str, timestamp: str = T1_TIME) -> dict[str, str]:
    return {"telnyx-signature-ed25519": signature, "telnyx-timestamp": timestamp, "content-type": "application/json"}


def own_signed(body: bytes, timestamp: str = T1_TIME, key: Ed25519PrivateKey = OWN) -> dict[str, str]:
    return headers_of(base64.b64encode(key.sign(signed_message(timestamp, body))).decode(), timestamp)


def refused(provider: TelnyxProvider | Checked, raw: RawCallback) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        provider.verify(raw)
    return caught.value


def parsed(provider: TelnyxProvider, body: bytes | dict[str, Any]) -> list[Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return list(provider.parse(provider.verify(callback(data, own_signed(data, key=RFC_SIGNER)))))


# --- the computed vectors on the RFC 8032 key (providers-2.md §9 T1) -------------------------------


def test_the_rfc_8032_key_signs_the_empty_message_as_the_rfc_says() -> None:
    assert RFC_SIGNER.sign(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f05"
        "95bbe24655141438e7a100b")


def test_the_t1_vector_is_verified_with_the_public_key_as_telnyx_gives_it(clock: FixedClock) -> None:
    for public in (RFC_PUBLIC, RFC_PUBLIC_SPKI):
        provider = TelnyxProvider(settings_of(public_key=public, signing_private_key=None), clock)
        verified = provider.verify(callback(T1_BODY, headers_of(T1_SIGNATURE)))
        assert (verified.signed_at, verified.replay_key) == (NOW, T1_SIGNATURE)


def test_sign_reproduces_the_t1_vector_and_the_empty_body_vector(provider: TelnyxProvider) -> None:
    assert len(T1_BODY) == 339
    request = provider.sign("https://bridge.example.com/t", T1_BODY, "finalized", NOW)
    assert request.headers["telnyx-signature-ed25519"] == T1_SIGNATURE
    assert request.headers["telnyx-timestamp"] == T1_TIME
    assert provider.sign("https://bridge.example.com/t", b"", "finalized", NOW).headers[
        "telnyx-signature-ed25519"] == EMPTY_SIGNATURE
    assert provider.verify(callback(b"", headers_of(EMPTY_SIGNATURE)))


def test_the_t1_body_with_one_more_space_or_another_time_is_refused(provider: TelnyxProvider) -> None:
    assert refused(provider, callback(T1_BODY + b" ", headers_of(T1_SIGNATURE))).reason == "bad_signature"
    assert refused(provider, callback(T1_BODY, headers_of(T1_SIGNATURE, "1700000001"))).reason == "bad_signature"


# --- our own vectors on a generated key pair --------------------------------------------------------


def test_a_callback_signed_with_a_generated_key_is_verified_with_its_public_key(clock: FixedClock) -> None:
    provider = TelnyxProvider(settings_of(public_key=OWN_PUBLIC, signing_private_key=OWN_PRIVATE), clock)
    assert provider.verify(callback(T1_BODY, own_signed(T1_BODY))).signed_at == NOW
    assert provider.sign("u", T1_BODY, "finalized", NOW).headers == own_signed(T1_BODY)  # Ed25519 is deterministic
    assert refused(provider, callback(T1_BODY, headers_of(T1_SIGNATURE))).reason == "bad_signature"


def test_a_callback_signed_with_any_other_key_is_refused(provider: TelnyxProvider) -> None:
    for key in (OWN, Ed25519PrivateKey.generate()):
        assert refused(provider, callback(T1_BODY, own_signed(T1_BODY, key=key))).reason == "bad_signature"


# --- forgeries of every signed part --------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(position=st.integers(0, len(T1_BODY) - 1), flip=st.integers(1, 255))
def test_any_changed_body_byte_is_refused(position: int, flip: int) -> None:
    body = bytearray(T1_BODY)
    body[position] ^= flip
    provider = TelnyxProvider(settings_of(), FixedClock(NOW))
    assert refused(provider, callback(bytes(body), headers_of(T1_SIGNATURE))).reason == "bad_signature"


@settings(max_examples=150, deadline=None)
@given(position=st.integers(0, 63), flip=st.integers(1, 255))
def test_any_changed_signature_byte_is_refused(position: int, flip: int) -> None:
    signature = bytearray(base64.b64decode(T1_SIGNATURE))
    signature[position] ^= flip
    provider = TelnyxProvider(settings_of(), FixedClock(NOW))
    forged = headers_of(base64.b64encode(bytes(signature)).decode())
    assert refused(provider, callback(T1_BODY, forged)).reason == "bad_signature"


@pytest.mark.parametrize("timestamp", ["1700000001", "1699999999", "01700000000", "1700000000 ", "1700000000.0"])
def test_a_changed_timestamp_is_refused(provider: TelnyxProvider, timestamp: str) -> None:
    assert refused(provider, callback(T1_BODY, headers_of(T1_SIGNATURE, timestamp))).reason == "bad_signature"


@pytest.mark.parametrize("signature", ["not base64!", "é" * 88, "\ud800", T1_SIGNATURE[:-4], T1_SIGNATURE + "AAAA",
                                       base64.b64encode(b"\x00" * 64).decode(), T1_SIGNATURE.replace("=", "")])
def test_a_signature_that_is_not_64_base64_bytes_or_wrong_is_refused(provider: TelnyxProvider, signature: str) -> None:
    assert refused(provider, callback(T1_BODY, headers_of(signature))).reason == "bad_signature"


@pytest.mark.parametrize("header", ["telnyx-signature-ed25519", "telnyx-timestamp"])
def test_a_missing_or_empty_header_is_refused(provider: TelnyxProvider, header: str) -> None:
    without = {k: v for k, v in headers_of(T1_SIGNATURE).items() if k != header}
    assert refused(provider, callback(T1_BODY, without)).reason == "missing_credentials"
    assert refused(provider, callback(T1_BODY, {**without, header: ""})).reason == "missing_credentials"


@pytest.mark.parametrize("timestamp", ["1700000000000", "-1", "1.7e9", "+1700000000", "abc"])
def test_a_signed_timestamp_that_is_not_unix_seconds_is_refused(provider: TelnyxProvider, timestamp: str) -> None:
    error = refused(provider, callback(T1_BODY, own_signed(T1_BODY, timestamp, RFC_SIGNER)))
    assert error.reason == "stale_timestamp"


@pytest.mark.parametrize(("skew", "accepted"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_the_timestamp_must_be_within_the_window(clock: FixedClock, skew: int, accepted: bool) -> None:
    checked = Checked(clock)
    signed = checked.provider.sign("u", T1_BODY, "finalized", NOW + skew)
    raw = callback(T1_BODY, dict(signed.headers))
    if accepted:
        assert checked.verify(raw).signed_at == NOW + skew
    else:
        assert refused(checked, raw).reason == "stale_timestamp"


def test_the_same_signature_twice_is_a_replay_whatever_its_spelling(clock: FixedClock) -> None:
    checked = Checked(clock)
    checked.verify(callback(T1_BODY, headers_of(T1_SIGNATURE)))
    error = refused(checked, callback(T1_BODY, headers_of(f" {T1_SIGNATURE} ")))
    assert (error.reason, error.status) == ("replay", 403)
    assert checked.verify(callback(T1_BODY, own_signed(T1_BODY, "1700000001", RFC_SIGNER)))


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "message"), [
    ({"public_key": "not base64"}, "public_key must be base64"),
    ({"public_key": base64.b64encode(b"x" * 31).decode()}, "32-byte Ed25519 key"),
    ({"public_key": base64.b64encode(b"\x30" * 44).decode()}, "32-byte Ed25519 key"),
    ({"signing_private_key": OWN_PRIVATE}, "does not belong to public_key"),
    ({"signing_private_key": "short"}, "signing_private_key must be"),
    ({"public_key": None}, "public_key"),
    ({"reply_deadline_seconds": 0}, "reply_deadline_seconds"),
])
def test_settings_refuse_keys_that_are_not_an_ed25519_pair(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        settings_of(**overrides)
    assert OWN_PRIVATE not in str(caught.value) and RFC_PRIVATE not in str(caught.value)


def test_settings_take_a_pkcs8_private_key_and_reply_within_telnyxs_two_seconds() -> None:
    pkcs8 = RFC_SIGNER.private_bytes(Encoding.DER, PrivateFormat.PKCS8,
                                                                          NoEncryption())
    instance = settings_of(signing_private_key=base64.b64encode(pkcs8).decode())
    assert instance.reply_deadline_seconds is not None and instance.reply_deadline_seconds < 2
    assert "nWGx" not in repr(instance)


def test_sign_without_a_private_key_is_a_usage_error(clock: FixedClock) -> None:
    provider = TelnyxProvider(settings_of(signing_private_key=None), clock)
    with pytest.raises(UsageError, match="signing_private_key"):
        provider.sign("u", T1_BODY, "finalized", NOW)


# --- parsing -------------------------------------------------------------------------------------


def test_the_t1_finalized_callback_gives_one_delivered_receipt(provider: TelnyxProvider) -> None:
    [event] = provider.parse(provider.verify(callback(T1_BODY, headers_of(T1_SIGNATURE))))
    assert event == DeliveryReceipt(
        provider="telnyx", message_id="40385f64-5717-4562-b3fc-2c963f66afa6", status=Status.DELIVERED,
        status_code="delivered", status_detail=None, to="+18665550001", region="US", from_=None,
        occurred_at=datetime(2019, 12, 9, 21, 32, 14, 148000, tzinfo=UTC), received_at=RECEIVED, segments=None,
        price=None, final=True)
    assert event.raw == orjson.loads(T1_BODY)["data"]
    assert_valid_record(ENVELOPE.to_record(event))


def test_the_api_specs_message_sent_sample_has_a_placeholder_time_and_is_malformed(provider: TelnyxProvider) -> None:
    with pytest.raises(MalformedCallbackError, match=r"data\.occurred_at: must be an ISO 8601 time"):
        parsed(provider, SENT)


def test_the_api_specs_message_sent_sample_with_a_time_gives_an_unknown_status_receipt(
    provider: TelnyxProvider,
) -> None:
    body = SENT.replace(b'"occurred_at": "date-time"', b'"occurred_at": "2019-01-23T18:10:02.574Z"')
    [event] = parsed(provider, body)
    assert isinstance(event, DeliveryReceipt)
    assert (event.message_id, event.status, event.status_code) == (
        "40385f64-5717-4562-b3fc-2c963f66afa6", Status.UNKNOWN, "queued")
    assert (event.to, event.from_, event.segments, event.price) == ("+18665550001", "+18445550001", 1, "0.0051")
    assert event.occurred_at == datetime(2019, 1, 23, 18, 10, 2, 574000, tzinfo=UTC)
    assert_valid_record(ENVELOPE.to_record(event))


def test_the_2019_sdk_inbound_sample_gives_one_inbound_message(provider: TelnyxProvider) -> None:
    [event] = parsed(provider, RECEIVED_2019)
    assert event == InboundMessage(
        provider="telnyx", message_id="1e9ee507-56a5-4d1a-b26b-db3cebcc267b", from_="+15745203340",
        to="+18446087849", text="And again", occurred_at=datetime(2019, 7, 30, 23, 7, 36, 628000, tzinfo=UTC),
        received_at=RECEIVED, segments=1, price=None, region="US")
    assert_valid_record(ENVELOPE.to_record(event))


def finalized(**payload: Any) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(T1_BODY)
    document["data"]["payload"].update(payload)
    return document


def test_errors_cost_and_sender_of_a_failed_message_are_kept(provider: TelnyxProvider) -> None:
    [event] = parsed(provider, finalized(
        to=[{"phone_number": "+18665550001", "status": "delivery_failed"}],
        **{"from": {"phone_number": "+18445550001"}, "cost": {"amount": 1e-05, "currency": "USD"}, "parts": 2,
           "errors": [{"code": "40008", "title": "Undeliverable", "detail": "The message could not be delivered"}]}))
    assert (event.status, event.status_code) == (Status.UNDELIVERED, "delivery_failed")
    assert (event.status_detail, event.price, event.segments, event.from_) == (
        "40008 Undeliverable", "0.00001", 2, "+18445550001")


def test_a_group_message_gives_one_receipt_per_recipient_and_dead_letters_a_bad_one(provider: TelnyxProvider) -> None:
    items = parsed(provider, finalized(to=[
        {"phone_number": "+18665550001", "status": "delivered"}, {"phone_number": "+18665550002", "status": "expired"},
        {"phone_number": "+18665550003"}, "nonsense"]))
    events = [i for i in items if isinstance(i, DeliveryReceipt)]
    assert [(e.message_id.split(":")[1], e.status) for e in events] == [
        ("+18665550001", Status.DELIVERED), ("+18665550002", Status.UNDELIVERED)]
    assert [(b.index, b.error.reason) for b in items if isinstance(b, BadReport)] == [
        (2, "missing_field"), (3, "wrong_shape")]
    assert len({e.id for e in events}) == 2


def test_a_dead_lettered_recipient_keeps_its_message_and_parses_again_as_the_groups(provider: TelnyxProvider) -> None:
    """The issue's case: to[1] without phone_number. Its body is the whole callback with to[] cut to it, marked
    as cut from a group so that, mended, it is keyed <id>:<recipient> as its siblings were."""
    good = {"phone_number": "+18665550002", "status": "delivered"}
    body = finalized(to=[{"phone_number": "+18665550001", "status": "delivered"}, {"status": "delivered"},
                         {**good, "phone_number": "+18665550003"}, {**good, "phone_number": "+18665550004"}])
    items = parsed(provider, body)
    [bad] = [i for i in items if isinstance(i, BadReport)]
    data = body["data"]
    assert bad.index == 1 and bad.report == {"status": "delivered"}
    assert bad.context == {"id": data["id"], "event_type": data["event_type"], "occurred_at": data["occurred_at"],
                           "message_id": data["payload"]["id"]}
    assert bad.body is not None
    alone = orjson.loads(bad.body)
    assert alone["data"]["payload"]["to"] == [{"status": "delivered"}] and alone["data"]["id"] == data["id"]
    alone["data"]["payload"]["to"] = [good]
    [event] = parsed(provider, alone)
    assert isinstance(event, DeliveryReceipt) and event.message_id == f"{data['payload']['id']}:+18665550002"
    single = parsed(provider, finalized(to=[{"status": "delivered"}]))  # one recipient: no group mark
    assert isinstance(single[0], BadReport) and single[0].body is not None
    assert "bridge_group_message" not in orjson.loads(single[0].body)["data"]["payload"]


@pytest.mark.parametrize(("status", "neutral"), [
    ("delivered", Status.DELIVERED), ("delivery_failed", Status.UNDELIVERED), ("sending_failed", Status.UNDELIVERED),
    ("expired", Status.UNDELIVERED), ("cancelled", Status.UNDELIVERED), ("delivery_unconfirmed", Status.UNKNOWN),
    ("scheduled", Status.UNKNOWN), ("queued", Status.UNKNOWN), ("sending", Status.UNKNOWN), ("sent", Status.UNKNOWN),
    ("DELIVERED", Status.DELIVERED), ("webhook_delivered", Status.UNKNOWN), ("", Status.UNKNOWN),
])
def test_every_documented_status_maps_and_is_kept_verbatim(provider: TelnyxProvider, status: str,
                                                           neutral: Status) -> None:
    [event] = parsed(provider, finalized(to=[{"phone_number": "+18665550001", "status": status}]))
    assert (event.status, event.status_code) == (neutral, status)


def test_an_inbound_mms_without_text_has_empty_text(provider: TelnyxProvider) -> None:
    document = orjson.loads(RECEIVED_2019)
    document["data"]["payload"] |= {"text": None, "to": [{"phone_number": "+18446087849", "status": "delivered"}],
                                    "cost": {"amount": "0.0040", "currency": "USD"}}
    [event] = parsed(provider, document)
    assert (event.text, event.to, event.price) == ("", "+18446087849", "0.0040")


@pytest.mark.parametrize(("body", "reason", "message"), [
    ({"data": {"event_type": "call.initiated"}}, "unsupported_callback", "data.event_type: must be"),
    ({"data": {"occurred_at": "2019-12-09T21:32:14Z"}}, "missing_field", "data.event_type: required"),
    ({"data": {"event_type": "message.finalized", "payload": {}}}, "missing_field", "data.occurred_at"),
    ({"data": {"event_type": "message.finalized", "occurred_at": "2019-12-09T21:32:14Z"}}, "wrong_shape",
     "data.payload"),
    ({"data": []}, "wrong_shape", "data object"),
    (b"[]", "wrong_shape", "data object"),
    (b"{", "invalid_json", "JSON"),
    (finalized(to=[]), "wrong_shape", "to: must be a non-empty array"),
    (finalized(to="+18665550001"), "wrong_shape", "to: must be a non-empty array"),
    (finalized(id=""), "invalid_field", "data.payload.id"),
    (finalized(cost={"amount": "free"}), "invalid_field", "cost.amount"),
    (finalized(cost="0.1"), "invalid_field", "cost: must be an object"),
    (finalized(parts="two"), "invalid_field", "parts"),
    (finalized(**{"from": 5}), "invalid_field", "from: must be an object or a string"),
])
def test_callbacks_it_cannot_understand_are_malformed(provider: TelnyxProvider, body: bytes | dict[str, Any],
                                                      reason: str, message: str) -> None:
    with pytest.raises(MalformedCallbackError, match=message) as caught:
        parsed(provider, body)
    assert caught.value.reason == reason


@pytest.mark.parametrize(("change", "message"), [
    ({"from": None}, "data.payload.from: required"), ({"from": {"carrier": "x"}}, "from.phone_number: required"),
    ({"id": None}, "data.payload.id: required"), ({"from": ["x"]}, "from: must be an object or a string"),
])
def test_inbound_messages_without_sender_or_id_are_malformed(provider: TelnyxProvider, change: dict[str, Any],
                                                             message: str) -> None:
    document = orjson.loads(RECEIVED_2019)
    document["data"]["payload"] |= change
    with pytest.raises(MalformedCallbackError, match=message):
        parsed(provider, document)


def test_include_raw_off_leaves_raw_out_and_restore_needs_no_signature(clock: FixedClock) -> None:
    provider = TelnyxProvider(settings_of(include_raw=False), clock)
    [event] = provider.parse(provider.restore(callback(T1_BODY, {})))
    assert isinstance(event, DeliveryReceipt) and recorded_raw(provider.settings, event) is None


# --- replies -----------------------------------------------------------------------------------


def test_replies_are_2xx_when_stored_and_telnyxs_error_shape_otherwise(provider: TelnyxProvider) -> None:
    accepted = provider.accepted(provider.verify(callback(T1_BODY, headers_of(T1_SIGNATURE))))
    assert (accepted.status, accepted.body) == (200, b"")
    for error in (VerificationError("bad_signature", "header x: does not match"),
                  MalformedCallbackError("invalid_json", "body is not valid JSON"),
                  CallbackError("timeout", "not stored; retry later", status=503)):
        reply = provider.rejected(error)
        assert (reply.status, reply.media_type) == (error.status, "application/json")
        assert orjson.loads(reply.body) == {"errors": [{"code": error.reason, "title": str(error)}]}


# --- totality ----------------------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8") | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF,
                                                              categories=["Cs"]), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8"), max_size=40),  # JSON text: no lone surrogates
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["data", "event_type", "occurred_at", "payload", "id", "to", "from", "phone_number",
                         "status", "text", "cost", "amount", "parts", "errors", "code", "title"]), inner, max_size=6),
    max_leaves=14)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_body_and_headers_give_events_or_a_callback_error(data: st.DataObject) -> None:
    provider = TelnyxProvider(settings_of(), FixedClock(NOW))
    body = data.draw(st.sampled_from([T1_BODY, SENT, RECEIVED_2019]) | st.binary(max_size=300)
                     | json_values.map(lambda v: orjson.dumps(v)))
    headers = data.draw(st.dictionaries(st.sampled_from(["telnyx-signature-ed25519", "telnyx-timestamp"]),
                                        texts | st.just(T1_SIGNATURE) | st.just(T1_TIME), max_size=2))
    if data.draw(st.booleans()):
        headers = dict(provider.sign("u", body, "finalized", NOW).headers)
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


def test_every_sample_signed_by_the_dev_instance_is_verified_and_parsed_to_its_type(clock: FixedClock) -> None:
    assert PROVIDERS["telnyx"] is TelnyxProvider
    dev = {k: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", v) for k, v in TelnyxProvider.dev_instance.items()}
    instance = TelnyxSettings.model_validate({"kind": "telnyx", "name": "x", "path": "/callbacks/x", **dev})
    provider = TelnyxProvider(instance, clock)
    guard = Guard(instance, clock, timestamped=provider.signs_time())
    for sample in provider.samples:
        request = provider.sign("https://bridge.example.com/callbacks/x", sample.body(NOW), sample.name, NOW)
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = provider.verify(RawCallback(request.body, headers, None, RECEIVED, None, request.method,
                                               request.url))
        guard.check(verified)  # fresh, and no two samples share a replay key
        events = [e for e in provider.parse(verified) if not isinstance(e, BadReport)]
        assert events and all(e.type is sample.event_type for e in events), sample.name
        for event in events:
            assert_valid_record(ENVELOPE.to_record(event))
