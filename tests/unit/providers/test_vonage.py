"""Vonage: the SDKs' `sig` and JWT vectors, forgeries of every signed part, both APIs' payloads, replies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from bridge.clock import FixedClock
from bridge.config import parse as parse_config
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, InboundMessage, Status
from bridge.http.app import create_app
from bridge.http.lifecycle import Lifecycle
from bridge.providers.base import FORM, JSON, RawCallback
from bridge.providers.vonage import UnsignedMessagesError, VonageProvider, VonageSettings, VonageVerified
from bridge.providers.vonage_events import ERR_CODES, MESSAGES_STATUS, SMS_STATUS
from bridge.providers.vonage_signature import (
    canonical,
    encode_jwt,
    jwt_claims,
    payload_hash,
    sign_params,
    sms_signature_matches,
)
from tests.conftest import SEED_EPOCH, fixture_bytes
from tests.fakes import FakePublisher
from tests.helpers import SEED_TIME, Checked, assert_valid_record, recorded_raw

KEY, SECRET = "a1b2c3d", "test-vonage-signature-secret"
OTHER_KEY, OTHER_SECRET = "e5f6g7h", "other-vonage-secret"
TOKEN = "test-vonage-url-token-0123456789"
URL = "https://bridge.example/callbacks/vonage/test"
NOW = SEED_EPOCH

# --- official vectors ----------------------------------------------------------------------------

# (params, secret, method, sig, source)
SIG_VECTORS = [
    # Vonage/vonage-python-sdk tests/test_signature.py (v2 SDK; signature_method None = "MD5 hash")
    ({"a": "1", "b": "2", "timestamp": "1461605396"}, "secret", "md5hash", "6af838ef94998832dbfc29020b564830"),
    ({"a": "1", "b": "2", "timestamp": "1461605396"}, "secret", "md5", "c15c21ced558c93a226c305f58f902f2"),
    ({"a": "1", "b": "2", "timestamp": "1461605396"}, "secret", "sha1", "3e19a4e6880fdc2c1426bfd0587c98b9532f0210"),
    ({"a": "1", "b": "2", "timestamp": "1461605396"}, "secret", "sha256",
     "a321e824b9b816be7c3f28859a31749a098713d39f613c80d455bbaffae1cd24"),
    ({"a": "1", "b": "2", "timestamp": "1461605396"}, "secret", "sha512",
     "812a18f76680fa0fe1b8bd9ee1625466ceb1bd96242e4d050d2cfd9a7b40166c63ed26ec9702168781b6edcf1633db8ff95af9341701"
     "004eec3fcf9550572ee8"),
    # Vonage/vonage-python-sdk http_client/tests/test_auth.py (v3 SDK; its default is HMAC-MD5)
    ({"param1": "value1", "param2": "value2", "timestamp": "1234567890"}, "signature_secret", "sha256",
     "280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287"),
    ({"param1": "value1", "param2": "value2", "timestamp": "1234567890"}, "signature_secret", "md5",
     "724c2bf6ca423c36e20631b11d1c5753"),
    ({"param1": "value&1", "param2": "value=2", "timestamp": "1234567890"}, "signature_secret", "md5",
     "2bbf0abafb2c55e5af6231513896a2ac"),
    ({"param1": "value1", "param2": "value2", "timestamp": "12345"}, "signature_secret", "md5",
     "bc7e95bb4e341090b3a202a2885903a5"),
    ({"param": "value", "timestamp": "1234567890"}, "signature_secret", "md5", "655a4d0b7f064dff438defc52b012cf5"),
    # providers.md §4 [COMPUTED]: the dashboard's "MD5 hash" over the v3 SDK's parameters
    ({"param1": "value1", "param2": "value2", "timestamp": "1234567890"}, "signature_secret", "md5hash",
     "d72f75ac8cda9bbce891c4fa62bee6cd"),
    # Vonage/vonage-java-sdk src/test/java/com/vonage/client/auth/RequestSigningTest.java
    ({"a": "alphabet", "b": "bananas", "timestamp": "2100"}, "abcde", "md5hash", "7d43241108912b32cc315b48ce681acf"),
    ({"a": "alphabet", "b": "bananas", "timestamp": "2100"}, "abcde", "sha256",
     "8d1b0428276b6a070578225914c3502cc0687a454dfbbbb370c76a14234cb546"),
]

# providers-2.md §9: V1 (vonage-python-sdk jwt/tests/test_verify_jwt.py), V2 (vonage-java-sdk MessagesClientTest)
V1_TOKEN = ("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJPbmxpbmUgSldUIEJ1aWxkZXIiLCJpYXQiOjE2OTc2MzQ2ODAsImV4cCI6"
            "MzMyNTQ1NDA4MjgsImF1ZCI6IiIsInN1YiI6IiJ9.88vJc3I2HhuqEDixHXVhc9R30tA6U_HQHZTC29y6CGM")
V1_SECRET = "qwertyuiopasdfghjklzxcvbnm123456"
V2_TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJTaW5hIiwibmFtZSI6IkphdmFfU0RLIiwiaWF0IjoxNjk4NjgwMzkyfQ"
            ".4qJpi46NSYURiLI1xoLIfGRygA8IUI2QSG9P2Kus1Oo")
V2_SECRET = "XsA09z2MhUxYcdbXaUX3aTT7TzGmnCLfkdILf0NIyC9hN9criTEUdlI3OZ5hRjR"
V2_BAD_SIGNATURE = "XsaXHXqxe2kfIbPy-JH2J6hfbHnEv8jdWsOhEuvzU98"
# V3 [COMPUTED]: the documented claims with payload_hash of messages-status-v3.json, secret `signature_secret`
V3_TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1ODc0OTQ5NjIsImp0aSI6ImM1YmE4ZjI0LTFhMTQtNGMxMC1iZmRmLTNm"
            "YmU4Y2U1MTFiNSIsImlzcyI6IlZvbmFnZSIsInBheWxvYWRfaGFzaCI6IjMyYTIwOTQxYzRlOTJlNzNiMmU5ZDUzYTU4NjFlODRiNjU4N2Ux"
            "NWRkOWYzZTA5N2E0MDFlNzc0MTVlZDg4YWMiLCJhcGlfa2V5IjoiYTFiMmMzZCIsImFwcGxpY2F0aW9uX2lkIjoiYWFhYWFhYWEtYmJiYi"
            "1jY2NjLWRkZGQtMDEyMzQ1Njc4OWFiIn0.Aza7OHj5MsvJfYXC7ikL0Sn819DGp-LvDGdfBxNMNqM")
V3_IAT = 1587494962


# --- builders ------------------------------------------------------------------------------------


def vonage_settings(**overrides: Any) -> VonageSettings:
    document: dict[str, Any] = {
        "kind": "vonage", "name": "vonage-test", "path": "/callbacks/vonage/test",
        "api_keys": [{"api_key": KEY, "signature_secret": SECRET, "signature_method": "sha256"},
                     {"api_key": OTHER_KEY, "signature_secret": OTHER_SECRET}],
    }
    return VonageSettings.model_validate({**document, **overrides})


def checked(clock: FixedClock, **overrides: Any) -> Checked:
    return Checked(VonageProvider(vonage_settings(**overrides), clock), clock)


@pytest.fixture
def provider(clock: FixedClock) -> Checked:
    return checked(clock)


def signed(params: dict[str, str], *, key: str | None = KEY, secret: str = SECRET, method: Any = "sha256",
           ts: float = NOW) -> dict[str, str]:
    out = {**params, "timestamp": str(int(ts))}
    if key is not None:
        out["api-key"] = key
    return {**out, "sig": sign_params(out, secret, method)}


def sms_get(params: dict[str, str], token: str | None = None) -> RawCallback:
    return RawCallback(b"", {}, "203.0.113.7", SEED_TIME, token, "GET", f"{URL}?{urlencode(params)}",
                       tuple(params.items()), ())


def sms_form(params: dict[str, str], token: str | None = None) -> RawCallback:
    body = urlencode(params).encode()
    return RawCallback(body, {"content-type": FORM}, "203.0.113.7", SEED_TIME, token, "POST", URL, (),
                       tuple(parse_qsl(body.decode(), keep_blank_values=True)))


def sms_json(params: dict[str, Any], token: str | None = None) -> RawCallback:
    return RawCallback(orjson.dumps(params), {"content-type": JSON}, "203.0.113.7", SEED_TIME, token, "POST", URL)


def claims_for(body: bytes, **changes: Any) -> dict[str, Any]:
    claims = {"iat": int(NOW), "jti": "c5ba8f24-1a14-4c10-bfdf-3fbe8ce511b5", "iss": "Vonage",
              "payload_hash": payload_hash(body), "api_key": KEY,
              "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"}
    return {k: v for k, v in {**claims, **changes}.items() if v is not ...}


def messages(body: bytes, *, token: str | None = None, secret: str = SECRET, **changes: Any) -> RawCallback:
    jwt = token if token is not None else encode_jwt(claims_for(body, **changes), secret)
    return RawCallback(body, {"content-type": JSON, "authorization": f"Bearer {jwt}"}, "203.0.113.7", SEED_TIME)


DR = orjson.loads(fixture_bytes("vonage", "sms-dr.json"))
INBOUND = {k: v for k, v in orjson.loads(fixture_bytes("vonage", "sms-inbound.json")).items()
           if k not in ("timestamp", "nonce", "api-key")}
STATUS_BODY = fixture_bytes("vonage", "messages-status.json")
V3_BODY = fixture_bytes("vonage", "messages-status-v3.json")
MO_BODY = fixture_bytes("vonage", "messages-inbound.json")


def events_of(provider: Checked, callback: RawCallback) -> list[Any]:
    return list(provider.parse(provider.verify(callback)))


# --- the SMS API `sig` ---------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "secret", "method", "sig"), SIG_VECTORS)
def test_sig_official_vectors_are_reproduced_and_accepted(params: dict[str, str], secret: str, method: Any,
                                                         sig: str) -> None:
    assert sign_params(params, secret, method) == sig
    assert sms_signature_matches({**params, "sig": sig.upper()}, sig.upper(), secret, method)
    assert not sms_signature_matches(params, sig, secret + "x", method)


def test_sig_canonical_string_is_sorted_with_ampersand_and_equals_replaced_in_values() -> None:
    params = {"b": "x&y=z", "a": "1", "sig": "ignored", "timestamp": "2"}
    assert canonical(params) == b"&a=1&b=x_y_z&timestamp=2"


def test_java_sdk_form_without_blank_values_is_accepted_as_the_java_sdk_signs_it() -> None:
    # RequestSigningTest.testVerifyRequestSignatureHandlesNullParams: b is left out of the signed string
    params = {"a": "alphabet", "b": "", "timestamp": "2100"}
    assert sms_signature_matches(params, "a3368bf718ba104dcb392d8877e8eb2b", "abcde", "md5hash")
    assert not sms_signature_matches({**params, "b": "x"}, "a3368bf718ba104dcb392d8877e8eb2b", "abcde", "md5hash")


def test_blank_parameters_a_forger_may_add_under_the_java_form_change_nothing(provider: Checked) -> None:
    params = {**signed(INBOUND), "status": " ", "err-code": ""}
    [event] = events_of(provider, sms_form(params))
    assert isinstance(event, InboundMessage) and event.raw is not None and "status" not in event.raw


@pytest.mark.parametrize("build", [sms_get, sms_form, sms_json])
def test_signed_receipt_verifies_by_get_form_and_json_with_its_timestamp_and_sig(provider: Checked,
                                                                                 build: Any) -> None:
    params = signed(DR)
    verified = provider.verify(build(params))
    assert isinstance(verified, VonageVerified) and verified.api == "sms"
    assert verified.signed_at == int(NOW)
    assert verified.replay_key == f"sig:{params['sig']}"


def test_the_dashboard_method_of_the_named_api_key_is_used(provider: Checked) -> None:
    provider.verify(sms_get(signed(DR, key=OTHER_KEY, secret=OTHER_SECRET, method="md5hash")))
    with pytest.raises(VerificationError, match="sig"):
        provider.verify(sms_get(signed(DR, key=OTHER_KEY, secret=OTHER_SECRET, method="sha256")))


def test_a_callback_that_names_no_api_key_is_tried_with_every_secret(provider: Checked) -> None:
    assert provider.verify(sms_form(signed(DR, key=None, secret=OTHER_SECRET, method="md5hash"))).api == "sms"


@pytest.mark.parametrize("name", sorted({*DR, "timestamp", "api-key"}))
def test_changing_any_signed_parameter_is_refused(provider: Checked, name: str) -> None:
    params = signed(DR)
    params[name] = params[name] + "1"
    with pytest.raises(VerificationError) as caught:
        provider.verify(sms_json(params))
    assert caught.value.reason in ("bad_signature", "unknown_access_key")


@pytest.mark.parametrize("forge", [
    lambda p: {**p, "status": "failed"},
    lambda p: {**p, "extra": "1"},
    lambda p: {k: v for k, v in p.items() if k != "network-code"},
    lambda p: {**p, "sig": p["sig"][:-1] + ("0" if p["sig"][-1] != "0" else "1")},
    lambda p: {**p, "sig": sign_params({k: v for k, v in p.items() if k != "sig"}, "wrong-secret", "sha256")},
    lambda p: {**p, "sig": sign_params({k: v for k, v in p.items() if k != "sig"}, SECRET, "sha512")},
])
def test_forged_sms_callbacks_are_refused_as_bad_signature(provider: Checked, forge: Any) -> None:
    with pytest.raises(VerificationError, match="sig") as caught:
        provider.verify(sms_form(forge(signed(DR))))
    assert caught.value.reason == "bad_signature" and caught.value.status == 401


def test_an_unknown_api_key_is_refused_with_403(provider: Checked) -> None:
    with pytest.raises(VerificationError, match="api-key") as caught:
        provider.verify(sms_get(signed(DR, key="zzz9999")))
    assert caught.value.reason == "unknown_access_key" and caught.value.status == 403


def test_a_stale_or_future_timestamp_is_refused_even_when_correctly_signed(provider: Checked) -> None:
    for skew in (-301, 301):
        with pytest.raises(VerificationError, match="window") as caught:
            provider.verify(sms_get(signed(DR, ts=NOW + skew)))
        assert caught.value.reason == "stale_timestamp"
    provider.verify(sms_get(signed(DR, ts=NOW - 299)))


def test_a_signed_callback_without_a_timestamp_is_refused(provider: Checked) -> None:
    params = {**DR, "api-key": KEY}
    params["sig"] = sign_params(params, SECRET, "sha256")
    with pytest.raises(VerificationError, match="timestamp") as caught:
        provider.verify(sms_get(params))
    assert caught.value.reason == "stale_timestamp"


def test_a_replayed_sms_callback_is_refused_also_in_another_transport(provider: Checked) -> None:
    params = signed(DR)
    provider.verify(sms_json(params))
    for build in (sms_json, sms_get):
        with pytest.raises(VerificationError, match="replay"):
            provider.verify(build(params))


def test_repeated_parameters_are_refused(provider: Checked) -> None:
    params = signed(DR)
    callback = sms_get(params)
    doubled = RawCallback(b"", {}, None, SEED_TIME, None, "GET", URL, (*callback.query, ("status", "failed")), ())
    with pytest.raises(VerificationError, match="repeated"):
        provider.verify(doubled)


def test_an_unsigned_sms_callback_is_refused_unless_the_instance_allows_it(clock: FixedClock) -> None:
    with pytest.raises(VerificationError, match="sig") as caught:
        checked(clock).verify(sms_get(DR, token=TOKEN))
    assert caught.value.reason == "missing_credentials"
    lenient = checked(clock, allow_unsigned_sms=True, url_token=TOKEN)
    unsigned = lenient.verify(sms_get(DR, token=TOKEN))
    assert (unsigned.signed_at, unsigned.replay_key) == (None, None)  # nothing signed: no stand-in time
    for token, reason in ((None, "missing_credentials"), ("wrong-token-0123456789", "bad_token")):
        with pytest.raises(VerificationError) as refused:
            lenient.verify(sms_get(DR, token=token))
        assert refused.value.reason == reason
    with pytest.raises(VerificationError, match="sig"):  # a signature present is checked, never bypassed
        lenient.verify(sms_get({**signed(DR), "status": "failed"}, token=TOKEN))


def test_an_instance_that_allows_unsigned_sms_signs_no_time_but_holds_signed_callbacks_to_the_window(
    clock: FixedClock,
) -> None:
    strict, lenient = checked(clock), checked(clock, allow_unsigned_sms=True, url_token=TOKEN)
    assert strict.provider.signs_time() and not lenient.provider.signs_time()
    assert VonageProvider.timestamped
    lenient.verify(sms_get(DR, token=TOKEN))
    lenient.verify(sms_get(DR, token=TOKEN))  # no replay key: the same unsigned callback again is accepted
    for stale in (sms_get(signed(DR, ts=NOW - 301), token=TOKEN), messages(STATUS_BODY, iat=int(NOW) - 301)):
        with pytest.raises(VerificationError, match="window") as caught:
            lenient.verify(stale)
        assert caught.value.reason == "stale_timestamp"
    no_time = {**DR, "api-key": KEY}
    no_time["sig"] = sign_params(no_time, SECRET, "sha256")
    with pytest.raises(VerificationError, match="timestamp") as refused:
        lenient.verify(sms_get(no_time, token=TOKEN))
    assert refused.value.reason == "stale_timestamp"
    lenient.verify(sms_get(signed(DR), token=TOKEN))
    with pytest.raises(VerificationError, match="replay"):
        lenient.verify(sms_get(signed(DR), token=TOKEN))


def test_an_unsigned_only_instance_needs_its_token_and_parses_an_unreadable_body_to_a_dead_letter(
    clock: FixedClock,
) -> None:
    provider = checked(clock, api_keys=[], allow_unsigned_sms=True, url_token=TOKEN)
    [event] = events_of(provider, sms_json(DR, token=TOKEN))
    assert isinstance(event, DeliveryReceipt)
    broken = RawCallback(b"{not json", {"content-type": JSON}, None, SEED_TIME, TOKEN)
    with pytest.raises(MalformedCallbackError):
        provider.parse(provider.verify(broken))
    with pytest.raises(VerificationError, match="api-key") as caught:  # signed, but no secret to check it with
        provider.verify(sms_get(signed(DR)))
    assert caught.value.status == 403


# --- the Messages API JWT ------------------------------------------------------------------------


def test_jwt_official_vectors_verify_with_their_secret_only() -> None:
    assert jwt_claims(V1_TOKEN, V1_SECRET)["iss"] == "Online JWT Builder"
    assert jwt_claims(V2_TOKEN, V2_SECRET) == {"sub": "Sina", "name": "Java_SDK", "iat": 1698680392}
    for token, secret in ((V1_TOKEN, "asdf"), (V2_TOKEN.rpartition(".")[0] + "." + V2_BAD_SIGNATURE, V2_SECRET)):
        with pytest.raises(ValueError, match="secret"):
            jwt_claims(token, secret)


def test_computed_vector_v3_verifies_with_its_payload_hash_and_is_reproduced_by_sign() -> None:
    clock = FixedClock(V3_IAT)
    provider = Checked(VonageProvider(vonage_settings(
        api_keys=[{"api_key": "a1b2c3d", "signature_secret": "signature_secret"}]), clock), clock)
    verified = provider.verify(messages(V3_BODY, token=V3_TOKEN))
    assert (verified.api, verified.signed_at) == ("messages", V3_IAT)
    assert verified.replay_key == "jwt:c5ba8f24-1a14-4c10-bfdf-3fbe8ce511b5"
    assert encode_jwt(jwt_claims(V3_TOKEN, "signature_secret"), "signature_secret") == V3_TOKEN
    [event] = provider.parse(verified)
    assert isinstance(event, DeliveryReceipt) and event.status is Status.DELIVERED


def test_a_signed_messages_callback_names_its_secret_by_the_api_key_claim(provider: Checked) -> None:
    verified = provider.verify(messages(MO_BODY, secret=OTHER_SECRET, api_key=OTHER_KEY))
    assert verified.api == "messages" and verified.signed_at == int(NOW)
    with pytest.raises(VerificationError, match="signature"):
        provider.verify(messages(MO_BODY, secret=OTHER_SECRET, api_key=KEY, jti="2"))


@pytest.mark.parametrize(("callback", "match"), [
    (messages(STATUS_BODY, payload_hash=payload_hash(V3_BODY)), "payload_hash"),
    (messages(STATUS_BODY, payload_hash=...), "payload_hash"),
    (messages(STATUS_BODY, secret="wrong-secret"), "signature"),
    (messages(STATUS_BODY, iss="Someone"), "iss"),
    (messages(STATUS_BODY, iat=...), "iat"),
    (messages(STATUS_BODY, iat="1612680840"), "iat"),
    (messages(STATUS_BODY, exp=int(NOW) - 1), "exp"),
    (messages(STATUS_BODY, token="not-a-jwt"), "JWT"),
    (messages(STATUS_BODY, token="ëyJ.e30.x"), "JWT"),
])
def test_forged_messages_callbacks_are_refused(provider: Checked, callback: RawCallback, match: str) -> None:
    with pytest.raises(VerificationError, match=match):
        provider.verify(callback)


def test_a_changed_body_header_or_claim_breaks_the_jwt(provider: Checked) -> None:
    good = messages(STATUS_BODY)
    header, payload, signature = good.headers["authorization"].removeprefix("Bearer ").split(".")
    other = encode_jwt(claims_for(STATUS_BODY, iat=int(NOW) + 1), SECRET).split(".")[1]
    none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"  # {"alg":"none","typ":"JWT"}
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    for token in (f"{header}.{other}.{signature}", f"{none_header}.{payload}.", f"{none_header}.{payload}.{signature}",
                  f"{header}.{payload}.{flipped}"):
        with pytest.raises(VerificationError, match=r"JWT|signature"):
            provider.verify(messages(STATUS_BODY, token=token))
    with pytest.raises(VerificationError, match="payload_hash"):
        provider.verify(RawCallback(STATUS_BODY + b" ", good.headers, None, SEED_TIME))


def test_only_hs256_is_accepted_not_another_hmac_with_the_same_secret(clock: FixedClock) -> None:
    import jwt as pyjwt

    secret = "a-secret-long-enough-for-hs512-without-warnings-0123456789abcdefghijklmnopqrstuvwxyz"
    provider = checked(clock, api_keys=[{"api_key": KEY, "signature_secret": secret}])
    token = pyjwt.encode(claims_for(STATUS_BODY), secret, algorithm="HS512")
    with pytest.raises(VerificationError, match="signature"):
        provider.verify(messages(STATUS_BODY, token=token))
    provider.verify(messages(STATUS_BODY, secret=secret))


def test_an_unknown_api_key_claim_is_refused_with_403(provider: Checked) -> None:
    with pytest.raises(VerificationError, match="api_key") as caught:
        provider.verify(messages(STATUS_BODY, api_key="zzz9999"))
    assert caught.value.status == 403


def test_a_stale_iat_and_a_replayed_jwt_are_refused(provider: Checked) -> None:
    with pytest.raises(VerificationError, match="window"):
        provider.verify(messages(STATUS_BODY, iat=int(NOW) - 301))
    provider.verify(messages(STATUS_BODY))
    with pytest.raises(VerificationError, match="replay"):
        provider.verify(messages(STATUS_BODY))


def test_an_unsigned_messages_callback_is_refused_and_answered_503_so_that_vonage_retries_signed(
    provider: Checked,
) -> None:
    unsigned = RawCallback(STATUS_BODY, {"content-type": JSON}, None, SEED_TIME)
    with pytest.raises(UnsignedMessagesError) as caught:
        provider.verify(unsigned)
    assert caught.value.status == 401 and caught.value.reason == "missing_credentials"
    assert provider.rejected(caught.value).status == 503


# --- payloads ------------------------------------------------------------------------------------


def test_documented_sms_receipt_gives_every_field(clock: FixedClock) -> None:
    provider = checked(clock, allow_unsigned_sms=True, url_token=TOKEN)
    [event] = events_of(provider, sms_json(DR, token=TOKEN))
    assert isinstance(event, DeliveryReceipt)
    assert (event.provider, event.message_id, event.status, event.status_code) == (
        "vonage", "0B00000127FDBC63", Status.DELIVERED, "delivered")
    assert event.status_detail == "0: Delivered"
    assert (event.to, event.region, event.from_) == ("+447547232824", "GB", "Vonage")  # msisdn is the recipient
    assert event.occurred_at == datetime(2018, 10, 25, 12, 10, 29, tzinfo=UTC)  # message-timestamp, UTC
    assert (event.received_at, event.segments, event.price) == (SEED_TIME, None, "0.03330000")
    assert event.raw == DR


def test_sms_inbound_gives_sender_receiver_and_text(provider: Checked) -> None:
    [event] = events_of(provider, sms_get(signed(INBOUND)))
    assert isinstance(event, InboundMessage)
    assert (event.message_id, event.from_, event.to, event.text) == (
        "0A0000000123ABCD1", "447700900001", "447700900000", "Hello world")  # Ofcom drama numbers: kept as given
    assert event.occurred_at == datetime(2020, 1, 1, 12, 0, tzinfo=UTC)
    assert event.raw is not None and event.raw["keyword"] == "HELLO"


def test_a_valid_inbound_sender_becomes_e164_with_its_region(provider: Checked) -> None:
    [event] = events_of(provider, sms_form(signed({**INBOUND, "msisdn": "447547232824", "type": "unicode"})))
    assert (event.from_, event.region) == ("+447547232824", "GB")


@pytest.mark.parametrize(("status", "expected"), [*sorted(SMS_STATUS.items()), ("surprising", Status.UNKNOWN)])
def test_sms_status_mapping_keeps_the_code_verbatim(provider: Checked, status: str, expected: Status) -> None:
    [event] = events_of(provider, sms_get(signed({**DR, "status": status, "err-code": "6"})))
    assert (event.status, event.status_code, event.status_detail) == (expected, status, "6: Anti-Spam Rejection")


def test_the_status_tables_cover_every_documented_status() -> None:
    assert set(SMS_STATUS) == {"delivered", "expired", "failed", "rejected", "accepted", "buffered", "unknown"}
    assert set(MESSAGES_STATUS) == {"submitted", "delivered", "rejected", "undeliverable", "read"}
    assert len(ERR_CODES) == 22 and ERR_CODES["99"] == "General Error"


def test_an_undocumented_err_code_is_kept_as_the_detail(provider: Checked) -> None:
    [event] = events_of(provider, sms_get(signed({**DR, "status": "failed", "err-code": "77"})))
    assert (event.status, event.status_detail) == (Status.UNDELIVERED, "77")


def test_sms_times_fall_back_to_scts_then_timestamp(provider: Checked) -> None:
    without = {k: v for k, v in DR.items() if k != "message-timestamp"}
    [event] = events_of(provider, sms_get(signed(without)))
    assert event.occurred_at == datetime(2018, 10, 25, 13, 10, tzinfo=UTC)
    inbound = {k: v for k, v in INBOUND.items() if k != "message-timestamp"}
    [message] = events_of(provider, sms_get(signed(inbound)))
    assert message.occurred_at == SEED_TIME  # the signed `timestamp`


@pytest.mark.parametrize(("params", "reason"), [
    ({**INBOUND, "type": "binary", "data": "00ff", "udh": "050003"}, "unsupported_callback"),
    ({"msisdn": "447700900001", "messageId": "x"}, "wrong_shape"),
    ({**DR, "message-timestamp": "yesterday"}, "invalid_field"),
    ({k: v for k, v in DR.items() if k != "msisdn"}, "missing_field"),
    ({**DR, "messageId": ""}, "missing_field"),
    ({**DR, "price": "1e3"}, "invalid_field"),
])
def test_authentic_but_unusable_sms_callbacks_are_malformed(provider: Checked, params: dict[str, str],
                                                            reason: str) -> None:
    with pytest.raises(MalformedCallbackError) as caught:
        events_of(provider, sms_get(signed(params)))
    assert caught.value.reason == reason and caught.value.status == 400


def test_the_url_token_never_reaches_raw_and_empty_parameters_count_as_absent(clock: FixedClock) -> None:
    provider = checked(clock, allow_unsigned_sms=True, url_token=TOKEN)
    [event] = events_of(provider, sms_get({**DR, "token": TOKEN, "client-ref": ""}, token=TOKEN))
    assert event.raw is not None and "token" not in event.raw and "client-ref" not in event.raw
    without = checked(clock, include_raw=False)
    [bare] = without.parse(provider.verify(sms_json({**DR, "status": "expired"}, TOKEN)))
    assert isinstance(bare, DeliveryReceipt) and recorded_raw(without.settings, bare) is None


def test_documented_messages_status_with_an_error_gives_every_field(provider: Checked) -> None:
    [event] = events_of(provider, messages(STATUS_BODY))
    assert isinstance(event, DeliveryReceipt)
    assert (event.message_id, event.status, event.status_code) == (
        "aaaaaaaa-bbbb-cccc-dddd-0123456789ab", Status.UNKNOWN, "submitted")
    assert event.status_detail == "1000: Throttled - You have exceeded the submission capacity allowed on this account."
    assert (event.to, event.from_, event.segments, event.price) == ("447700900000", "447700900001", 3, "0.0333")
    assert event.occurred_at == datetime(2020, 1, 1, 14, 0, 3, 10000, tzinfo=UTC)
    assert event.raw == orjson.loads(STATUS_BODY)


def test_documented_messages_inbound_gives_every_field(provider: Checked) -> None:
    [event] = events_of(provider, messages(MO_BODY))
    assert isinstance(event, InboundMessage)
    assert (event.message_id, event.from_, event.to, event.text) == (
        "aaaaaaaa-bbbb-cccc-dddd-0123456789ab", "447700900001", "447700900000", "Hello, world!")
    assert (event.segments, event.price) == (2, "0.0333")
    assert event.occurred_at == datetime(2020, 1, 1, 15, 43, 21, tzinfo=UTC)


@pytest.mark.parametrize(("status", "expected"), [*sorted(MESSAGES_STATUS.items()), ("failed", Status.UNKNOWN)])
def test_messages_status_mapping_keeps_the_code_verbatim(provider: Checked, status: str, expected: Status) -> None:
    body = orjson.dumps({**orjson.loads(V3_BODY), "status": status})
    [event] = events_of(provider, messages(body))
    assert (event.status, event.status_code, event.status_detail) == (expected, status, None)


@pytest.mark.parametrize(("changes", "reason"), [
    ({"channel": "mms"}, "unsupported_callback"),  # MessageStatusTest.testSerdesRequiredFields
    ({"status": ..., "message_type": "image"}, "unsupported_callback"),
    ({"status": ...}, "wrong_shape"),
    ({"timestamp": "14:00"}, "invalid_field"),
    ({"usage": "free"}, "invalid_field"),
    ({"sms": {"count_total": "many"}}, "invalid_field"),
    ({"message_uuid": ...}, "missing_field"),
])
def test_authentic_but_unusable_messages_callbacks_are_malformed(provider: Checked, changes: dict[str, Any],
                                                                 reason: str) -> None:
    document = {k: v for k, v in {**orjson.loads(V3_BODY), **changes}.items() if v is not ...}
    with pytest.raises(MalformedCallbackError) as caught:
        events_of(provider, messages(orjson.dumps(document)))
    assert caught.value.reason == reason


def test_every_sample_event_makes_a_valid_record(provider: Checked) -> None:
    from bridge.events import EventType
    from bridge.kafka.envelope import Envelope

    envelope = Envelope("/sms/vonage/a1b2c3d", {t: t.value for t in EventType})
    for callback in (sms_get(signed(DR)), sms_form(signed(INBOUND)), messages(STATUS_BODY), messages(MO_BODY, jti="2")):
        for event in events_of(provider, callback):
            assert_valid_record(envelope.to_record(event))


def test_restore_of_a_dead_letter_finds_the_api_without_the_signature(clock: FixedClock) -> None:
    vonage = VonageProvider(vonage_settings(), clock)  # the kind itself: its restore() says which API
    letter = RawCallback(STATUS_BODY, {"content-type": JSON}, None, SEED_TIME)
    assert vonage.restore(letter).api == "messages"
    [event] = vonage.parse(vonage.restore(letter))
    assert isinstance(event, DeliveryReceipt) and event.status_code == "submitted"
    form = sms_form(signed(DR))
    restored = vonage.restore(RawCallback(form.body, form.headers, None, SEED_TIME))
    [receipt] = vonage.parse(restored)
    assert restored.api == "sms" and isinstance(receipt, DeliveryReceipt) and receipt.message_id == DR["messageId"]


# --- totality and round trips ----------------------------------------------------------------------

names = st.sampled_from(["status", "msisdn", "sig", "timestamp", "api-key", "text", "type", "messageId", "to",
                         "message-timestamp", "err-code", "scts", "token"]) | st.text(max_size=8)
values = st.text(max_size=12) | st.sampled_from(["", "delivered", "0", str(int(NOW)), KEY, "text"])


@settings(max_examples=200, deadline=None)
@given(params=st.lists(st.tuples(names, values), max_size=10), method=st.sampled_from(["GET", "POST"]),
       media=st.sampled_from([FORM, JSON, "text/plain"]), auth=st.none() | st.text(max_size=40),
       body=st.none() | st.binary(max_size=60))
def test_any_callback_gives_a_verified_value_and_events_or_a_callback_error(
    params: list[tuple[str, str]], method: str, media: str, auth: str | None, body: bytes | None,
) -> None:
    clock = FixedClock(NOW)
    provider = VonageProvider(vonage_settings(allow_unsigned_sms=True, url_token=TOKEN), clock)
    data = body if body is not None else (orjson.dumps(dict(params)) if media == JSON else urlencode(params).encode())
    headers = {"content-type": media, **({"authorization": auth} if auth is not None else {})}
    callback = RawCallback(data, headers, None, SEED_TIME, TOKEN, method, URL, tuple(params) if method == "GET" else (),
                           tuple(params) if media == FORM else ())
    try:
        verified = provider.verify(callback)
        events = provider.parse(verified)
    except CallbackError as error:
        assert isinstance(error, VerificationError | MalformedCallbackError)
        return
    assert all(isinstance(e, DeliveryReceipt | InboundMessage) for e in events)


@settings(max_examples=100, deadline=None)
@given(extra=st.dictionaries(st.text(min_size=1, max_size=6).filter(lambda n: n not in ("sig", "api-key", "timestamp")),
                             st.text(max_size=10), max_size=4),
       method=st.sampled_from(["md5hash", "md5", "sha1", "sha256", "sha512"]), data=st.data())
def test_any_parameters_signed_by_any_method_verify_and_any_one_change_is_refused(
    extra: dict[str, str], method: Any, data: st.DataObject,
) -> None:
    clock = FixedClock(NOW)
    provider = VonageProvider(vonage_settings(api_keys=[{"api_key": KEY, "signature_secret": SECRET,
                                                         "signature_method": method}]), clock)
    params = signed({**DR, **extra}, method=method)
    assert provider.verify(sms_json(params)).signed_at == int(NOW)
    name = data.draw(st.sampled_from(sorted(k for k in params if k != "sig")))
    changed = {**params, name: params[name] + data.draw(st.sampled_from(["x", "1", "é"]))}
    with pytest.raises(VerificationError):
        provider.verify(sms_json(changed))


# --- replies, settings, the endpoint ---------------------------------------------------------------


def test_replies_are_an_empty_200_and_the_errors_status_without_secrets(provider: Checked) -> None:
    accepted = provider.accepted(provider.verify(sms_get(signed(DR))))
    assert (accepted.status, accepted.body) == (200, b"")
    for error in (VerificationError("bad_signature", "sig parameter: does not match"),
                  MalformedCallbackError("invalid_json", "body is not valid JSON"),
                  CallbackError("timeout", "not stored; retry later", status=503)):
        reply = provider.rejected(error)
        assert reply.status == error.status and reply.headers["X-Bridge-Reason"] == error.reason
        assert SECRET.encode() not in reply.body


@pytest.mark.parametrize(("overrides", "match"), [
    ({"api_keys": []}, "api_keys"),
    ({"api_keys": [{"api_key": KEY, "signature_secret": SECRET}] * 2}, "once"),
    ({"allow_unsigned_sms": True}, "url_token"),
    ({"allow_unsigned_sms": True, "url_token": "short"}, "url_token"),
    ({"api_keys": [{"api_key": KEY, "signature_secret": SECRET, "signature_method": "sha384"}]}, "signature_method"),
    ({"api_keys": [{"api_key": KEY, "signature_secret": ""}]}, "signature_secret"),
])
def test_inconsistent_settings_are_refused(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        vonage_settings(**overrides)


def test_secrets_are_masked_in_the_settings_repr() -> None:
    text = repr(vonage_settings(allow_unsigned_sms=True, url_token=TOKEN))
    assert SECRET not in text and TOKEN not in text


class App:
    """The real app in process with one Vonage instance and a fake publisher."""

    def __init__(self, **instance: Any) -> None:
        document = {
            "server": {"host": "127.0.0.1", "port": 8080},
            "kafka": {"bootstrap_servers": ["127.0.0.1:9"], "enable_idempotence": False},
            "providers": [{"kind": "vonage", "name": "vonage-test", "path": "/callbacks/vonage/test",
                           "api_keys": [{"api_key": KEY, "signature_secret": SECRET, "signature_method": "sha256"}],
                           **instance}],
        }
        self.publisher = FakePublisher()
        app = create_app(parse_config(yaml.safe_dump(document), {}), self.publisher, CollectorRegistry(),
                         FixedClock(NOW), Lifecycle())
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 4000)),
                                        base_url="http://bridge.test")


@pytest.mark.anyio
async def test_over_http_get_form_and_json_are_published_and_an_unsigned_messages_post_gets_503() -> None:
    app = App()
    path = "/callbacks/vonage/test"
    replies = [
        await app.client.get(path, params=signed(DR, ts=NOW)),
        await app.client.post(path, data=signed(INBOUND, ts=NOW)),
        await app.client.post(path, content=orjson.dumps(signed({**DR, "messageId": "2"})),
                              headers={"content-type": JSON}),
        await app.client.post(path, content=STATUS_BODY,
                              headers={"authorization": messages(STATUS_BODY).headers["authorization"]}),
    ]
    assert [r.status_code for r in replies] == [200, 200, 200, 200]
    assert len(app.publisher.records) == 4
    for record in app.publisher.records:
        assert_valid_record(record)
    unsigned = await app.client.post(path, content=MO_BODY, headers={"content-type": JSON})
    assert unsigned.status_code == 503 and unsigned.headers["x-bridge-reason"] == "missing_credentials"
    forged = await app.client.get(path, params={**signed(DR), "status": "failed"})
    assert forged.status_code == 401
    assert len(app.publisher.records) == 4


@pytest.mark.anyio
async def test_over_http_an_unsigned_sms_callback_needs_the_url_token_in_the_path() -> None:
    app = App(allow_unsigned_sms=True, url_token=TOKEN)
    base = "/callbacks/vonage/test"
    assert (await app.client.get(base, params=DR)).status_code == 401
    assert (await app.client.get(f"{base}/wrong-token-0123456789", params=DR)).status_code == 401
    assert (await app.client.get(f"{base}/{TOKEN}", params=DR)).status_code == 200
    assert len(app.publisher.records) == 1
