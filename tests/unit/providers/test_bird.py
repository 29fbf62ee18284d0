"""Bird (MessageBird): the SDK's JWT and HMAC vectors, forgeries of every signed part, rotation,
schemes, replay and freshness, parsing of the documented samples, the status tables and replies."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.clock import FixedClock
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.kafka.envelope import Envelope
from bridge.providers.base import Outgoing, Parsed, RawCallback, Verified
from bridge.providers.bird import CHANNELS_STATUS, LEGACY_STATUS, BirdProvider, BirdSettings
from bridge.providers.bird_signature import (
    JWT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    hmac_signature,
    sorted_query,
)
from tests.conftest import fixture_bytes
from tests.helpers import Checked, assert_valid_record, recorded_raw

KEY = "test-bird-signing-key-0123456789abcdef"
OTHER_KEY = "second-bird-signing-key-fedcba9876543210"
URL = "https://bridge.example.com/callbacks/bird/test"
NOW = 1_719_823_259.0

# --- official vectors --------------------------------------------------------------------------------

# messagebird/python-rest-api tests/test_request_validator/webhook_signature_test_data.json (distinct cases)
SDK_SECRET = "36efdd1aace2e26cd490f0d951138253bef2f7c6d34d18981da781555cc4cebb"
SDK_TIME = 1_625_479_200.0  # "2021-07-05T12:00:00+02:00"
SDK_REASONS = {  # the SDK's error -> our reason code
    "invalid jwt: claim nbf is in the future": ("stale_timestamp", "nbf"),
    "invalid jwt: claim exp is in the past": ("stale_timestamp", "exp"),
    "invalid jwt: claim url_hash is invalid": ("bad_signature", "url_hash"),
    "invalid jwt: claim payload_hash is invalid": ("bad_signature", "payload_hash"),
    "invalid jwt: signature is invalid": ("bad_signature", "no configured key"),
    "invalid jwt: claim payload_hash is set but actual payload is missing": ("bad_signature", "payload_hash"),
    "invalid jwt: claim payload_hash is not set but payload is present": ("bad_signature", "payload_hash"),
    "invalid jwt: signing method none is invalid": ("unsupported_algorithm", "alg"),
}
JWT_VECTORS: list[dict[str, Any]] = orjson.loads(fixture_bytes("bird", "jwt_vectors.json"))

# messagebird/python-rest-api tests/test_signed_request.py (the deprecated sorted-query HMAC form)
HMAC_KEY = "PlLrKaqvZNRR5zAjm42ZT6q1SQxgbbGd"
HMAC_TIME = "1547198231"
HMAC_QUERY = tuple(parse_qsl(fixture_bytes("bird", "dr_sdk.query").decode()))
HMAC_WITH_BODY = ('{"foo":"bar"}', "2bl+38H4oHVg03pC3bk2LvCB0IHFgfC4cL5HPQ0LdmI=")
HMAC_WITHOUT_BODY = ("", "KVBdcVdz2lYMwcBLZCRITgxUfA/WkwSi+T3Wxl2HL6w=")

# [COMPUTED] the current URL form, inputs from docs.bird.com's PHP example (key, URL); checked with openssl
URL_FORM_KEY = "secureSigningKey"
URL_FORM_URL = "https://domain.com/webhook/bird"
URL_FORM_BODY = b'{"service":"channels","event":"sms.inbound","payload":{"id":"96a0b5fa-a986-453d-be5c-3117f989f025"}}'
URL_FORM_VECTORS = [(URL_FORM_BODY, "KUl46C2DbT8vFmxjySxChyxZFQI8gz/jF8LtayeSCLY="),
                    (b"", "6e7z54NkySLCPcq0P+tV7TqSKyUmedFi1tQjDddtEMY=")]


def make(now: float = NOW, keys: tuple[str, ...] = (KEY,), **overrides: Any) -> Checked:
    document = {"kind": "bird", "name": "bird-test", "path": "/callbacks/bird/test", "signing_keys": list(keys),
                **overrides}
    clock = FixedClock(now)
    return Checked(BirdProvider(BirdSettings.model_validate(document), clock), clock)


def raw(request: Outgoing, now: float = NOW) -> RawCallback:
    """The callback as the endpoint hands it over (lower-case headers, decoded query)."""
    query = tuple(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    headers = {k.lower(): v for k, v in request.headers.items()}
    return RawCallback(request.body, headers, "203.0.113.5", datetime.fromtimestamp(now, UTC), None,
                       request.method, request.url, query)


def signed(checked: Checked, sample: str, now: float = NOW, url: str = URL) -> Outgoing:
    provider = checked.provider
    body = next(s for s in provider.samples if s.name == sample).body(now)
    out: Outgoing = provider.sign(url, body, sample, now)
    return out


def types(items: Parsed) -> list[EventType]:
    return [item.type for item in items if isinstance(item, DeliveryReceipt | InboundMessage)]


def jwt_callback(token: str, url: str, body: bytes) -> RawCallback:
    return RawCallback(body, {JWT_HEADER: token}, None, datetime.fromtimestamp(SDK_TIME, UTC), None, "GET", url,
                       tuple(parse_qsl(urlsplit(url).query)))


@pytest.mark.parametrize("case", JWT_VECTORS, ids=[c["name"] for c in JWT_VECTORS])
def test_bird_jwt_follows_every_official_sdk_vector(case: dict[str, Any]) -> None:
    checked = make(SDK_TIME, (SDK_SECRET,))
    callback = jwt_callback(case["token"], case["url"], case["payload"].encode("utf-8"))
    if case["valid"]:
        verified = checked.verify(callback)
        claims = jwt.decode(case["token"], options={"verify_signature": False})
        assert verified.signed_at == claims["nbf"] and verified.replay_key == f"jwt:{claims['jti']}"
        return
    reason, words = SDK_REASONS[case["reason"]]
    with pytest.raises(VerificationError, match=words) as caught:
        checked.verify(callback)
    assert caught.value.reason == reason


def test_bird_jwt_leeway_is_one_second_either_side_as_in_the_sdk() -> None:
    token = JWT_VECTORS[0]["token"]  # nbf = SDK_TIME, exp = SDK_TIME + 60
    for now, ok in ((SDK_TIME - 1, True), (SDK_TIME - 1.5, False), (SDK_TIME + 60.9, True), (SDK_TIME + 61, False)):
        provider = make(now, (SDK_SECRET,)).provider
        if ok:
            assert provider.verify(jwt_callback(token, "https://example.com/", b"")).signed_at == SDK_TIME
        else:
            with pytest.raises(VerificationError, match=r"nbf|exp"):
                provider.verify(jwt_callback(token, "https://example.com/", b""))


@pytest.mark.parametrize(("body", "signature"), [HMAC_WITH_BODY, HMAC_WITHOUT_BODY])
def test_bird_deprecated_hmac_form_follows_the_official_sdk_vectors(body: str, signature: str) -> None:
    assert sorted_query(HMAC_QUERY) == b"id=eef0ab57a9e049be946f3821568c2b2e&mccmnc=20408&ported=1&recipient=" \
        b"31612345678&reference=FOO&status=delivered&statusDatetime=2019-01-11T09%3A17%3A11%2B00%3A00"
    mac = hmac_signature(HMAC_KEY.encode(), HMAC_TIME.encode(), sorted_query(HMAC_QUERY), body.encode())
    assert base64.b64encode(mac).decode() == signature
    callback = RawCallback(body.encode(), {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: HMAC_TIME}, None,
                           datetime.fromtimestamp(float(HMAC_TIME), UTC), None, "GET",
                           "https://anything.example/path?" + fixture_bytes("bird", "dr_sdk.query").decode(),
                           HMAC_QUERY)
    verified = make(float(HMAC_TIME), (HMAC_KEY,), schemes=["hmac_query"]).verify(callback)
    assert verified.signed_at == float(HMAC_TIME)
    with pytest.raises(VerificationError, match="does not match"):  # the current form signs the URL instead
        make(float(HMAC_TIME), (HMAC_KEY,)).verify(callback)
    tampered = tuple((k, "BAR" if k == "reference" else v) for k, v in HMAC_QUERY)  # the SDK's negative case
    with pytest.raises(VerificationError, match="does not match"):
        make(float(HMAC_TIME), (HMAC_KEY,), schemes=["hmac_query"]).verify(
            RawCallback(callback.body, callback.headers, None, callback.received_at, None, "GET", "", tampered))


@pytest.mark.parametrize(("body", "signature"), URL_FORM_VECTORS)
def test_bird_hmac_signs_timestamp_url_and_the_raw_body_digest_joined_by_newlines(body: bytes, signature: str) -> None:
    independent = hmac.new(URL_FORM_KEY.encode(), b"1719823259\n" + URL_FORM_URL.encode() + b"\n"
                           + hashlib.sha256(body).digest(), hashlib.sha256).digest()
    assert base64.b64encode(independent).decode() == signature
    callback = RawCallback(body, {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: "1719823259"}, None,
                           datetime.fromtimestamp(NOW, UTC), None, "POST", URL_FORM_URL)
    verified = make(NOW, (URL_FORM_KEY,)).verify(callback)
    assert verified.signed_at == 1719823259.0
    assert verified.replay_key == "hmac:" + base64.b64decode(signature).hex()


# --- forgeries ---------------------------------------------------------------------------------------


def with_url(request: Outgoing, url: str) -> Outgoing:
    return Outgoing(request.method, url, request.headers, request.body)


def with_headers(request: Outgoing, **changes: str | None) -> Outgoing:
    headers = {k: v for k, v in request.headers.items() if k not in changes}
    headers.update({k: v for k, v in changes.items() if v is not None})
    return Outgoing(request.method, request.url, headers, request.body)


def test_bird_legacy_report_signed_by_jwt_is_accepted_and_every_signed_part_is_guarded() -> None:
    checked = make()
    genuine = signed(checked, "dr")
    assert genuine.method == "GET" and genuine.body == b"" and "status=delivered" in genuine.url
    assert checked.verify(raw(genuine)).signed_at == NOW
    forgeries = {
        "query": with_url(genuine, genuine.url.replace("status=delivered", "status=delivery_failed")),
        "host": with_url(genuine, genuine.url.replace("bridge.example.com", "evil.example.com")),
        "scheme": with_url(genuine, genuine.url.replace("https://", "http://")),
        "path": with_url(genuine, genuine.url.replace("/test?", "/other?")),
        "body": Outgoing("POST", genuine.url, genuine.headers, b'{"status":"delivered"}'),
    }
    for part, forged in forgeries.items():
        with pytest.raises(VerificationError, match=r"url_hash|payload_hash") as caught:
            make().verify(raw(forged))
        assert caught.value.reason == "bad_signature", part
    with pytest.raises(VerificationError, match="no configured key"):
        make(keys=(OTHER_KEY,)).verify(raw(genuine))


def forged_token(key: str, **claims: Any) -> str:
    base = {"iss": "MessageBird", "nbf": int(NOW), "exp": int(NOW) + 60, "jti": "j-1",
            "url_hash": hashlib.sha256(URL.encode()).hexdigest()}
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, key, algorithm="HS256")


@pytest.mark.parametrize(("claims", "reason", "words"), [
    ({"iss": "Mallory"}, "bad_signature", "iss"),
    ({"iss": None}, "bad_signature", "iss: required"),
    ({"nbf": None}, "bad_signature", "nbf: required"),
    ({"exp": None}, "bad_signature", "exp: required"),
    ({"url_hash": None}, "bad_signature", "url_hash: required"),
    ({"url_hash": 7}, "bad_signature", "url_hash"),
    ({"nbf": "soon"}, "bad_signature", "nbf: must be a number"),
    ({"nbf": int(NOW) + 5, "exp": int(NOW) + 65}, "stale_timestamp", "nbf"),
    ({"nbf": int(NOW) - 70, "exp": int(NOW) - 10}, "stale_timestamp", "exp"),
    ({"payload_hash": hashlib.sha256(b"x").hexdigest()}, "bad_signature", "payload_hash"),
])
def test_bird_jwt_claims_are_each_enforced(claims: dict[str, Any], reason: str, words: str) -> None:
    callback = RawCallback(b"", {JWT_HEADER: forged_token(KEY, **claims)}, None, datetime.fromtimestamp(NOW, UTC),
                           None, "GET", URL)
    with pytest.raises(VerificationError, match=words) as caught:
        make().verify(callback)
    assert caught.value.reason == reason


def test_bird_jwt_signed_time_is_iat_when_present_and_the_replay_key_falls_back_to_the_signature() -> None:
    token = forged_token(KEY, iat=int(NOW) - 3, jti=None)
    verified = make().verify(RawCallback(b"", {JWT_HEADER: token}, None, datetime.fromtimestamp(NOW, UTC), None,
                                         "GET", URL))
    assert verified.signed_at == NOW - 3 and verified.replay_key == "jwt:" + token.rsplit(".", 1)[1]


@pytest.mark.parametrize("sample", ["outbound", "inbound"])
def test_bird_channels_webhook_signed_by_hmac_is_accepted_and_every_signed_part_is_guarded(sample: str) -> None:
    genuine = signed(make(), sample)
    assert set(genuine.headers) == {"content-type", SIGNATURE_HEADER, TIMESTAMP_HEADER}
    assert make().verify(raw(genuine)).signed_at == NOW
    stamp = genuine.headers[TIMESTAMP_HEADER]
    forgeries = {
        "body": Outgoing("POST", genuine.url, genuine.headers, genuine.body.replace(b"delivered", b"delivery_failed")),
        "url": with_url(genuine, genuine.url + "/x"),
        "query": with_url(genuine, genuine.url + "?token=1"),
        "timestamp": with_headers(genuine, **{TIMESTAMP_HEADER: str(int(stamp) + 1)}),
        "signature": with_headers(genuine, **{SIGNATURE_HEADER: base64.b64encode(b"\0" * 32).decode()}),
        "truncated signature": with_headers(genuine, **{SIGNATURE_HEADER: genuine.headers[SIGNATURE_HEADER][:20]}),
        "not base64": with_headers(genuine, **{SIGNATURE_HEADER: "not base64 at all!"}),
    }
    for part, forged in forgeries.items():
        with pytest.raises(VerificationError, match="MessageBird-Signature") as caught:
            make().verify(raw(forged))
        assert caught.value.reason == "bad_signature", part
    with pytest.raises(VerificationError, match="does not match"):
        make(keys=(OTHER_KEY,)).verify(raw(genuine))
    for missing in (SIGNATURE_HEADER, TIMESTAMP_HEADER):
        with pytest.raises(VerificationError, match="required") as caught:
            make().verify(raw(with_headers(genuine, **{missing: None})))
        assert caught.value.reason == "missing_credentials"


def test_bird_hmac_timestamp_must_be_unix_seconds_even_when_signed() -> None:
    body = b'{"direction":"incoming"}'
    mac = hmac_signature(KEY.encode(), b"2024-07-01T08:00:59Z", URL.encode(), body)
    callback = RawCallback(body, {SIGNATURE_HEADER: base64.b64encode(mac).decode(),
                                  TIMESTAMP_HEADER: "2024-07-01T08:00:59Z"}, None,
                           datetime.fromtimestamp(NOW, UTC), None, "POST", URL)
    with pytest.raises(VerificationError, match="UNIX seconds") as caught:
        make().verify(callback)
    assert caught.value.reason == "stale_timestamp"


def test_bird_signed_time_outside_the_window_and_a_replay_are_refused() -> None:
    checked = make()
    window = checked.settings.timestamp_tolerance_seconds
    assert window == 9 * 3600  # Bird retries for 8 h with the first signed time
    request = signed(checked, "inbound", NOW - window - 1)
    with pytest.raises(VerificationError, match="window") as caught:
        checked.verify(raw(request))
    assert caught.value.reason == "stale_timestamp"
    late_retry = signed(checked, "inbound", NOW - 8 * 3600)
    assert checked.verify(raw(late_retry)).signed_at == NOW - 8 * 3600
    with pytest.raises(VerificationError, match="replay") as replayed:
        checked.verify(raw(late_retry))
    assert replayed.value.status == 403
    legacy = signed(checked, "dr")
    checked.verify(raw(legacy))
    with pytest.raises(VerificationError, match="replay"):
        checked.verify(raw(legacy))


def test_bird_accepts_any_key_of_the_rotation_for_both_schemes() -> None:
    old = make(keys=(OTHER_KEY,))
    both = make(keys=(KEY, OTHER_KEY))
    for sample in ("dr", "inbound"):
        assert isinstance(both.provider.verify(raw(signed(old, sample))), Verified)


def test_bird_tries_each_enabled_scheme_and_ignores_disabled_ones() -> None:
    hmac_signed = signed(make(), "inbound")
    bad_jwt = with_headers(hmac_signed, **{JWT_HEADER: forged_token(OTHER_KEY)})
    assert make().verify(raw(bad_jwt)).replay_key.startswith("hmac:")
    with pytest.raises(VerificationError, match="no configured key"):  # the first scheme's error is reported
        make(schemes=["jwt"]).verify(raw(bad_jwt))
    with pytest.raises(VerificationError, match="required") as caught:
        make(schemes=["jwt"]).verify(raw(hmac_signed))
    assert caught.value.reason == "missing_credentials"
    jwt_signed = signed(make(), "dr")
    with pytest.raises(VerificationError, match="required"):
        make(schemes=["hmac"]).verify(raw(jwt_signed))


@pytest.mark.parametrize("schemes", [["jwt"], ["hmac"], ["hmac_query"], ["jwt", "hmac", "hmac_query"]])
def test_bird_signs_every_sample_with_an_enabled_scheme_that_it_then_accepts(schemes: list[str]) -> None:
    checked = make(schemes=schemes)
    for sample in checked.provider.samples:
        verified = make(schemes=schemes).verify(raw(signed(checked, sample.name)))
        assert types(checked.parse(verified)) == [sample.event_type]


# --- parsing -----------------------------------------------------------------------------------------


def verified_query(query: bytes) -> Verified:
    return Verified(RawCallback(b"", {}, None, datetime.fromtimestamp(NOW, UTC), None, "GET",
                                URL + "?" + query.decode(), tuple(parse_qsl(query.decode()))))


def verified_body(body: bytes) -> Verified:
    return Verified(RawCallback(body, {}, None, datetime.fromtimestamp(NOW, UTC), None, "POST", URL))


def test_bird_parses_the_support_articles_legacy_status_report() -> None:
    [event] = make().parse(verified_query(fixture_bytes("bird", "dr.query")))
    assert isinstance(event, DeliveryReceipt)
    assert (event.message_id, event.status, event.status_code, event.to, event.region, event.from_) == (
        "e8077d803532c0b5937c639b60216938", Status.DELIVERED, "delivered", "+31612345678", "NL", None)
    assert event.occurred_at == datetime(2016, 5, 3, 8, 58, 10, tzinfo=UTC)
    assert event.raw is not None and event.raw["reference"] == "YouReference123"


def test_bird_parses_the_sdk_tests_legacy_status_report_with_mccmnc_and_ported() -> None:
    provider = make(include_raw=False)
    [event] = provider.parse(verified_query(fixture_bytes("bird", "dr_sdk.query")))
    assert isinstance(event, DeliveryReceipt) and recorded_raw(provider.settings, event) is None
    assert (event.message_id, event.to, event.occurred_at) == (
        "eef0ab57a9e049be946f3821568c2b2e", "+31612345678", datetime(2019, 1, 11, 9, 17, 11, tzinfo=UTC))


@pytest.mark.parametrize("enveloped", [True, False])
def test_bird_parses_the_documented_inbound_sms_with_or_without_the_webhook_envelope(enveloped: bool) -> None:
    message = orjson.loads(fixture_bytes("bird", "inbound_message.json"))
    body = orjson.dumps({"service": "channels", "event": "sms.inbound", "payload": message} if enveloped else message)
    [event] = make().parse(verified_body(body))
    assert isinstance(event, InboundMessage)
    assert (event.message_id, event.from_, event.region, event.to, event.text, event.status_code) == (
        "96a0b5fa-a986-453d-be5c-3117f989f025", "+31612345678", "NL", None, "Sample incoming text message",
        "delivered")
    assert event.occurred_at == datetime(2022, 12, 22, 8, 32, 50, 736000, tzinfo=UTC)
    assert_valid_record(Envelope("/sms/bird/test", {t: t.value for t in EventType}).to_record(event))


def test_bird_parses_an_sms_outbound_status_with_its_reason() -> None:
    [event] = make().parse(verified_body(fixture_bytes("bird", "outbound_constructed.json")))
    assert isinstance(event, DeliveryReceipt)
    assert (event.message_id, event.status, event.status_code, event.status_detail, event.to, event.region) == (
        "0a7f1c9e-5b7c-4f39-9d2b-3c1e4a5b6c7d", Status.UNDELIVERED, "delivery_failed", "Unknown subscriber",
        "+31612345678", "NL")
    assert event.occurred_at == datetime(2022, 12, 22, 8, 33, 5, 120000, tzinfo=UTC)
    assert_valid_record(Envelope("/sms/bird/test", {t: t.value for t in EventType}).to_record(event))


LEGACY_TABLE = [("scheduled", Status.UNKNOWN), ("sent", Status.UNKNOWN), ("buffered", Status.UNKNOWN),
                ("delivered", Status.DELIVERED), ("expired", Status.UNDELIVERED),
                ("delivery_failed", Status.UNDELIVERED), ("DELIVERED", Status.DELIVERED), ("new_one", Status.UNKNOWN)]
CHANNELS_TABLE = [("accepted", Status.UNKNOWN), ("processing", Status.UNKNOWN), ("sent", Status.UNKNOWN),
                  ("delivered", Status.DELIVERED), ("sending_failed", Status.UNDELIVERED),
                  ("delivery_failed", Status.UNDELIVERED), ("new_one", Status.UNKNOWN)]


def test_bird_status_tables_cover_every_documented_status() -> None:
    assert {code for code, _ in LEGACY_TABLE if code.islower() and code != "new_one"} == set(LEGACY_STATUS)
    assert {code for code, _ in CHANNELS_TABLE if code != "new_one"} == set(CHANNELS_STATUS)


@pytest.mark.parametrize(("code", "status"), LEGACY_TABLE)
def test_bird_maps_each_legacy_status_and_keeps_the_code_verbatim(code: str, status: Status) -> None:
    query = fixture_bytes("bird", "dr.query").replace(b"status=delivered", b"status=" + code.encode())
    [event] = make().parse(verified_query(query))
    assert isinstance(event, DeliveryReceipt) and (event.status, event.status_code) == (status, code)


@pytest.mark.parametrize(("code", "status"), CHANNELS_TABLE)
def test_bird_maps_each_channels_status_and_keeps_the_code_verbatim(code: str, status: Status) -> None:
    body = fixture_bytes("bird", "outbound_constructed.json").replace(b'"delivery_failed"', f'"{code}"'.encode())
    [event] = make().parse(verified_body(body))
    assert isinstance(event, DeliveryReceipt) and (event.status, event.status_code) == (status, code)


@pytest.mark.parametrize(("body", "reason", "words"), [
    (b"[1]", "wrong_shape", "JSON object"),
    (b"{nope", "invalid_json", "JSON"),
    (b'{"event":"whatsapp.inbound","payload":{"direction":"sideways"}}', "unsupported_callback", "direction"),
    (b'{"payload":"x"}', "wrong_shape", "payload"),
    (b'{"direction":"incoming","id":"m1","sender":{"contact":{"identifierValue":"+31612345678"}},'
     b'"body":{"type":"image"},"createdAt":"2022-12-22T08:32:50Z"}', "unsupported_callback", "body.type"),
    (b'{"direction":"incoming","id":"m1","body":{"type":"text","text":{"text":"hi"}}}', "missing_field", "sender"),
    (b'{"direction":"outgoing","id":"m1","status":"sent","receiver":{"contacts":[]},'
     b'"lastStatusAt":"2022-12-22T08:32:50Z"}', "missing_field", "receiver.contacts"),
    (b'{"direction":"outgoing","id":"m1","status":"sent","receiver":{"contacts":[{"identifierValue":"+31612345678"}]},'
     b'"lastStatusAt":"yesterday"}', "invalid_field", "lastStatusAt"),
])
def test_bird_refuses_channels_callbacks_it_cannot_understand(body: bytes, reason: str, words: str) -> None:
    with pytest.raises(MalformedCallbackError, match=words) as caught:
        make().parse(verified_body(body))
    assert caught.value.reason == reason


@pytest.mark.parametrize(("query", "words"), [
    (b"", "status: required"),
    (b"id=1&status=delivered&recipient=31612345678", "statusDatetime: required"),
    (b"id=1&status=delivered&recipient=31612345678&statusDatetime=03-05-2016", "statusDatetime"),
    (b"id=&status=delivered&recipient=31612345678&statusDatetime=2016-05-03T08:58:10Z", "id"),
])
def test_bird_refuses_legacy_status_reports_it_cannot_understand(query: bytes, words: str) -> None:
    with pytest.raises(MalformedCallbackError, match=words):
        make().parse(verified_query(query))


def test_bird_restores_a_dead_letter_without_its_signature_headers() -> None:
    checked = make()
    callback = raw(signed(checked, "outbound"))
    restored = checked.provider.restore(RawCallback(callback.body, {}, None, callback.received_at))
    assert types(checked.parse(restored)) == [EventType.DELIVERY_RECEIPT]


# --- replies -----------------------------------------------------------------------------------------


def test_bird_replies_200_on_acceptance_and_the_errors_status_with_its_reason_and_no_secret() -> None:
    checked = make()
    accepted = checked.accepted(checked.verify(raw(signed(checked, "inbound"))))
    assert (accepted.status, orjson.loads(accepted.body)) == (200, {"status": "accepted"})
    for error in (VerificationError("bad_signature", "header MessageBird-Signature: does not match"),
                  MalformedCallbackError("invalid_json", "body is not valid JSON"),
                  CallbackError("timeout", "not stored; retry later", status=503)):
        reply = checked.rejected(error)
        assert reply.status == error.status and reply.headers["X-Bridge-Reason"] == error.reason
        assert orjson.loads(reply.body) == {"status": "rejected", "reason": error.reason, "message": str(error)}
        assert KEY.encode() not in reply.body


def test_bird_settings_mask_the_signing_keys_and_require_at_least_one() -> None:
    settings_ = make().settings
    assert KEY not in repr(settings_) and KEY not in str(settings_.model_dump())
    with pytest.raises(ValueError, match="signing_keys"):
        BirdSettings.model_validate({"kind": "bird", "name": "b", "path": "/b", "signing_keys": []})
    with pytest.raises(ValueError, match="schemes"):
        BirdSettings.model_validate({"kind": "bird", "name": "b", "path": "/b", "signing_keys": [KEY],
                                     "schemes": ["md5"]})


def test_bird_dev_instance_samples_are_signed_verified_and_parsed_end_to_end() -> None:
    resolved = {k: ([v.split(":-", 1)[1].rstrip("}") for v in val] if isinstance(val, list) else val)
                for k, val in BirdProvider.dev_instance.items()}
    provider = BirdProvider(BirdSettings.model_validate(
        {"kind": "bird", "name": "x", "path": "/callbacks/x", **resolved}), FixedClock(NOW))
    envelope = Envelope(provider.settings.cloudevents_source, {t: t.value for t in EventType})
    for sample in provider.samples:
        request = provider.sign("http://127.0.0.1:8080/callbacks/x", sample.body(NOW), sample.name, NOW)
        events = provider.parse(provider.verify(raw(request)))
        assert types(events) == [sample.event_type], sample.name
        for event in events:
            assert isinstance(event, DeliveryReceipt | InboundMessage)
            assert_valid_record(envelope.to_record(event))


# --- totality ----------------------------------------------------------------------------------------

any_text = st.text(st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"]),
                   max_size=40)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_bird_verify_and_parse_raise_only_callback_errors_for_any_input(data: st.DataObject) -> None:
    checked = make(schemes=["jwt", "hmac", "hmac_query"])
    genuine = raw(signed(checked, data.draw(st.sampled_from(["dr", "outbound", "inbound"]))))
    names = [JWT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, "content-type"]
    headers = data.draw(st.fixed_dictionaries({}, optional={
        n: st.sampled_from([genuine.headers.get(n, ""), ""]) | any_text for n in names}))
    body = data.draw(st.just(genuine.body) | st.binary(max_size=200) | st.sampled_from(
        [b"{}", b'{"payload":{}}', b'{"direction":"incoming"}', b'{"direction":"outgoing","receiver":{}}']))
    query = data.draw(st.just(genuine.query) | st.lists(st.tuples(any_text, any_text), max_size=6).map(tuple))
    callback = RawCallback(body, headers, None, genuine.received_at, None, genuine.method,
                           data.draw(st.just(genuine.url) | any_text), query)
    try:
        verified = checked.provider.verify(callback)
    except VerificationError as error:
        assert error.status in (401, 403)
        verified = checked.provider.restore(callback)  # parse must be total on unverified content as well
    try:
        items = checked.parse(verified)
    except MalformedCallbackError as error:
        assert error.status == 400
        return
    assert all(isinstance(e, DeliveryReceipt | InboundMessage) for e in items)
