"""Twilio Programmable Messaging: the SDK's signature vectors, forgeries, status mapping, parsing and replies."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bridge.clock import FixedClock
from bridge.errors import MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.kafka.envelope import Envelope
from bridge.providers.base import FORM, JSON, Outgoing, RawCallback
from bridge.providers.twilio import EMPTY_TWIML, STATUSES, TwilioProvider, TwilioSettings, TwilioVerified
from bridge.providers.twilio_signature import body_hash, signature, url_variants
from tests.conftest import fixture_bytes
from tests.helpers import assert_valid_record, recorded_raw

NOW = 1_700_000_000.0
RECEIVED = datetime.fromtimestamp(NOW, UTC)
TOKEN = "test-twilio-auth-token-primary"
NEXT_TOKEN = "test-twilio-auth-token-next"
URL = "https://bridge.example.com/callbacks/twilio/main"
ENVELOPE = Envelope("/sms/twilio/main", {t: t.value for t in EventType})

# --- twilio-python tests/unit/test_request_validator.py (official vectors) -----------------------------
SDK_TOKEN = "12345"
SDK_URI = "https://mycompany.com/myapp.php?foo=1&bar=2"
SDK_PARAMS = (("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"), ("From", "+14158675309"),
              ("To", "+18005551212"), ("Caller", "+14158675309"))
SDK_EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
SDK_DUPLICATES = (("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"))
SDK_DUPLICATES_EXPECTED = "IK+Dwps556ElfBT0I3Rgjkr1wJU="
SDK_BODY = b'{"property": "value", "boolean": true}'
SDK_BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
SDK_BODY_SIGNATURE = "a9nBmqA0ju/hNViExpshrM61xv4="
SDK_PORT_VECTORS = [
    # (URL as the bridge sees it, signature Twilio sent) — test_validation_{removes,adds}_port_on_{https,http}
    (SDK_URI.replace(".com", ".com:1234"), SDK_EXPECTED),
    (SDK_URI.replace(".com", ".com:1234").replace("https", "http"), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
    (SDK_URI, "kvajT1Ptam85bY51eRf/AJRuM3w="),
    (SDK_URI.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),
]


def make_provider(*tokens: str, **overrides: Any) -> TwilioProvider:
    settings = TwilioSettings.model_validate(
        {"kind": "twilio", "name": "main", "path": "/callbacks/twilio/main", "auth_tokens": list(tokens or (TOKEN,)),
         **overrides}
    )
    return TwilioProvider(settings, FixedClock(NOW))


def form_callback(params: Sequence[tuple[str, str]], *, url: str = URL, token: str = TOKEN,
                  sig: str | None = None, **headers: str) -> RawCallback:
    """A form POST as the endpoint hands it over, signed like Twilio unless `sig` is given."""
    given = signature(token, url, params) if sig is None else sig
    return RawCallback(
        body=urlencode(params).encode(), headers={"content-type": FORM, "x-twilio-signature": given, **headers},
        client="198.51.100.7", received_at=RECEIVED, method="POST", url=url,
        query=tuple(parse_qsl(urlsplit(url).query, keep_blank_values=True)), form=tuple(params),
    )


def from_outgoing(request: Outgoing) -> RawCallback:
    """What the endpoint would build from a request sign() produced."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    form = tuple(parse_qsl(request.body.decode())) if headers.get("content-type") == FORM else ()
    query = tuple(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    return RawCallback(request.body, headers, None, RECEIVED, None, request.method, request.url, query, form)


def fixture_params(name: str) -> tuple[tuple[str, str], ...]:
    return tuple(parse_qsl(fixture_bytes("twilio", name).decode(), keep_blank_values=True))


def events(provider: TwilioProvider, callback: RawCallback) -> list[Any]:
    return list(provider.parse(provider.verify(callback)))


# --- the official vectors ----------------------------------------------------------------------------


def test_the_sdk_signature_vector_is_reproduced() -> None:
    assert signature(SDK_TOKEN, SDK_URI, SDK_PARAMS) == SDK_EXPECTED


def test_repeated_parameters_are_signed_with_their_values_sorted_as_the_sdk_does() -> None:
    assert signature(SDK_TOKEN, SDK_URI, SDK_DUPLICATES) == SDK_DUPLICATES_EXPECTED
    assert signature(SDK_TOKEN, SDK_URI, tuple(reversed(SDK_DUPLICATES))) == SDK_DUPLICATES_EXPECTED


def test_the_sdk_body_hash_vector_is_reproduced() -> None:
    assert body_hash(SDK_BODY) == SDK_BODY_HASH


@pytest.mark.parametrize(("url", "sig"), SDK_PORT_VECTORS)
def test_a_url_is_verified_with_and_without_its_port_like_the_sdk(url: str, sig: str) -> None:
    provider = make_provider(SDK_TOKEN)
    verified = provider.verify(form_callback(SDK_PARAMS, url=url, sig=sig))
    assert isinstance(verified, TwilioVerified) and verified.params == SDK_PARAMS


def test_the_sdk_json_body_vector_verifies_and_is_dead_lettered_as_not_a_messaging_callback() -> None:
    url = SDK_URI + "&bodySHA256=" + SDK_BODY_HASH
    callback = RawCallback(SDK_BODY, {"content-type": JSON, "x-twilio-signature": SDK_BODY_SIGNATURE}, None,
                           RECEIVED, method="POST", url=url, query=tuple(parse_qsl(urlsplit(url).query)))
    provider = make_provider(SDK_TOKEN)
    verified = provider.verify(callback)
    assert verified.json_body
    with pytest.raises(MalformedCallbackError, match="JSON") as caught:
        provider.parse(verified)
    assert caught.value.reason == "unsupported_callback"


def test_url_variants_cut_only_the_port_even_with_credentials_or_an_ipv6_host() -> None:
    assert url_variants("https://u:p@h.example:8443/x?a=1") == ("https://u:p@h.example/x?a=1",
                                                               "https://u:p@h.example:8443/x?a=1")
    assert url_variants("http://[2001:db8::1]:8080/x") == ("http://[2001:db8::1]/x", "http://[2001:db8::1]:8080/x")
    assert url_variants("http://h.example:notaport/x") == ("http://h.example:notaport/x",)


# --- forgeries: every signed part ----------------------------------------------------------------------

STATUS = fixture_params("status-delivered.form")


def test_the_genuine_status_callback_verifies() -> None:
    assert make_provider().verify(form_callback(STATUS)).params == STATUS


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(tuple((k, "undelivered" if k == "MessageStatus" else v) for k, v in STATUS), id="value"),
        pytest.param(tuple((k, v) for k, v in STATUS if k != "RawDlrDoneDate"), id="removed-parameter"),
        pytest.param((*STATUS, ("ErrorCode", "30003")), id="added-parameter"),
        pytest.param(tuple(("To" if k == "From" else "From" if k == "To" else k, v) for k, v in STATUS),
                     id="swapped-names"),
    ],
)
def test_a_changed_form_body_is_refused(forged: tuple[tuple[str, str], ...]) -> None:
    genuine = signature(TOKEN, URL, STATUS)
    with pytest.raises(VerificationError, match="X-Twilio-Signature: does not match") as caught:
        make_provider().verify(form_callback(forged, sig=genuine))
    assert caught.value.reason == "bad_signature" and caught.value.status == 401


@pytest.mark.parametrize(
    "url",
    [
        URL.replace("https://", "http://"),
        URL.replace("bridge.example.com", "evil.example.com"),
        URL + "/other",
        URL + "?extra=1",
        URL.replace("https://", "https://user:pass@"),
    ],
)
def test_a_callback_for_another_url_is_refused(url: str) -> None:
    genuine = signature(TOKEN, URL, STATUS)
    with pytest.raises(VerificationError, match="does not match"):
        make_provider().verify(form_callback(STATUS, url=url, sig=genuine))


def test_a_signature_made_with_another_token_is_refused() -> None:
    with pytest.raises(VerificationError, match="does not match"):
        make_provider().verify(form_callback(STATUS, token="not-the-auth-token"))


def test_a_missing_signature_header_is_refused() -> None:
    callback = form_callback(STATUS)
    headers = {k: v for k, v in callback.headers.items() if k != "x-twilio-signature"}
    with pytest.raises(VerificationError, match="X-Twilio-Signature: required") as caught:
        make_provider().verify(replace(callback, headers=headers))
    assert caught.value.reason == "missing_credentials"


@pytest.mark.parametrize("sig", ["", " " + signature(TOKEN, URL, STATUS), signature(TOKEN, URL, STATUS)[:-1], "é"])
def test_a_mangled_signature_is_refused(sig: str) -> None:
    with pytest.raises(VerificationError, match="does not match"):
        make_provider().verify(form_callback(STATUS, sig=sig))


def test_params_moved_from_the_body_into_the_query_are_refused() -> None:
    genuine = signature(TOKEN, URL, STATUS)
    url = URL + "?" + urlencode(STATUS)
    callback = replace(form_callback((), url=url, sig=genuine), query=STATUS)
    with pytest.raises(VerificationError, match="does not match"):
        make_provider().verify(callback)


def test_a_get_with_a_changed_query_is_refused() -> None:
    provider = make_provider()
    request = provider.sign(URL, fixture_bytes("twilio", "inbound.form"), "inbound-get", NOW)
    genuine = from_outgoing(request)
    assert provider.verify(genuine).params == fixture_params("inbound.form")
    url = request.url.replace("Body=Hello", "Body=Goodbye")
    forged = replace(genuine, url=url, query=tuple(parse_qsl(urlsplit(url).query)))
    with pytest.raises(VerificationError, match="does not match"):
        provider.verify(forged)


def test_a_json_body_that_does_not_match_its_signed_hash_is_refused() -> None:
    provider = make_provider()
    genuine = from_outgoing(provider.sign(URL, b'{"MessageStatus":"delivered"}', "status", NOW))
    assert provider.verify(genuine).json_body
    with pytest.raises(VerificationError, match="bodySHA256: does not match the body"):
        provider.verify(replace(genuine, body=b'{"MessageStatus":"failed"}'))


def test_a_json_body_with_a_changed_hash_parameter_is_refused() -> None:
    provider = make_provider()
    genuine = from_outgoing(provider.sign(URL, b"{}", "status", NOW))
    forged_hash = body_hash(b"[]")
    url = genuine.url.replace(body_hash(b"{}"), forged_hash)
    forged = replace(genuine, body=b"[]", url=url, query=(("bodySHA256", forged_hash),))
    with pytest.raises(VerificationError, match="X-Twilio-Signature: does not match"):
        provider.verify(forged)


def test_a_json_body_without_a_hash_parameter_is_refused() -> None:
    callback = RawCallback(b"{}", {"content-type": JSON, "x-twilio-signature": signature(TOKEN, URL)}, None,
                           RECEIVED, method="POST", url=URL)
    with pytest.raises(VerificationError, match="bodySHA256: required") as caught:
        make_provider().verify(callback)
    assert caught.value.reason == "missing_credentials"


def test_every_configured_token_verifies_during_a_rotation() -> None:
    provider = make_provider(TOKEN, NEXT_TOKEN)
    assert provider.verify(form_callback(STATUS, token=TOKEN))
    assert provider.verify(form_callback(STATUS, token=NEXT_TOKEN))
    with pytest.raises(VerificationError, match="does not match"):
        make_provider(NEXT_TOKEN).verify(form_callback(STATUS, token=TOKEN))


def test_twilio_signs_no_time_and_no_nonce_so_nothing_is_offered_for_freshness_or_replay() -> None:
    verified = make_provider().verify(form_callback(STATUS))
    assert verified.signed_at is None and verified.replay_key is None
    assert TwilioProvider.timestamped is False


# --- verify and parse are total ----------------------------------------------------------------------

text = st.text(st.characters(), max_size=20)
param_lists = st.lists(st.tuples(st.sampled_from(["MessageSid", "SmsSid", "MessageStatus", "SmsStatus", "To",
                                                  "From", "Body", "NumSegments", "ErrorCode"]) | text, text),
                       max_size=8).map(tuple)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=param_lists, url=st.just(URL) | text, method=st.sampled_from(["GET", "POST"]),
       content_type=st.sampled_from([FORM, JSON, "application/foo+json", ""]) | text, forge=st.booleans())
def test_any_params_url_and_headers_give_events_or_a_callback_error(
    params: tuple[tuple[str, str], ...], url: str, method: str, content_type: str, forge: bool
) -> None:
    provider = make_provider()
    signed = () if method == "GET" else params
    sig = signature(TOKEN, url, signed) + ("x" if forge else "")
    callback = RawCallback(urlencode(params, errors="surrogatepass").encode("utf-8", "surrogatepass"),
                           {"content-type": content_type, "x-twilio-signature": sig}, None, RECEIVED,
                           method=method, url=url, query=params if method == "GET" else (), form=params)
    try:
        verified = provider.verify(callback)
    except VerificationError:
        return
    try:
        items = provider.parse(verified)
    except MalformedCallbackError:
        return
    assert [type(item) for item in items] in ([DeliveryReceipt], [InboundMessage])


# --- parsing -------------------------------------------------------------------------------------------


def test_the_delivered_status_callback_gives_a_delivered_receipt_with_every_field() -> None:
    [event] = events(make_provider(), form_callback(STATUS))
    assert isinstance(event, DeliveryReceipt)
    assert (event.provider, event.message_id, event.status, event.status_code) == (
        "twilio", "SM" + "X" * 32, Status.DELIVERED, "delivered")
    assert event.status_detail is None
    assert (event.to, event.region, event.from_) == ("+15558675310", None, "+15017122661")
    assert event.occurred_at == event.received_at == RECEIVED
    assert event.segments is None and event.price is None
    assert event.raw is not None and event.raw["RawDlrDoneDate"] == "2501011200"
    assert_valid_record(ENVELOPE.to_record(event))


def test_the_undelivered_status_callback_carries_its_error_code_as_the_detail() -> None:
    [event] = events(make_provider(), form_callback(fixture_params("status-undelivered.form")))
    assert (event.status, event.status_code, event.status_detail) == (Status.UNDELIVERED, "undelivered", "30003")
    assert_valid_record(ENVELOPE.to_record(event))


def test_the_incoming_message_gives_an_inbound_message_with_every_field() -> None:
    [event] = events(make_provider(), form_callback(fixture_params("inbound.form")))
    assert isinstance(event, InboundMessage)
    assert (event.message_id, event.from_, event.to, event.text) == (
        "SM" + "X" * 32, "+15558675310", "+15017122661", "Hello")
    assert event.segments == 1 and event.price is None and event.status_code == ""
    assert event.occurred_at == RECEIVED and event.key == "+15558675310"
    assert_valid_record(ENVELOPE.to_record(event))


def test_an_incoming_message_by_get_is_parsed_from_the_query() -> None:
    provider = make_provider()
    request = provider.sign(URL, fixture_bytes("twilio", "inbound.form"), "inbound-get", NOW)
    assert request.method == "GET" and request.body == b"" and "content-type" not in request.headers
    [event] = events(provider, from_outgoing(request))
    assert isinstance(event, InboundMessage) and event.text == "Hello"


STATUS_TABLE = {
    "delivered": Status.DELIVERED, "read": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED, "failed": Status.UNDELIVERED, "canceled": Status.UNDELIVERED,
    "queued": Status.UNKNOWN, "sending": Status.UNKNOWN, "sent": Status.UNKNOWN, "accepted": Status.UNKNOWN,
    "scheduled": Status.UNKNOWN, "partially_delivered": Status.UNKNOWN,
    "receiving": Status.UNKNOWN, "received": Status.UNKNOWN,
}


def test_the_mapping_covers_exactly_the_documented_statuses() -> None:
    assert dict(STATUSES) == STATUS_TABLE


@pytest.mark.parametrize(("code", "status"),
                         [(c, s) for c, s in STATUS_TABLE.items() if c not in ("receiving", "received")]
                         + [("Delivered", Status.DELIVERED), ("some_future_status", Status.UNKNOWN)])
def test_each_status_callback_maps_its_status_and_keeps_the_code_verbatim(code: str, status: Status) -> None:
    params = tuple((k, code if k in ("MessageStatus", "SmsStatus") else v) for k, v in STATUS)
    [event] = events(make_provider(), form_callback(params))
    assert isinstance(event, DeliveryReceipt) and (event.status, event.status_code) == (status, code)


def test_a_legacy_callback_with_only_sms_status_is_a_receipt() -> None:
    params = tuple((k, v) for k, v in STATUS if k != "MessageStatus")
    [event] = events(make_provider(), form_callback(params))
    assert isinstance(event, DeliveryReceipt) and event.status_code == "delivered"


def test_an_inbound_status_in_message_status_makes_an_incoming_message() -> None:
    params = (*fixture_params("inbound.form"), ("MessageStatus", "received"))
    [event] = events(make_provider(), form_callback(params))
    assert isinstance(event, InboundMessage)


def test_whatsapp_addresses_keep_their_channel_and_give_the_numbers_region() -> None:
    params = tuple((k, "whatsapp:+14155238886" if k == "To" else v) for k, v in STATUS)
    [event] = events(make_provider(), form_callback(params))
    assert (event.to, event.region) == ("whatsapp:+14155238886", "US")


@pytest.mark.parametrize(
    ("params", "reason", "message"),
    [
        ((("AccountSid", "AC1"),), "unsupported_callback", "neither a status callback"),
        (tuple((k, v) for k, v in STATUS if k != "To"), "missing_field", "To: required"),
        (tuple((k, v) for k, v in STATUS if k not in ("MessageSid", "SmsSid")), "missing_field", "SmsSid: required"),
        ((*STATUS, ("MessageStatus", "failed")), "invalid_field", "MessageStatus: given more than once"),
        (tuple((k, "" if k == "MessageStatus" else v) for k, v in STATUS), "invalid_field", "MessageStatus"),
        ((("SmsStatus", "received"), ("From", "+15558675310"), ("MessageSid", "SM1")), "missing_field", "Body"),
        (tuple((k, "many" if k == "NumSegments" else v) for k, v in fixture_params("inbound.form")),
         "invalid_field", "NumSegments"),
    ],
)
def test_an_authentic_callback_that_cannot_be_understood_is_malformed(
    params: tuple[tuple[str, str], ...], reason: str, message: str
) -> None:
    with pytest.raises(MalformedCallbackError, match=message) as caught:
        events(make_provider(), form_callback(params))
    assert caught.value.reason == reason


def test_unread_repeated_parameters_are_kept_as_lists_in_raw() -> None:
    [event] = events(make_provider(), form_callback((*STATUS, ("MediaUrl", "a"), ("MediaUrl", "b"))))
    assert event.raw["MediaUrl"] == ["a", "b"]


def test_raw_is_left_out_when_the_instance_says_so() -> None:
    provider = make_provider(include_raw=False)
    [event] = events(provider, form_callback(STATUS))
    assert recorded_raw(provider.settings, event) is None


# --- dead letters --------------------------------------------------------------------------------------


def test_restore_of_a_dead_letter_gives_the_same_events_as_the_original() -> None:
    provider = make_provider()
    original = form_callback(STATUS)
    letter = RawCallback(original.body, {"content-type": FORM}, None, RECEIVED, method="POST")
    assert provider.parse(provider.restore(letter)) == provider.parse(provider.verify(original))


def test_restore_of_a_body_that_is_no_form_is_malformed() -> None:
    letter = RawCallback(b"\xff=\xfe", {"content-type": FORM}, None, RECEIVED, method="POST")
    with pytest.raises(MalformedCallbackError, match="URL-encoded UTF-8"):
        make_provider().restore(letter)


# --- replies, signing, settings ------------------------------------------------------------------------


def test_an_accepted_callback_is_answered_with_empty_twiml() -> None:
    reply = make_provider().accepted(make_provider().verify(form_callback(STATUS)))
    assert (reply.status, reply.body, reply.media_type) == (200, EMPTY_TWIML, "text/xml; charset=utf-8")
    assert re.fullmatch(rb'<\?xml version="1.0" encoding="UTF-8"\?><Response ?/>', reply.body)


@pytest.mark.parametrize("error", [
    VerificationError("bad_signature", "header X-Twilio-Signature: does not match"),
    MalformedCallbackError("missing_field", "To: required"),
    VerificationError("source_not_allowed", "source address is not in allowed_networks", status=403),
])
def test_a_refused_callback_gets_its_status_and_reason_and_no_secret(error: VerificationError) -> None:
    reply = make_provider().rejected(error)
    assert reply.status == error.status and reply.headers["X-Bridge-Reason"] == error.reason
    assert reply.body.decode().startswith(error.reason) and TOKEN not in reply.body.decode()


@pytest.mark.parametrize("sample", [s.name for s in TwilioProvider.samples])
def test_every_sample_signed_by_the_first_token_verifies_and_parses_to_its_type(sample: str) -> None:
    provider = make_provider(TOKEN, NEXT_TOKEN)
    declared = next(s for s in provider.samples if s.name == sample)
    request = provider.sign(URL, declared.body(NOW), sample, NOW)
    assert request.headers["X-Twilio-Signature"] == signature(
        TOKEN, request.url, () if request.method == "GET" else parse_qsl(request.body.decode()))
    [event] = events(provider, from_outgoing(request))
    assert event.type is declared.event_type


def test_the_dev_instance_resolves_to_settings_whose_samples_round_trip() -> None:
    resolved = {k: [re.sub(r"^\$\{[A-Z_]+:-(.*)\}$", r"\1", v) for v in val] if isinstance(val, list) else val
                for k, val in TwilioProvider.dev_instance.items()}
    settings_ = TwilioSettings.model_validate({"kind": "twilio", "name": "x", "path": "/callbacks/x", **resolved})
    provider = TwilioProvider(settings_, FixedClock(NOW))
    for sample in provider.samples:
        request = provider.sign("http://127.0.0.1:8080/callbacks/x", sample.body(NOW), sample.name, NOW)
        assert [e.type for e in events(provider, from_outgoing(request))] == [sample.event_type]


def test_auth_tokens_are_required_secret_and_masked() -> None:
    with pytest.raises(ValidationError, match="auth_tokens"):
        TwilioSettings.model_validate({"kind": "twilio", "name": "x", "path": "/x", "auth_tokens": []})
    settings_ = make_provider().settings
    assert TOKEN not in repr(settings_) and TOKEN not in str(settings_.model_dump())


def test_a_retried_callback_keeps_its_event_id_although_received_later() -> None:
    provider = make_provider()
    body = next(s for s in provider.samples if s.name == "status").body(NOW)
    request = provider.sign(URL, body, "status", NOW)
    first = from_outgoing(request)
    retry = replace(first, received_at=datetime.fromtimestamp(NOW + 900, UTC))  # Twilio sends no event time
    [one], [two] = events(provider, first), events(provider, retry)
    assert one.occurred_at != two.occurred_at and one.id == two.id


# --- shared-key signatures (Webhook Rules): X-Twilio-Webhooks-Signature-Settings ------------------------

SHARED_KEY_ID = "webhooks_sharedkey_0123456789abcdef"
SHARED_KEY = "test-twilio-shared-key-secret"
# twilio-python 9.13 RequestValidator("12345").compute_signature(SDK_URI, SDK_PARAMS, "HMAC_SHA256")
SDK_SHA256_EXPECTED = "033hgUJA9M/hXIZsYjwkerEP/DBm35nEri5FhCYjA5s="


def shared_provider(**keys: str) -> TwilioProvider:
    return make_provider(shared_keys=keys or {SHARED_KEY_ID: SHARED_KEY})


def shared_callback(algorithm: str = "HMAC_SHA256", key_id: str = SHARED_KEY_ID, key: str = SHARED_KEY,
                    params: Sequence[tuple[str, str]] = STATUS, settings: str | None = None) -> RawCallback:
    """A form POST signed as a Webhook Rule signs it: with the shared key, naming it and the algorithm."""
    header = f"key={key_id},algorithm={algorithm}" if settings is None else settings
    return form_callback(params, sig=signature(key, URL, params, algorithm.upper()),
                         **{"x-twilio-webhooks-signature-settings": header})


def test_the_sdk_signature_vector_is_reproduced_with_hmac_sha256() -> None:
    assert signature(SDK_TOKEN, SDK_URI, SDK_PARAMS, "HMAC_SHA256") == SDK_SHA256_EXPECTED


@pytest.mark.parametrize("algorithm", ["HMAC_SHA256", "HMAC_SHA1", "hmac_sha256"])
def test_a_shared_key_signature_verifies_with_the_key_and_algorithm_its_header_names(algorithm: str) -> None:
    assert shared_provider().verify(shared_callback(algorithm)).params == STATUS


def test_the_shared_key_is_chosen_by_the_id_in_the_header() -> None:
    provider = shared_provider(**{"webhooks_sharedkey_old": "old-shared-key-secret", SHARED_KEY_ID: SHARED_KEY})
    assert provider.verify(shared_callback()).params == STATUS
    assert provider.verify(shared_callback(key_id="webhooks_sharedkey_old", key="old-shared-key-secret")).params


def test_a_header_without_algorithm_means_hmac_sha1_as_in_the_sdk() -> None:
    callback = shared_callback("HMAC_SHA1", settings=f" key = {SHARED_KEY_ID} ")
    assert shared_provider().verify(callback).params == STATUS


def test_auth_token_signatures_still_verify_on_an_instance_with_shared_keys() -> None:
    assert shared_provider().verify(form_callback(STATUS)).params == STATUS
    assert shared_provider().verify(form_callback(STATUS, **{"x-twilio-webhooks-signature-settings": ""})).params


def test_a_shared_key_id_the_instance_does_not_have_is_refused() -> None:
    with pytest.raises(VerificationError, match="key is not one of shared_keys") as caught:
        shared_provider().verify(shared_callback(key_id="webhooks_sharedkey_other"))
    assert caught.value.reason == "unknown_access_key" and caught.value.status == 401
    with pytest.raises(VerificationError, match="key is not one of shared_keys"):
        make_provider().verify(shared_callback())  # no shared keys at all


@pytest.mark.parametrize("algorithm", ["HMAC_SHA512", "HMAC_MD5", "RSA_SHA256", "none"])
def test_an_algorithm_other_than_hmac_sha1_or_sha256_is_refused(algorithm: str) -> None:
    callback = form_callback(STATUS, **{"x-twilio-webhooks-signature-settings":
                                        f"key={SHARED_KEY_ID},algorithm={algorithm}"})
    with pytest.raises(VerificationError, match="algorithm is not HMAC_SHA1 or HMAC_SHA256") as caught:
        shared_provider().verify(callback)
    assert caught.value.reason == "unsupported_algorithm"


@pytest.mark.parametrize(
    "callback",
    [
        pytest.param(shared_callback(key="not-the-shared-key"), id="another-key"),
        pytest.param(shared_callback(key=TOKEN), id="the-auth-token-under-the-key-id"),
        pytest.param(replace(shared_callback(), form=((*STATUS, ("ErrorCode", "30003")))), id="added-parameter"),
        pytest.param(replace(shared_callback(), url=URL + "/other"), id="another-url"),
        pytest.param(shared_callback(settings=f"key={SHARED_KEY_ID},algorithm=HMAC_SHA1"), id="algorithm-changed"),
    ],
)
def test_a_forged_shared_key_signature_is_refused(callback: RawCallback) -> None:
    with pytest.raises(VerificationError, match="X-Twilio-Signature: does not match") as caught:
        shared_provider().verify(callback)
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize("sample", [s.name for s in TwilioProvider.samples])
def test_sign_uses_the_first_shared_key_with_hmac_sha256_and_verify_accepts_it(sample: str) -> None:
    provider = shared_provider()
    declared = next(s for s in provider.samples if s.name == sample)
    request = provider.sign(URL, declared.body(NOW), sample, NOW)
    assert request.headers["X-Twilio-Webhooks-Signature-Settings"] == f"key={SHARED_KEY_ID},algorithm=HMAC_SHA256"
    provider.verify(from_outgoing(request))
    with pytest.raises(VerificationError):
        make_provider().verify(from_outgoing(request))  # the auth token alone does not verify it


@pytest.mark.parametrize("key_id", ["", "a,b", "a=b", "with space"])
def test_a_shared_key_id_that_the_header_cannot_carry_is_refused_in_the_settings(key_id: str) -> None:
    with pytest.raises(ValidationError):
        make_provider(shared_keys={key_id: SHARED_KEY})


def test_at_most_four_shared_keys_are_accepted() -> None:
    with pytest.raises(ValidationError):
        make_provider(shared_keys={f"webhooks_sharedkey_{i}": SHARED_KEY for i in range(5)})
