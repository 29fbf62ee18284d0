"""Plivo: signature V2 and V3 (official and SDK-computed vectors, forgeries), replay, parsing, replies."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bridge.clock import FixedClock
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, InboundMessage, Status
from bridge.providers.base import Params, RawCallback
from bridge.providers.plivo import PlivoProvider, PlivoSettings, PlivoVerified
from bridge.providers.plivo_signature import signature_v2, signature_v3, v3_base_url
from tests.conftest import fixture_bytes
from tests.helpers import SEED_TIME, Checked, recorded_raw

TOKEN = "my_auth_token"
OTHER = "my_second_token"
URL = "https://example.com/sms/status"
NONCE = "05429567804466091622"
MSG = "0936ec98-7c4c-11e4-9bd8-22000afa12b9"
SIGNED: Params = (("MessageUUID", MSG), ("Status", "delivered"), ("To", "14155550100"))


def plivo_settings(**overrides: Any) -> PlivoSettings:
    return PlivoSettings.model_validate(
        {"kind": "plivo", "name": "plivo-test", "path": "/sms/status", "auth_tokens": [TOKEN], **overrides}
    )


def provider(clock: FixedClock, **overrides: Any) -> Checked:
    return Checked(PlivoProvider(plivo_settings(**overrides), clock), clock)


@pytest.fixture
def plivo(clock: FixedClock) -> Checked:
    return provider(clock)


def v2_headers(url: str = URL, nonce: str = NONCE, token: str = TOKEN) -> dict[str, str]:
    return {"content-type": "application/x-www-form-urlencoded",
            "x-plivo-signature-v2": signature_v2(url, nonce, token), "x-plivo-signature-v2-nonce": nonce}


def v3_headers(method: str, url: str, params: Params, nonce: str = NONCE, token: str = TOKEN) -> dict[str, str]:
    return {"x-plivo-signature-v3": signature_v3(method, url, params, nonce, token),
            "x-plivo-signature-v3-nonce": nonce}


def callback(form: Params = SIGNED, headers: dict[str, str] | None = None, *, url: str = URL,
             method: str = "POST") -> RawCallback:
    """What the endpoint hands over: for GET the parameters are the URL's query, else the form body."""
    body = urlencode(form).encode() if method == "POST" else b""
    query = tuple(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    return RawCallback(body=body, headers=v2_headers(url) if headers is None else headers, client="203.0.113.7",
                       received_at=SEED_TIME, method=method, url=url, query=query,
                       form=form if method == "POST" else ())


def events(plivo: Checked, raw: RawCallback) -> list[Any]:
    return list(plivo.parse(plivo.verify(raw)))


def fixture_params(name: str) -> Params:
    return tuple(parse_qsl(fixture_bytes("plivo", name).decode(), keep_blank_values=True))


# --- official and SDK vectors -----------------------------------------------------------------------


def test_official_v2_vector_of_plivo_python_matches() -> None:
    # plivo-python tests/resources/test_signature.py (also plivo-ruby and plivo-dotnet's tests)
    official = "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc="
    assert signature_v2("https://answer.url", "12345", "my_auth_token") == official
    assert signature_v2("https://answer.url", "12345", "my_auth_tokens") != official


@pytest.mark.parametrize(
    ("url", "nonce", "expected"),
    [
        # providers-2.md §9 P1: the query is stripped before signing
        ("https://example.com/sms/status?foo=bar", NONCE, "/QvaLuxCnOFj0HpL1ujdNs1WPf1ql6QJBBnGT0xPVqU="),
        # computed with plivo-python 4.63.0 validate_signature: port kept, ;params, query and fragment dropped
        ("https://example.com:8443/a;p?q=1#f", NONCE, "C3nFhl6g5hrFhoHZU01Rw/rLeXg386xmB7BY/vdW2XM="),
    ],
)
def test_v2_vectors_match(url: str, nonce: str, expected: str) -> None:
    assert signature_v2(url, nonce, TOKEN) == expected


V3_VECTORS = [
    # providers.md §4 (computed with the SDK's own functions), string quoted there verbatim
    ("POST", URL, SIGNED, NONCE, TOKEN,
     "https://example.com/sms/status?MessageUUID0936ec98-7c4c-11e4-9bd8-22000afa12b9StatusdeliveredTo14155550100",
     "Y9JZWi/lBCdfOnxHDIboS3XB9L3gPD0e+18bDVJj5bM="),
    # the rest: computed with plivo-python 4.63.0 construct_get_url / construct_post_url / get_signature_v3
    ("POST", URL + "?tenant=acme&b=2", SIGNED, NONCE, TOKEN,
     "https://example.com/sms/status?b=2&tenant=acme.MessageUUID0936ec98-7c4c-11e4-9bd8-22000afa12b9Statusdelivered"
     "To14155550100", "BESKK7DGeV8VN7kvcA38FyQ+DSMhIeSTpzWq2d27Q3g="),
    ("GET", URL + f"?To=14155550100&Status=delivered&MessageUUID={MSG}", (), NONCE, TOKEN,
     f"https://example.com/sms/status?MessageUUID={MSG}&Status=delivered&To=14155550100",
     "MhHQv9gLGfBRYahLgOvUyKD2aqRz2RWKSvzgLJIt2bs="),
    ("POST", "https://example.com/sms/inbound",
     (("From", "14155550101"), ("To", "14155550100"), ("Text", "你好 👋"), ("MessageUUID", "1" + MSG[1:])),
     "12345678901234567890", TOKEN,
     "https://example.com/sms/inbound?From14155550101MessageUUID1936ec98-7c4c-11e4-9bd8-22000afa12b9Text你好 👋"
     "To14155550100", "h28BNgV5MHQNAt2iUa28+Yzc1R+60powGVM4aoUTeDI="),
    ("POST", "https://example.com:8443/sms/inbound", (), "12345678901234567890", TOKEN,
     "https://example.com:8443/sms/inbound", "VK9r3H+RZZNnwTyxNlF3n9b9ccdGJid37YW6lFbRMHk="),
    ("POST", "https://example.com/sms/inbound", (("Media", "b"), ("Text", "x"), ("Media", "a")), "1", TOKEN,
     "https://example.com/sms/inbound?MediaaMediabTextx", "WY5xqFjYyHn/Ne8oeDEZRBIt0A2QK0uW7dPN27CDql8="),
    ("GET", "https://example.com/sms/inbound?Text=hello+world%21&From=14155550101&ErrorCode=", (),
     "98765432109876543210", TOKEN, "https://example.com/sms/inbound?ErrorCode=&From=14155550101&Text=hello world!",
     "p1Wh55MYPWVqCxJy74/1vHwPDYXetla+R5aHy9/S/AU="),
    ("POST", URL, (("ErrorCode", ""), ("Status", "undelivered"), ("MessageUUID", "u-1")), "98765432109876543210",
     "other_token", "https://example.com/sms/status?ErrorCodeMessageUUIDu-1Statusundelivered",
     "NADWf07FPEjKFY79KYYyfmmX4KydpdxIHXdl9gw6hXA="),
]


@pytest.mark.parametrize(("method", "url", "params", "nonce", "token", "base", "expected"), V3_VECTORS)
def test_v3_vectors_match_the_sdk(method: str, url: str, params: Params, nonce: str, token: str, base: str,
                                  expected: str) -> None:
    assert v3_base_url(method, url, params) == base
    assert signature_v3(method, url, params, nonce, token) == expected


@pytest.mark.parametrize(("method", "url", "params", "nonce", "token", "base", "expected"), V3_VECTORS)
def test_v3_vectors_verify_as_callbacks(clock: FixedClock, method: str, url: str, params: Params, nonce: str,
                                        token: str, base: str, expected: str) -> None:
    plivo = provider(clock, auth_tokens=[token])
    headers = {"x-plivo-signature-v3": expected, "x-plivo-signature-v3-nonce": nonce}
    verified = plivo.verify(callback(params, headers, url=url, method=method))
    assert (verified.scheme, verified.replay_key) == ("v3", nonce)


def test_v2_vector_verifies_as_a_callback_whatever_its_query(plivo: Checked) -> None:
    url = "https://example.com/sms/status?foo=bar"
    headers = {"x-plivo-signature-v2": "/QvaLuxCnOFj0HpL1ujdNs1WPf1ql6QJBBnGT0xPVqU=",
               "x-plivo-signature-v2-nonce": NONCE}
    verified = plivo.verify(callback(SIGNED, headers, url=url))
    assert isinstance(verified, PlivoVerified)
    assert (verified.scheme, verified.replay_key, verified.params) == ("v2", NONCE, SIGNED)


# --- forgeries --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        v2_headers("https://evil.example.com/sms/status"),  # other host
        v2_headers("http://example.com/sms/status"),  # other scheme
        v2_headers("https://example.com:444/sms/status"),  # other port
        v2_headers("https://example.com/sms/other"),  # other path
        v2_headers(token="not-the-token"),  # other key
        {**v2_headers(), "x-plivo-signature-v2-nonce": "05429567804466091623"},  # nonce swapped after signing
        {**v2_headers(), "x-plivo-signature-v2": v2_headers()["x-plivo-signature-v2"][:-2] + "A="},
        {**v2_headers(), "x-plivo-signature-v2": v2_headers()["x-plivo-signature-v2"].lower()},
    ],
)
def test_v2_forgeries_are_refused(plivo: Checked, headers: dict[str, str]) -> None:
    with pytest.raises(VerificationError, match="X-Plivo-Signature-V2: does not match") as caught:
        plivo.verify(callback(headers=headers))
    assert (caught.value.reason, caught.value.status) == ("bad_signature", 401)


def test_v2_does_not_cover_the_parameters_so_a_changed_body_still_verifies(plivo: Checked) -> None:
    """The documented weakness of V2: origin is proven, content is not (TLS must protect it)."""
    forged = (("MessageUUID", MSG), ("Status", "undelivered"), ("To", "14155550199"))
    assert plivo.verify(callback(forged)).params == forged


@pytest.mark.parametrize(
    ("form", "url", "method"),
    [
        ((("MessageUUID", MSG), ("Status", "undelivered"), ("To", "14155550100")), URL, "POST"),  # a value changed
        ((*SIGNED, ("Extra", "1")), URL, "POST"),  # a parameter added
        (SIGNED[:2], URL, "POST"),  # a parameter removed
        (SIGNED, URL + "?x=1", "POST"),  # a query added
        (SIGNED, "https://example.com/sms/other", "POST"),  # another path
        (SIGNED, "http://example.com/sms/status", "POST"),  # another scheme
    ],
)
def test_v3_forgeries_of_the_signed_parts_are_refused(plivo: Checked, form: Params, url: str, method: str) -> None:
    headers = v3_headers("POST", URL, SIGNED)
    with pytest.raises(VerificationError, match="X-Plivo-Signature-V3: does not match"):
        plivo.verify(callback(form, headers, url=url, method=method))


def test_v3_of_a_post_does_not_verify_as_a_get_of_the_same_url(plivo: Checked) -> None:
    url = URL + "?" + urlencode(SIGNED)
    headers = v3_headers("POST", url, ())
    assert plivo.verify(callback((), headers, url=url, method="POST")).scheme == "v3"
    with pytest.raises(VerificationError, match="V3: does not match"):
        plivo.verify(callback((), {**headers, "x-plivo-signature-v3-nonce": "1"}, url=url, method="GET"))


@pytest.mark.parametrize("nonce", ["05429567804466091623", "", " "])
def test_v3_with_another_or_no_nonce_is_refused(plivo: Checked, nonce: str) -> None:
    headers = {**v3_headers("POST", URL, SIGNED), "x-plivo-signature-v3-nonce": nonce}
    with pytest.raises(VerificationError) as caught:
        plivo.verify(callback(SIGNED, headers))
    assert caught.value.reason == ("bad_signature" if nonce.strip() else "missing_credentials")


def test_a_bad_v3_is_refused_even_when_v2_is_good(plivo: Checked) -> None:
    headers = {**v2_headers(), **v3_headers("POST", URL, SIGNED)}
    forged = (("MessageUUID", MSG), ("Status", "undelivered"), ("To", "14155550100"))
    assert plivo.verify(callback(SIGNED, headers)).scheme == "v2"
    with pytest.raises(VerificationError, match="V3: does not match"):
        plivo.verify(callback(forged, {**headers, "x-plivo-signature-v2-nonce": "1",
                                       "x-plivo-signature-v2": signature_v2(URL, "1", TOKEN)}))


def test_a_bad_v2_is_refused_even_when_v3_is_good(plivo: Checked) -> None:
    headers = {**v2_headers(token="wrong"), **v3_headers("POST", URL, SIGNED)}
    with pytest.raises(VerificationError, match="V2: does not match"):
        plivo.verify(callback(SIGNED, headers))


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "X-Plivo-Signature-V2: required"),
        ({"x-plivo-signature-v2": "", "x-plivo-signature-v3": ""}, "X-Plivo-Signature-V2: required"),
        ({"x-plivo-signature-v2": signature_v2(URL, NONCE, TOKEN)}, "x-plivo-signature-v2-nonce: required"),
        ({"x-plivo-signature-v3": "abc"}, "x-plivo-signature-v3-nonce: required"),
    ],
)
def test_missing_signature_or_nonce_is_refused(plivo: Checked, headers: dict[str, str], message: str) -> None:
    with pytest.raises(VerificationError, match=message) as caught:
        plivo.verify(callback(headers=headers))
    assert (caught.value.reason, caught.value.status) == ("missing_credentials", 401)


def test_require_v3_refuses_a_callback_signed_with_v2_only(clock: FixedClock) -> None:
    strict = provider(clock, require_v3=True)
    with pytest.raises(VerificationError, match="V3: required") as caught:
        strict.verify(callback())
    assert caught.value.reason == "missing_credentials"
    assert strict.verify(callback(SIGNED, v3_headers("POST", URL, SIGNED))).scheme == "v3"


# --- tokens: rotation and the main account -----------------------------------------------------------


def test_any_configured_token_verifies_v2(clock: FixedClock) -> None:
    plivo = provider(clock, auth_tokens=[TOKEN, OTHER])
    assert plivo.verify(callback(headers=v2_headers(token=OTHER))).scheme == "v2"


def test_main_account_signature_alone_verifies_with_the_main_token_configured(clock: FixedClock) -> None:
    plivo = provider(clock, auth_tokens=["subaccount-token", TOKEN])
    headers = {"x-plivo-signature-ma-v2": signature_v2(URL, NONCE, TOKEN), "x-plivo-signature-v2-nonce": NONCE}
    assert plivo.verify(callback(headers=headers)).replay_key == NONCE


@pytest.mark.parametrize("separator", [",", ", "])
def test_v3_header_with_several_signatures_verifies_when_one_matches(clock: FixedClock, separator: str) -> None:
    plivo = provider(clock, auth_tokens=[OTHER])
    header = separator.join(signature_v3("POST", URL, SIGNED, NONCE, t) for t in (TOKEN, OTHER))
    headers = {"x-plivo-signature-v3": header, "x-plivo-signature-v3-nonce": NONCE}
    assert plivo.verify(callback(SIGNED, headers)).scheme == "v3"
    only_old = {**headers, "x-plivo-signature-v3": signature_v3("POST", URL, SIGNED, NONCE, TOKEN)}
    with pytest.raises(VerificationError, match="V3: does not match"):
        plivo.verify(callback(SIGNED, only_old))


def test_settings_need_one_token_and_a_reply_deadline_under_plivos_eight_seconds() -> None:
    with pytest.raises(ValidationError, match="auth_tokens"):
        plivo_settings(auth_tokens=[])
    with pytest.raises(ValidationError, match="reply_deadline_seconds"):
        plivo_settings(reply_deadline_seconds=8)
    defaults = plivo_settings()
    assert (defaults.reply_deadline_seconds, defaults.timezone) == (6.0, "UTC")
    assert "my_auth_token" not in repr(defaults)


# --- replay -----------------------------------------------------------------------------------------


def test_a_replayed_nonce_is_refused_until_the_replay_memory_forgets_it(plivo: Checked, clock: FixedClock) -> None:
    plivo.verify(callback())
    with pytest.raises(VerificationError, match="replay") as caught:
        plivo.verify(callback((("MessageUUID", "other"), ("Status", "sent"), ("To", "1"))))  # any body: V2
    assert caught.value.status == 403
    clock.advance(plivo.settings.timestamp_tolerance_seconds + 1)
    assert plivo.verify(callback()).replay_key == NONCE


def test_stripping_v3_from_a_dual_signed_callback_does_not_replay_it(plivo: Checked) -> None:
    headers = {**v2_headers(), **v3_headers("POST", URL, SIGNED, nonce="11111111111111111111")}
    assert plivo.verify(callback(SIGNED, headers)).replay_key == NONCE
    with pytest.raises(VerificationError, match="replay"):
        plivo.verify(callback(SIGNED, v2_headers()))


def test_a_callback_not_stored_is_accepted_again(plivo: Checked) -> None:
    verified = plivo.verify(callback())
    plivo.release(verified)
    assert plivo.verify(callback()).replay_key == NONCE


# --- parsing ----------------------------------------------------------------------------------------


def test_status_fixture_gives_a_delivery_receipt_with_every_field(plivo: Checked) -> None:
    form = fixture_params("status.form")
    [event] = events(plivo, callback(form))
    assert isinstance(event, DeliveryReceipt)
    assert (event.provider, event.message_id, event.key) == ("plivo", MSG, MSG)
    assert (event.status, event.status_code, event.status_detail) == (Status.DELIVERED, "delivered", None)
    assert (event.to, event.from_, event.region) == ("+14155550101", "+14155550100", "US")
    assert event.occurred_at == datetime(2024, 1, 1, 10, 0, 4, 500000, tzinfo=UTC)  # DeliveryReportTime, UTC
    assert event.received_at == SEED_TIME
    assert (event.segments, event.price) == (1, "0.0050")
    assert event.raw == dict(form)


def test_undelivered_fixture_keeps_the_error_code_as_detail(plivo: Checked) -> None:
    [event] = events(plivo, callback(fixture_params("status_undelivered.form")))
    assert (event.status, event.status_code, event.status_detail) == (Status.UNDELIVERED, "undelivered", "50")
    assert event.occurred_at == datetime(2024, 1, 1, 10, 0, 9, tzinfo=UTC)


def test_inbound_fixture_gives_an_inbound_message(plivo: Checked) -> None:
    form = fixture_params("inbound.form")
    [event] = events(plivo, callback(form))
    assert isinstance(event, InboundMessage)
    assert (event.message_id, event.from_, event.to, event.region) == ("1" + MSG[1:], "+14155550101",
                                                                       "+14155550100", "US")
    assert event.key == "+14155550101"
    assert event.text == "Hello, is this STOP?"
    assert event.occurred_at == event.received_at == SEED_TIME  # Plivo sends no time with an incoming message
    assert not event.provider_time
    assert (event.segments, event.price, event.raw) == (1, "0.00000", dict(form))


def test_a_get_callback_is_read_from_its_query(plivo: Checked) -> None:
    url = URL + "?" + fixture_bytes("plivo", "status.form").decode()
    [event] = events(plivo, callback((), v2_headers(url), url=url, method="GET"))
    assert (event.message_id, event.status) == (MSG, Status.DELIVERED)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("delivered", Status.DELIVERED),
        ("read", Status.DELIVERED),
        ("undelivered", Status.UNDELIVERED),
        ("failed", Status.UNDELIVERED),
        ("rejected", Status.UNDELIVERED),
        ("queued", Status.UNKNOWN),
        ("sent", Status.UNKNOWN),
        ("Delivered", Status.DELIVERED),
        ("something-new", Status.UNKNOWN),
    ],
)
def test_status_mapping(plivo: Checked, status: str, expected: Status) -> None:
    form = tuple((k, status if k == "Status" else v) for k, v in fixture_params("status.form"))
    [event] = events(plivo, callback(form))
    assert (event.status, event.status_code) == (expected, status)


def test_occurred_at_is_the_latest_time_given_read_in_the_instance_zone(clock: FixedClock) -> None:
    plivo = provider(clock, timezone="Asia/Kolkata")
    form = (*SIGNED, ("QueuedTime", "2024-01-01 10:00:00.000000"), ("SentTime", ""),
            ("MessageTime", "2024-01-01 09:59"))
    [event] = events(plivo, callback(form))
    assert event.occurred_at == datetime(2024, 1, 1, 4, 30, tzinfo=UTC)


def test_a_receipt_without_any_time_uses_the_receipt_time(plivo: Checked) -> None:
    [event] = events(plivo, callback(SIGNED))
    assert event.occurred_at == SEED_TIME and not event.provider_time


def test_an_inbound_message_retried_later_keeps_its_event_id(plivo: Checked) -> None:
    form = fixture_params("inbound.form")
    [first] = events(plivo, callback(form))
    later = replace(callback(form), received_at=datetime(2030, 1, 1, tzinfo=UTC))
    [again] = plivo.parse(plivo.provider.restore(later))
    assert isinstance(again, InboundMessage) and again.occurred_at != first.occurred_at
    assert again.id == first.id


def test_mms_inbound_text_comes_from_body(plivo: Checked) -> None:
    [event] = events(plivo, callback((("From", "14155550101"), ("MessageUUID", "m1"), ("Type", "mms"),
                                      ("Body", "a picture"), ("Text", ""))))
    assert event.text == "a picture" and event.to is None


@pytest.mark.parametrize(
    ("form", "reason", "message"),
    [
        ((), "wrong_shape", "no parameters"),
        ((("Status", "delivered"), ("To", "1")), "missing_field", "MessageUUID: required"),
        ((("Status", "delivered"), ("MessageUUID", "m")), "missing_field", "To: required"),
        ((("Status", "delivered"), ("MessageUUID", ""), ("To", "1")), "invalid_field", "MessageUUID: must not"),
        ((*SIGNED, ("SentTime", "yesterday")), "invalid_field", "SentTime: must be a time"),
        ((*SIGNED, ("Units", "one")), "invalid_field", "Units: must be a non-negative integer"),
        ((*SIGNED, ("TotalRate", "1e3")), "invalid_field", "TotalRate: must be a plain decimal"),
        ((("From", "14155550101"), ("MessageUUID", "m")), "missing_field", "Text: required"),
        ((("Text", "hi"), ("MessageUUID", "m")), "missing_field", "From: required"),
        ((("Text", "hi"), ("From", "1"), ("MessageUUID", "a\x00b")), "invalid_field", "MessageUUID: must not"),
    ],
)
def test_callbacks_that_cannot_be_understood_are_malformed(plivo: Checked, form: Params, reason: str,
                                                            message: str) -> None:
    with pytest.raises(MalformedCallbackError, match=message) as caught:
        events(plivo, callback(form))
    assert (caught.value.reason, caught.value.status) == (reason, 400)


def test_include_raw_off_leaves_raw_out(clock: FixedClock) -> None:
    plivo = provider(clock, include_raw=False)
    [event] = events(plivo, callback(SIGNED))
    assert recorded_raw(plivo.settings, event) is None


def test_the_same_status_callback_twice_has_one_event_id(plivo: Checked) -> None:
    form = fixture_params("status.form")
    [first] = events(plivo, callback(form))
    later = replace(callback(form), received_at=datetime(2030, 1, 1, tzinfo=UTC))
    [again] = plivo.parse(plivo.provider.restore(later))
    assert isinstance(again, DeliveryReceipt) and again.id == first.id


def test_restore_decodes_a_dead_letters_form_body(plivo: Checked) -> None:
    raw = RawCallback(fixture_bytes("plivo", "inbound.form"), {}, None, SEED_TIME)
    [event] = plivo.parse(plivo.provider.restore(raw))
    assert isinstance(event, InboundMessage) and event.text == "Hello, is this STOP?"
    with pytest.raises(MalformedCallbackError, match="URL-encoded"):
        plivo.provider.restore(RawCallback(b"Text=%ff", {}, None, SEED_TIME))


# --- sign() and replies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", ["dr", "mo", "dr-get"])
def test_signed_samples_verify_and_parse(plivo: Checked, sample: str) -> None:
    body = next(s for s in plivo.provider.samples if s.name == sample).body(SEED_TIME.timestamp())
    out = plivo.provider.sign("https://bridge.example/sms/status", body, sample, SEED_TIME.timestamp())
    raw = callback(tuple(parse_qsl(out.body.decode(), keep_blank_values=True)), {k.lower(): v for k, v in
                   out.headers.items()}, url=out.url, method=out.method)
    [event] = events(plivo, raw)
    assert event.type is next(s.event_type for s in plivo.provider.samples if s.name == sample)
    assert (out.method == "GET") == (out.body == b"" and "Status=delivered" in out.url)


def test_accepted_reply_is_an_empty_message_xml(plivo: Checked) -> None:
    reply = plivo.accepted(plivo.verify(callback()))
    assert (reply.status, reply.media_type, reply.body) == (200, "application/xml", b"<Response></Response>")


@pytest.mark.parametrize("status", [400, 401, 403, 503])
def test_rejected_reply_carries_the_status_and_reason_but_no_secret(plivo: Checked, status: int) -> None:
    reply = plivo.rejected(CallbackError("bad_signature", "header X-Plivo-Signature-V2: does not match", status=status))
    assert reply.status == status
    assert reply.headers["X-Bridge-Reason"] == "bad_signature"
    assert reply.body.startswith(b"bad_signature") and TOKEN.encode() not in reply.body


# --- totality -----------------------------------------------------------------------------------------

text = st.text(st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"]),
               max_size=40)
pairs = st.lists(st.tuples(st.sampled_from(["Status", "To", "From", "MessageUUID", "Text", "Body", "Units",
                                            "TotalRate", "SentTime", "ErrorCode"]) | text, text), max_size=8)
header_names = st.sampled_from(["x-plivo-signature-v2", "x-plivo-signature-v2-nonce", "x-plivo-signature-ma-v2",
                                "x-plivo-signature-v3", "x-plivo-signature-v3-nonce", "x-plivo-signature-ma-v3"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=pairs, headers=st.dictionaries(header_names, text | st.just(NONCE)), url=text | st.just(URL),
       method=st.sampled_from(["GET", "POST"]), sign_it=st.booleans())
def test_any_callback_gives_events_or_a_callback_error(clock: FixedClock, form: list[tuple[str, str]],
                                                       headers: dict[str, str], url: str, method: str,
                                                       sign_it: bool) -> None:
    plivo = PlivoProvider(plivo_settings(), clock)
    if sign_it:  # reach parse() with arbitrary parameters too
        headers = {**headers, **v2_headers(url)} if url.isascii() and url.isprintable() else headers
    raw = RawCallback(b"", headers, None, SEED_TIME, method=method, url=url, query=tuple(form), form=tuple(form))
    try:
        items = plivo.parse(plivo.verify(raw))
    except CallbackError as error:
        assert error.status in (400, 401, 403)
        return
    assert all(isinstance(e, DeliveryReceipt | InboundMessage) for e in items)
