"""Huawei Cloud MSGSMS: the §5.4 SDK-HMAC-SHA256 vector, forgeries, dual AK/SK, URL tokens, forms and batches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bridge.clock import FixedClock
from bridge.errors import MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.http.guard import Guard
from bridge.kafka.envelope import Envelope
from bridge.providers import huawei_signature as hw
from bridge.providers.base import BadReport, RawCallback, Verified
from bridge.providers.huawei import STATUSES, HuaweiProvider, HuaweiSettings
from tests.conftest import fixture_bytes
from tests.contract.test_providers import App
from tests.helpers import assert_valid_record

STATUS_FORM = fixture_bytes("huawei", "status_report.form")
UPLINK_FORM = fixture_bytes("huawei", "uplink.form")
BATCH = fixture_bytes("huawei", "batch_constructed.json")
AK, SK = "exampleAk", "exampleSk*1231d881wd"  # the doc verifier's sample pair
NEXT_AK, NEXT_SK = "nextAk", "next-secret-key-0123456789"
H1_DATE = "20241212T070653Z"
H1_SIGNATURE = "0f213909a553ce3c4ad2f4c2f0dec306eb2ea3f93a9a38346d9023c30682c97f"
H1_URL = "http://205.145.111.168:9330/report"
NOW = 1733987213.0  # 2024-12-12T07:06:53Z
RECEIVED = datetime.fromtimestamp(NOW, UTC)
TOKEN = "test-huawei-token-0123456789"
FORM_TYPE = "application/x-www-form-urlencoded"
H1_HEADERS = {"host": "205.145.111.168:9330", "content-type": FORM_TYPE, "x-sdk-date": H1_DATE,
              "authorization": hw.authorization(AK, hw.PUSH_HEADERS, H1_SIGNATURE).replace(", ", ","),
              "connection": "close", "content-length": "138"}
ENVELOPE = Envelope("/sms/huawei/test", {t: t.value for t in EventType})
KEYS = [{"access_key": AK, "secret_key": SK}]


def settings_of(**overrides: Any) -> HuaweiSettings:
    document = {"kind": "huawei", "name": "hw", "path": "/report", "auth": "signature", "access_keys": KEYS,
                **overrides}
    return HuaweiSettings.model_validate({k: v for k, v in document.items() if v is not None})


def provider_of(**overrides: Any) -> HuaweiProvider:
    return HuaweiProvider(settings_of(**overrides), FixedClock(NOW))


def token_provider(**overrides: Any) -> HuaweiProvider:
    return provider_of(auth="url_token", access_keys=[], url_token=TOKEN, **overrides)


class Checked:
    """The provider behind the endpoint's shared checks (allowlist, verify, window, replay), in order."""

    def __init__(self, now: float = NOW, **overrides: Any) -> None:
        clock = FixedClock(now)
        self.provider = HuaweiProvider(settings_of(**overrides), clock)
        self.guard = Guard(self.provider.settings, clock, timestamped=self.provider.signs_time())

    def verify(self, callback: RawCallback) -> Verified:
        self.guard.admit(callback.client)
        verified = self.provider.verify(callback)
        self.guard.check(verified)
        return verified


def callback(body: bytes = STATUS_FORM, headers: dict[str, str] | None = None, *, url: str = H1_URL,
             token: str | None = None, received: datetime = RECEIVED) -> RawCallback:
    headers = H1_HEADERS if headers is None else headers
    form = tuple(parse_qsl(body.decode("utf-8", "replace"))) if not body.startswith(b"{") else ()
    return RawCallback(body, headers, "117.78.29.7", received, token, "POST", url, (), form)


def refused(provider: HuaweiProvider | Checked, raw: RawCallback) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        provider.verify(raw)
    return caught.value


def parsed(provider: HuaweiProvider, body: bytes | Any, content_type: str = FORM_TYPE) -> list[Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    raw = callback(data, {"content-type": content_type}, token=TOKEN)
    return list(provider.parse(provider.verify(raw)))


# --- the §5.4 vector -----------------------------------------------------------------------------


def test_the_h1_vector_gives_the_computed_canonical_request_string_to_sign_and_signature() -> None:
    canonical = hw.canonical_request("POST", "/report", [], H1_HEADERS, hw.PUSH_HEADERS, STATUS_FORM)
    assert canonical == (
        "POST\n/report/\n\nconnection:close\ncontent-length:138\ncontent-type:application/x-www-form-urlencoded\n"
        "host:205.145.111.168:9330\nx-sdk-date:20241212T070653Z\n\nconnection;content-length;content-type;host;"
        "x-sdk-date\n8048e7cd4121ef0d7f5f63ddf121484f4f31714096a2f63e3c3a793f626642a9")
    assert hw.string_to_sign(canonical, H1_DATE) == (
        "SDK-HMAC-SHA256\n20241212T070653Z\ndb7784b6e4e4b8298b70731b7977b78b53e449d1917aa4dedd0f093dddc1a4c0")
    assert hw.signature(SK, canonical, H1_DATE) == H1_SIGNATURE


def test_the_h1_request_as_huawei_posts_it_is_verified_and_parsed() -> None:
    checked = Checked()
    verified = checked.verify(callback())
    assert verified.signed_at == NOW and verified.replay_key == f"signature:{H1_SIGNATURE}"
    [event] = checked.provider.parse(verified)
    assert isinstance(event, DeliveryReceipt)
    assert event.message_id == "b9d9b4fe-ad0e-4a2a-a2c7-445505b674ac_6"
    assert (event.status, event.status_code, event.status_detail) == (Status.DELIVERED, "DELIVRD", None)
    assert event.occurred_at == datetime(2018, 4, 13, 6, 31, 46, tzinfo=UTC)  # %3A decoded once
    assert event.to == "" and event.segments == 1 and event.from_ is None
    assert event.raw == dict(parse_qsl(STATUS_FORM.decode()))


def test_the_docs_placeholder_signature_is_refused() -> None:
    headers = {**H1_HEADERS, "authorization": H1_HEADERS["authorization"].replace(H1_SIGNATURE, "765a365f3851fd1c9601"
                                                                                  "1a82b893266fb7b3e79b3002526c4319"
                                                                                  "9c97e61bb88b")}
    assert refused(provider_of(), callback(headers=headers)).reason == "bad_signature"


def test_the_authorization_header_parses_with_or_without_spaces_after_commas() -> None:
    for value in (H1_HEADERS["authorization"], hw.authorization(AK, hw.PUSH_HEADERS, H1_SIGNATURE)):
        parsed_header = hw.parse_authorization(value)
        assert (parsed_header.access, parsed_header.signed_headers, parsed_header.signature) == (
            AK, hw.PUSH_HEADERS, H1_SIGNATURE)


# --- forgeries -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "reason"), [
    ({"authorization": ""}, "missing_credentials"),
    ({"x-sdk-date": ""}, "missing_credentials"),
    ({"x-sdk-date": "20241212T070654Z"}, "bad_signature"),
    ({"content-type": "application/json"}, "bad_signature"),
    ({"content-length": "139"}, "bad_signature"),
    ({"authorization": "SDK-HMAC-SHA1 Access=exampleAk,SignedHeaders=host,Signature=00"}, "unsupported_algorithm"),
    ({"authorization": "Basic ZXhhbXBsZUFrOmV4YW1wbGVTaw=="}, "unsupported_algorithm"),
    ({"authorization": "SDK-HMAC-SHA256 Access=exampleAk,Signature=" + H1_SIGNATURE}, "bad_signature"),
    ({"authorization": H1_HEADERS["authorization"].replace("Access=exampleAk", "Access=otherAk")},
     "unknown_access_key"),
    ({"authorization": H1_HEADERS["authorization"].replace(";x-sdk-date", "")}, "bad_signature"),
    ({"authorization": H1_HEADERS["authorization"].replace("connection;content-length", "content-length;connection")},
     "bad_signature"),
])
def test_a_changed_or_missing_signed_part_is_refused(change: dict[str, str], reason: str) -> None:
    headers = {k: v for k, v in {**H1_HEADERS, **change}.items() if v != "" or k in ("authorization", "x-sdk-date")}
    error = refused(provider_of(), callback(headers=headers))
    assert (error.reason, error.status) == (reason, 401)
    assert SK not in str(error)


@pytest.mark.parametrize("url", ["http://205.145.111.168:9331/report", "http://205.145.111.168:9330/report2", "http://205.145.111.168:9330/report?x=1",
                                 "http://205.145.111.168:9330/Report"])
def test_a_callback_to_another_url_is_refused(url: str) -> None:
    """Host, path and query are those of the URL the provider called (the instance's public_url, or the
    request's own Host and path), whatever Host header a proxy passed on."""
    headers = {**H1_HEADERS}
    assert refused(provider_of(), callback(url=url, headers=headers)).reason == "bad_signature"


def test_a_wrong_secret_key_is_refused() -> None:
    assert refused(provider_of(access_keys=[{"access_key": AK, "secret_key": SK + "x"}]), callback()).reason == (
        "bad_signature")


@settings(max_examples=60, deadline=None)
@given(position=st.integers(0, len(STATUS_FORM) - 1), flip=st.integers(1, 255))
def test_any_changed_body_byte_is_refused(position: int, flip: int) -> None:
    body = bytearray(STATUS_FORM)
    body[position] ^= flip
    assert refused(provider_of(), callback(bytes(body))).reason == "bad_signature"


def test_hop_by_hop_headers_a_proxy_rewrote_or_dropped_still_verify() -> None:
    for change in ({"connection": "keep-alive"}, {"connection": None}, {"content-length": None}):
        headers = {k: v for k, v in {**H1_HEADERS, **change}.items() if v is not None}
        provider_of().verify(callback(headers=headers))


def test_both_ak_sk_pairs_verify_while_rotating_and_a_removed_pair_does_not() -> None:
    both = provider_of(access_keys=[{"access_key": NEXT_AK, "secret_key": NEXT_SK}, *KEYS])
    both.verify(callback())
    request = both.sign(H1_URL, STATUS_FORM, "dr", NOW)  # signed with the first pair: the next one
    assert f"Access={NEXT_AK}," in request.headers["authorization"]
    both.verify(callback(headers=dict(request.headers)))
    assert refused(provider_of(), callback(headers=dict(request.headers))).reason == "unknown_access_key"


def test_a_stale_date_and_a_replayed_signature_are_refused_by_the_shared_checks() -> None:
    assert refused(Checked(NOW + 301), callback()).reason == "stale_timestamp"
    assert refused(Checked(NOW - 301), callback()).reason == "stale_timestamp"
    checked = Checked()
    checked.verify(callback())
    error = refused(checked, callback())
    assert (error.reason, error.status) == ("replay", 403)


def test_an_unreadable_date_is_refused_after_the_signature() -> None:
    provider = provider_of()
    for date in ("2024-12-12T07:06:53Z", "20241312T070653Z"):
        headers = {**H1_HEADERS, "x-sdk-date": date}
        canonical = hw.canonical_request("POST", "/report", [], headers, hw.PUSH_HEADERS, STATUS_FORM)
        headers["authorization"] = hw.authorization(AK, hw.PUSH_HEADERS, hw.signature(SK, canonical, date))
        assert refused(provider, callback(headers=headers)).reason == "stale_timestamp"


# --- URL token (the default) ----------------------------------------------------------------------


def test_the_url_token_is_required_and_compared() -> None:
    provider = token_provider()
    provider.verify(callback(headers={}, token=TOKEN))
    assert refused(provider, callback(headers={})).reason == "missing_credentials"
    assert refused(provider, callback(headers={}, token=TOKEN + "x")).reason == "bad_token"
    assert provider.signs_time() is False


def test_with_signature_a_configured_url_token_is_checked_too() -> None:
    provider = provider_of(url_token=TOKEN)
    request = provider.sign("https://hooks.example.com/report", STATUS_FORM, "dr", NOW)
    assert request.url == f"https://hooks.example.com/report/{TOKEN}"
    provider.verify(callback(headers=dict(request.headers), url=request.url, token=TOKEN))
    assert refused(provider, callback(headers=dict(request.headers), url=request.url)).reason == "missing_credentials"


@pytest.mark.parametrize("document", [
    {"auth": "url_token", "access_keys": []},
    {"auth": "url_token", "url_token": TOKEN},
    {"auth": "signature", "access_keys": []},
    {"url_token": "short"},
    {"access_keys": [*KEYS, {"access_key": "b", "secret_key": "c"}, {"access_key": "d", "secret_key": "e"}]},
    {"access_keys": [*KEYS, *KEYS]},
    {"access_keys": [{"access_key": "a,b", "secret_key": "c"}]},
])
def test_settings_refuse_a_method_without_its_secrets(document: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        settings_of(**document)


# --- parsing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "status"), [
    ("DELIVRD", Status.DELIVERED), ("UNDELIV", Status.UNDELIVERED), ("EXPIRED", Status.UNDELIVERED),
    ("DELETED", Status.UNDELIVERED), ("REJECTD", Status.UNDELIVERED), ("E200027", Status.UNDELIVERED),
    ("E200041", Status.UNDELIVERED), ("MILIMIT", Status.UNDELIVERED), ("ACCEPTD", Status.UNKNOWN),
    ("UNKNOWN", Status.UNKNOWN), ("MK:0001", Status.UNKNOWN), ("delivrd", Status.UNKNOWN),
])
def test_status_maps_from_the_table_and_the_code_is_kept_verbatim(code: str, status: Status) -> None:
    [event] = parsed(token_provider(), STATUS_FORM.replace(b"status=DELIVRD", b"status=" + code.encode()))
    assert (event.status, event.status_code) == (status, code)
    assert (code in HuaweiProvider.statuses) == (code in STATUSES)


def test_a_report_with_extend_names_its_recipient_and_description() -> None:
    body = STATUS_FORM + b"&statusDesc=%E7%94%A8%E6%88%B7%E5%B7%B2%E6%88%90%E5%8A%9F&extend=ctx&to=%2B8613800138000"
    [event] = parsed(token_provider(), body)
    assert (event.to, event.region, event.status_detail) == ("+8613800138000", "CN", "用户已成功")


def test_a_report_without_update_time_keeps_the_time_of_receipt_out_of_its_id() -> None:
    body = STATUS_FORM.replace(b"updateTime=2018-04-13T06%3A31%3A46Z&", b"")
    provider = token_provider()
    first = provider.parse(provider.verify(callback(body, {}, token=TOKEN)))
    later = provider.parse(provider.verify(callback(body, {}, token=TOKEN, received=datetime(2030, 1, 1, tzinfo=UTC))))
    assert isinstance(first[0], DeliveryReceipt) and first[0].occurred_at == RECEIVED
    assert [e.id for e in first if not isinstance(e, BadReport)] == [e.id for e in later
                                                                      if not isinstance(e, BadReport)]


def test_the_docs_uplink_is_one_inbound_message() -> None:
    [event] = parsed(token_provider(), UPLINK_FORM)
    assert isinstance(event, InboundMessage)
    assert (event.message_id, event.from_, event.to) == ("9692b5be-c427-4525-8e73-cf4a6ac5b3f7", "+86155****5172",
                                                         "201804131431201234")
    assert event.text == "********" and event.occurred_at == RECEIVED and event.key == "+86155****5172"
    assert event.raw == dict(parse_qsl(UPLINK_FORM.decode()))


def test_an_uplink_is_utf8_and_takes_create_time_when_given() -> None:
    body = b"from=%2B8615512345172&to=1069000&body=%E4%BD%A0%E5%A5%BD&smsMsgId=m1&createTime=2018-02-12T15%3A30%3A20Z"
    [event] = parsed(token_provider(), body)
    assert (event.text, event.from_, event.region) == ("你好", "+8615512345172", "CN")
    assert event.occurred_at == datetime(2018, 2, 12, 15, 30, 20, tzinfo=UTC)


def test_the_batch_report_gives_one_receipt_per_report_and_a_bad_one_is_dead_lettered_alone() -> None:
    document = orjson.loads(BATCH)
    good = document["statusReportList"][0]
    escaped = {**good, "smsMsgId": "m2", "updateTime": "2018-04-13T06%3A31%3A47Z"}
    broken = {**good, "smsMsgId": "", "status": "UNDELIV"}
    items = parsed(token_provider(), {"statusReportList": [good, escaped, broken, "x"]}, "application/json")
    assert [type(i).__name__ for i in items] == ["DeliveryReceipt", "DeliveryReceipt", "BadReport", "BadReport"]
    assert items[1].occurred_at == datetime(2018, 4, 13, 6, 31, 47, tzinfo=UTC)
    assert items[0].raw == good
    bad = items[2]
    assert bad.index == 2 and bad.report == broken and "smsMsgId" in str(bad.error)
    assert orjson.loads(bad.body) == {"statusReportList": [broken]}  # its own callback, for redrive
    [again] = token_provider().parse(token_provider().restore(callback(bad.body, {"content-type": "application/json"})))
    assert isinstance(again, BadReport) and again.report == broken


def test_a_batch_of_more_than_50_reports_is_refused() -> None:
    good = orjson.loads(BATCH)["statusReportList"][0]
    assert len(parsed(token_provider(), {"statusReportList": [good] * 50}, "application/json")) == 50
    with pytest.raises(MalformedCallbackError, match="more than 50") as caught:
        parsed(token_provider(), {"statusReportList": [good] * 51}, "application/json")
    assert caught.value.reason == "too_many_reports"


@pytest.mark.parametrize(("body", "content_type", "reason"), [
    (b"smsMsgId=1", FORM_TYPE, "unsupported_callback"),
    (b"status=DELIVRD&status=UNDELIV&smsMsgId=1", FORM_TYPE, "invalid_field"),
    (b"status=DELIVRD", FORM_TYPE, "missing_field"),
    (b"from=%2B86155&smsMsgId=1", FORM_TYPE, "missing_field"),
    (b"{}", "application/json", "wrong_shape"),
    (b'{"statusReportList": []}', "application/json", "wrong_shape"),
    (b"[1]", "application/json", "wrong_shape"),
    (b"{", "application/json", "invalid_json"),
    (b"status=DELIVRD&smsMsgId=1&updateTime=yesterday", FORM_TYPE, "invalid_field"),
])
def test_callbacks_that_cannot_be_understood_are_malformed(body: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(MalformedCallbackError) as caught:
        parsed(token_provider(), body, content_type)
    assert caught.value.reason == reason


# --- samples, signing, and the real endpoint -------------------------------------------------------


@pytest.mark.parametrize("mode", [{}, {"url_token": TOKEN}])
@pytest.mark.parametrize("sample", [s.name for s in HuaweiProvider.samples])
def test_every_sample_signed_as_huawei_sends_it_becomes_valid_records(sample: str, mode: dict[str, str]) -> None:
    provider = provider_of(**mode)
    spec = next(s for s in provider.samples if s.name == sample)
    request = provider.sign("https://hooks.example.com/report", spec.body(NOW), sample, NOW)
    token = request.url.rsplit("/", 1)[1] if mode else None
    verified = provider.verify(callback(request.body, dict(request.headers), url=request.url, token=token))
    events = provider.parse(verified)
    assert events and all(not isinstance(e, BadReport) and e.type is spec.event_type for e in events)
    for event in events:
        assert not isinstance(event, BadReport)
        assert_valid_record(ENVELOPE.to_record(event))


SIGNATURE_MODE: dict[str, Any] = {"auth": "signature", "access_keys": [{"access_key": AK, "secret_key": SK}]}


@pytest.mark.anyio
async def test_over_http_signed_callbacks_publish_and_forged_stale_or_replayed_ones_publish_nothing() -> None:
    now = float(int(datetime.now(UTC).timestamp()))
    app = App("huawei", now, **SIGNATURE_MODE)  # the dev instance's URL token, and AK/SK on
    forger = provider_of(url_token="dev-huawei-token-0123456789", access_keys=[{"access_key": AK, "secret_key": "x"}])
    signer = provider_of(url_token="dev-huawei-token-0123456789")
    url = "http://bridge.test/callbacks/huawei/test"
    body = STATUS_FORM
    for bad in (forger.sign(url, body, "dr", now), signer.sign(url, body, "dr", now - 400)):
        reply = await app.send(bad)
        assert reply.status_code == 401, reply.text
    assert app.publisher.records == []
    request = signer.sign(url, body, "dr", now)
    assert (await app.send(request)).status_code == 200
    assert len(app.publisher.records) == 1
    assert (await app.send(request)).status_code == 403
    assert len(app.publisher.records) == 1


# --- total ------------------------------------------------------------------------------------------

texts = st.text(st.characters(), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(st.characters(codec="utf-8"), max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["statusReportList", "smsMsgId", "status", "updateTime", "total", "to", "statusDesc"]),
        inner, max_size=6),
    max_leaves=12,
)
form_pairs = st.lists(st.tuples(st.sampled_from(["smsMsgId", "status", "updateTime", "total", "from", "to", "body",
                                                 "createTime", "statusDesc"]) | texts, texts), max_size=6)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), signature_mode=st.booleans())
def test_any_body_and_headers_give_events_or_a_callback_error(data: st.DataObject, signature_mode: bool) -> None:
    provider = provider_of() if signature_mode else token_provider()
    headers = data.draw(st.dictionaries(st.sampled_from([*H1_HEADERS]), texts | st.sampled_from([*H1_HEADERS.values()]),
                                        max_size=6) | st.just(H1_HEADERS))
    body = data.draw(st.sampled_from([STATUS_FORM, UPLINK_FORM, BATCH]) | st.binary(max_size=200)
                     | json_values.map(orjson.dumps) | form_pairs.map(lambda p: "&".join(f"{k}={v}" for k, v in p)
                                                                     .encode("utf-8", "surrogatepass")))
    raw = RawCallback(body, headers, None, RECEIVED, data.draw(st.none() | st.just(TOKEN) | texts), "POST",
                      data.draw(st.just(H1_URL) | texts), data.draw(st.lists(st.tuples(texts, texts), max_size=2)
                                                                    .map(tuple)),
                      data.draw(st.just(()) | form_pairs.map(tuple)))
    try:
        verified = provider.verify(raw)
    except VerificationError as error:
        assert error.status in (401, 403)
        return
    try:
        items = provider.parse(verified)
    except MalformedCallbackError:
        return
    assert all(isinstance(i, DeliveryReceipt | InboundMessage | BadReport) for i in items)
