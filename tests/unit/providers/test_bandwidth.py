"""Bandwidth Messaging v2: HTTP Basic credentials, the docs' array and the spec's object, statuses and error codes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bridge.clock import FixedClock
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.kafka.envelope import Envelope
from bridge.providers import PROVIDERS
from bridge.providers.bandwidth import STATUSES, BandwidthProvider, BandwidthSettings
from bridge.providers.base import BadReport, RawCallback
from bridge.providers.verification import basic_auth
from tests.conftest import fixture_bytes
from tests.helpers import assert_valid_record

NOW = 1727280000.0
RECEIVED = datetime.fromtimestamp(NOW, UTC)
URL = "https://bridge.example.com/callbacks/bandwidth/main"
USER, PASSWORD = "bw-callbacks", "correct horse battery staple"
OTHER_USER, OTHER_PASSWORD = "bw-inbound", "another-password-0123"
FAILED = fixture_bytes("bandwidth", "message-failed.json")
DELIVERED = fixture_bytes("bandwidth", "message-delivered.json")
RECEIVED_MO = fixture_bytes("bandwidth", "message-received.json")
SENT = fixture_bytes("bandwidth", "message-sent.json")
ENVELOPE = Envelope("/sms/bandwidth/test", {t: t.value for t in EventType})


def settings_of(*pairs: tuple[str, str], **overrides: Any) -> BandwidthSettings:
    credentials = [{"username": u, "password": p} for u, p in (pairs or [(USER, PASSWORD)])]
    return BandwidthSettings.model_validate({"kind": "bandwidth", "name": "bw", "path": "/callbacks/bandwidth/main",
                                             "credentials": credentials, **overrides})


def provider_of(*pairs: tuple[str, str], **overrides: Any) -> BandwidthProvider:
    return BandwidthProvider(settings_of(*pairs, **overrides), FixedClock(NOW))


@pytest.fixture
def provider() -> BandwidthProvider:
    return provider_of()


def callback(body: bytes, authorization: str | None = None, *, received: datetime = RECEIVED) -> RawCallback:
    headers = {"content-type": "application/json; charset=utf-8", "user-agent": "BandwidthAPI/v2"}
    auth = basic_auth(USER.encode(), PASSWORD.encode()) if authorization is None else authorization
    if auth:
        headers["authorization"] = auth
    return RawCallback(body, headers, "203.0.113.7", received, None, "POST", URL)


def parsed(provider: BandwidthProvider, body: bytes | Any) -> list[Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return list(provider.parse(provider.verify(callback(data))))


def refused(provider: BandwidthProvider, raw: RawCallback) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        provider.verify(raw)
    return caught.value


def report(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {**orjson.loads(DELIVERED)[0], **changes}
    return {k: v for k, v in out.items() if v is not ...}


# --- HTTP Basic ----------------------------------------------------------------------------------


def test_the_configured_credentials_are_accepted(provider: BandwidthProvider) -> None:
    verified = provider.verify(callback(DELIVERED))
    assert verified.signed_at is None and verified.replay_key is None


@pytest.mark.parametrize(("user", "password"), [
    (USER, PASSWORD + "x"),
    (USER, PASSWORD[:-1]),
    (USER + "x", PASSWORD),
    (USER.upper(), PASSWORD),
    ("", PASSWORD),
    (USER, ""),
    (OTHER_USER, OTHER_PASSWORD),
    (USER, OTHER_PASSWORD),
])
def test_other_credentials_are_refused(provider: BandwidthProvider, user: str, password: str) -> None:
    error = refused(provider, callback(DELIVERED, basic_auth(user.encode(), password.encode())))
    assert (error.reason, error.status) == ("bad_token", 401)
    assert PASSWORD not in str(error) and USER not in str(error)


@pytest.mark.parametrize("authorization", ["", "Bearer abc", "Basic", "Basic   ", "Digest username=x"])
def test_missing_or_other_schemes_are_refused_as_missing_credentials(provider: BandwidthProvider,
                                                                     authorization: str) -> None:
    assert refused(provider, callback(DELIVERED, authorization)).reason == "missing_credentials"


@pytest.mark.parametrize("authorization", ["Basic !!!", "Basic " + "é", "Basic YWJj=ZA"])
def test_credentials_that_are_not_base64_are_refused(provider: BandwidthProvider, authorization: str) -> None:
    assert refused(provider, callback(DELIVERED, authorization)).reason == "bad_token"


def test_the_scheme_name_is_case_insensitive(provider: BandwidthProvider) -> None:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    provider.verify(callback(DELIVERED, f"basic {token}"))


def test_a_password_containing_colons_is_whole() -> None:
    provider = provider_of((USER, "pa:ss:word"))
    provider.verify(callback(DELIVERED, basic_auth(USER.encode(), b"pa:ss:word")))
    assert refused(provider, callback(DELIVERED, basic_auth(USER.encode(), b"pa:ss"))).reason == "bad_token"


def test_inbound_and_outbound_credentials_and_a_rotated_pair_are_each_accepted() -> None:
    provider = provider_of((USER, PASSWORD), (OTHER_USER, OTHER_PASSWORD))
    for user, password in ((USER, PASSWORD), (OTHER_USER, OTHER_PASSWORD)):
        provider.verify(callback(DELIVERED, basic_auth(user.encode(), password.encode())))
    mixed = basic_auth(USER.encode(), OTHER_PASSWORD.encode())
    assert refused(provider, callback(DELIVERED, mixed)).reason == "bad_token"


@pytest.mark.parametrize("credentials", [[], [{"username": "a:b", "password": "p"}],
                                         [{"username": "", "password": "p"}], [{"username": "u"}],
                                         [{"username": "u", "password": "p"}] * 5])
def test_settings_refuse_missing_or_unusable_credentials(credentials: list[dict[str, str]]) -> None:
    with pytest.raises(ValidationError):
        BandwidthSettings.model_validate({"kind": "bandwidth", "name": "bw", "path": "/callbacks/bw",
                                          "credentials": credentials})


def test_settings_never_show_the_credentials() -> None:
    text = repr(settings_of()) + str(settings_of())
    assert PASSWORD not in text and USER not in text


# --- the documented callbacks ------------------------------------------------------------------


def test_the_docs_toll_free_delivered_example_is_one_delivered_receipt(provider: BandwidthProvider) -> None:
    [event] = parsed(provider, DELIVERED)
    assert isinstance(event, DeliveryReceipt)
    assert event.message_id == event.key == event.subject == "1585321273456iprz22vjeo4tvooc"
    assert (event.status, event.status_code, event.status_detail) == (Status.DELIVERED, "message-delivered", "ok")
    assert (event.to, event.region, event.from_) == ("+12345678902", "US", "+18447242263")
    assert event.occurred_at == datetime(2020, 3, 27, 15, 1, 22, 646000, tzinfo=UTC)
    assert event.received_at == RECEIVED and event.segments == 1 and event.price is None
    assert event.raw == orjson.loads(DELIVERED)[0]


def test_the_docs_failed_example_keeps_the_error_code_verbatim_and_names_the_recipient(
    provider: BandwidthProvider,
) -> None:
    [event] = parsed(provider, FAILED)
    assert (event.status, event.status_code, event.status_detail) == (Status.UNDELIVERED, "message-failed", "4432")
    assert event.to == "+52345678903"  # an example number, not a valid Mexican one: no region
    # a group message: one callback per recipient, so the recipient keeps their ids and keys apart
    assert event.message_id == "14762070468292kw2fuqty55yp2b2:+52345678903"
    assert event.occurred_at == datetime(2016, 9, 14, 18, 20, 16, tzinfo=UTC)


def test_the_docs_message_received_example_is_one_inbound_message(provider: BandwidthProvider) -> None:
    [event] = parsed(provider, RECEIVED_MO)
    assert isinstance(event, InboundMessage)
    assert event.message_id == event.subject == "14762070468292kw2fuqty55yp2b2"
    assert (event.from_, event.key, event.to) == ("+12345678901", "+12345678901", "+12345678902")
    assert event.text == "Hey, check this out!" and event.segments == 1 and event.region == "US"
    assert event.occurred_at == datetime(2016, 9, 14, 18, 20, 16, tzinfo=UTC)
    assert event.raw == orjson.loads(RECEIVED_MO)[0]


def test_the_specs_single_object_form_is_accepted_with_microsecond_times(provider: BandwidthProvider) -> None:
    [event] = parsed(provider, SENT)
    assert (event.status, event.status_code, event.status_detail) == (Status.UNKNOWN, "message-sent",
                                                                      "Message sent to carrier")
    assert event.message_id == "1593110555875xo7watq5px6rbe5d"
    assert event.occurred_at == datetime(2024, 6, 25, 18, 42, 36, 979456, tzinfo=UTC)
    assert event.raw == orjson.loads(SENT)


@pytest.mark.parametrize(("event_type", "error", "status"), [
    ("message-delivered", None, Status.DELIVERED),
    ("message-read", None, Status.DELIVERED),
    ("message-sending", None, Status.UNKNOWN),
    ("message-sent", None, Status.UNKNOWN),
    ("message-failed", 4432, Status.UNDELIVERED),
    ("message-failed", 4720, Status.UNDELIVERED),
    ("message-failed", 5620, Status.UNDELIVERED),
    ("message-failed", None, Status.UNDELIVERED),
    ("message-failed", 9902, Status.UNKNOWN),  # DLR expired: "does not indicate that the message was not received"
    ("message-failed", "9999", Status.UNKNOWN),
])
def test_status_follows_the_type_and_ambiguous_error_codes(provider: BandwidthProvider, event_type: str,
                                                           error: Any, status: Status) -> None:
    [event] = parsed(provider, [report(type=event_type, errorCode=error if error is not None else ...)])
    assert event.status is status and event.status_code == event_type
    assert event.status_detail == (str(error) if error is not None else "ok")


def test_the_status_table_names_every_documented_type() -> None:
    assert set(BandwidthProvider.statuses) == {"message-sending", "message-sent", "message-delivered",
                                               "message-failed", "message-read"}
    assert BandwidthProvider.statuses is STATUSES


@pytest.mark.parametrize("event_type", ["suggestion-response", "requested-location-response", "message-queued", ""])
def test_other_types_are_dead_lettered_as_unsupported(provider: BandwidthProvider, event_type: str) -> None:
    [bad] = parsed(provider, [report(type=event_type)])
    assert isinstance(bad, BadReport) and bad.error.reason == "unsupported_callback"


def test_event_ids_do_not_change_with_the_time_of_a_retry(provider: BandwidthProvider) -> None:
    first = provider.parse(provider.verify(callback(FAILED)))
    later = provider.parse(provider.verify(callback(FAILED, received=datetime(2030, 1, 1, tzinfo=UTC))))
    assert [e.id for e in first if not isinstance(e, BadReport)] == [e.id for e in later
                                                                      if not isinstance(e, BadReport)]


def test_raw_is_the_event_itself_whatever_include_raw_says() -> None:
    [event] = parsed(provider_of(include_raw=False), DELIVERED)
    assert event.raw == orjson.loads(DELIVERED)[0]


# --- arrays: each event alone ------------------------------------------------------------------


def test_every_event_of_an_array_is_published_and_a_bad_one_is_dead_lettered_alone(provider: BandwidthProvider) -> None:
    good = orjson.loads(DELIVERED)[0]
    broken = report(time="yesterday")
    items = parsed(provider, [good, broken, orjson.loads(RECEIVED_MO)[0], 7])
    assert [type(i).__name__ for i in items] == ["DeliveryReceipt", "BadReport", "InboundMessage", "BadReport"]
    bad = items[1]
    assert bad.index == 1 and bad.report == broken and bad.error.reason == "invalid_field"
    assert bad.body == orjson.dumps([broken])  # a whole callback holding it alone, for redrive
    [again] = provider.parse(provider.restore(callback(bad.body)))
    assert isinstance(again, BadReport) and again.report == broken and "time" in str(again.error)
    assert items[3].body == b"[7]" and items[3].error.reason == "wrong_shape"


def test_a_bad_single_object_is_dead_lettered_with_its_own_body(provider: BandwidthProvider) -> None:
    body = orjson.dumps(report(message=...))
    [bad] = parsed(provider, body)
    assert isinstance(bad, BadReport) and bad.body == body and bad.error.reason == "wrong_shape"


@pytest.mark.parametrize(("body", "reason"), [(b"[]", "wrong_shape"), (b'"x"', "wrong_shape"), (b"", "invalid_json"),
                                              (b"[", "invalid_json"), (b"\xff[]", "invalid_utf8")])
def test_unreadable_bodies_are_malformed(provider: BandwidthProvider, body: bytes, reason: str) -> None:
    with pytest.raises(MalformedCallbackError) as caught:
        parsed(provider, body)
    assert caught.value.reason == reason


def test_more_events_than_max_reports_are_refused() -> None:
    provider = provider_of(max_reports=2)
    assert len(parsed(provider, [report()] * 2)) == 2
    with pytest.raises(MalformedCallbackError, match="more than 2") as caught:
        parsed(provider, [report()] * 3)
    assert caught.value.reason == "too_many_reports"


@pytest.mark.parametrize(("changes", "field"), [({"to": ...}, "to"), ({"time": ...}, "time"),
                                                ({"message": {"from": "+1"}}, "message.id"),
                                                ({"to": ""}, "to"), ({"time": 5}, "time")])
def test_required_fields_are_named(provider: BandwidthProvider, changes: dict[str, Any], field: str) -> None:
    [bad] = parsed(provider, [report(**changes)])
    assert isinstance(bad, BadReport) and field in str(bad.error)


def test_an_inbound_mms_without_text_has_empty_text(provider: BandwidthProvider) -> None:
    mo = orjson.loads(RECEIVED_MO)[0]
    mo["message"].pop("text")
    [event] = parsed(provider, [mo])
    assert isinstance(event, InboundMessage) and event.text == ""


# --- samples, signing and replies ----------------------------------------------------------------


@pytest.mark.parametrize("sample", [s.name for s in BandwidthProvider.samples])
def test_every_sample_signed_as_bandwidth_sends_it_becomes_valid_records(provider: BandwidthProvider,
                                                                         sample: str) -> None:
    spec = next(s for s in provider.samples if s.name == sample)
    request = provider.sign(URL, spec.body(NOW), sample, NOW)
    assert request.headers["user-agent"] == "BandwidthAPI/v2"
    raw = RawCallback(request.body, {k.lower(): v for k, v in request.headers.items()}, None, RECEIVED, None,
                      request.method, request.url)
    events = provider.parse(provider.verify(raw))
    assert events and all(not isinstance(e, BadReport) and e.type is spec.event_type for e in events)
    for event in events:
        assert not isinstance(event, BadReport)
        assert_valid_record(ENVELOPE.to_record(event))
    forged = provider_of((USER, PASSWORD + "!")).sign(URL, spec.body(NOW), sample, NOW)
    with pytest.raises(VerificationError):
        provider.verify(RawCallback(forged.body, {k.lower(): v for k, v in forged.headers.items()}, None, RECEIVED))


def test_the_registry_knows_bandwidth() -> None:
    assert PROVIDERS["bandwidth"] is BandwidthProvider


def test_replies_are_an_empty_200_and_plain_text_refusals_with_basic_challenge(provider: BandwidthProvider) -> None:
    accepted = provider.accepted(provider.verify(callback(DELIVERED)))
    assert (accepted.status, accepted.body) == (200, b"")
    denied = provider.rejected(VerificationError("bad_token", "header Authorization: Basic credentials do not match"))
    assert denied.status == 401 and denied.headers["WWW-Authenticate"].startswith("Basic ")
    assert denied.body.startswith(b"bad_token: ")
    assert provider.rejected(CallbackError("timeout", "not stored", status=503)).status == 503


# --- total ------------------------------------------------------------------------------------------

texts = st.text(st.characters(), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(st.characters(codec="utf-8"), max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "time", "to", "description", "errorCode", "message", "id", "from", "owner", "text",
                         "segmentCount"]), inner, max_size=6),
    max_leaves=14,
)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_body_and_credentials_give_events_or_a_callback_error(data: st.DataObject) -> None:
    provider = provider_of()
    body = data.draw(st.sampled_from([DELIVERED, FAILED, RECEIVED_MO, SENT]) | st.binary(max_size=200)
                     | json_values.map(orjson.dumps) | json_values.map(lambda v: orjson.dumps([report(message=v)])))
    authorization = data.draw(st.sampled_from([basic_auth(USER.encode(), PASSWORD.encode())]) | texts
                              | texts.map(lambda t: "Basic " + t))
    try:
        verified = provider.verify(callback(body, authorization))
    except VerificationError as error:
        assert error.status == 401
        return
    try:
        items = provider.parse(verified)
    except MalformedCallbackError:
        return
    assert all(isinstance(i, DeliveryReceipt | InboundMessage | BadReport) for i in items)
