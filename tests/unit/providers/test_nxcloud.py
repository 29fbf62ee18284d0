"""NxCloud signed DID callbacks: the signature vectors, tampering, replay, and the parsing quirks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.clock import FixedClock
from bridge.errors import MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status, format_time
from bridge.http.replay_cache import ReplayCache
from bridge.kafka.envelope import Envelope
from bridge.providers.base import RawCallback
from bridge.providers.nxcloud import NxCloudVerified, signature
from tests.conftest import NX_ACCESS_KEY, NX_OTHER_KEY, NX_OTHER_SECRET, NX_SECRET, fixture_bytes
from tests.helpers import (
    SEED_MS,
    SEED_TIME,
    Checked,
    assert_valid_record,
    events_of,
    nx_callback,
    nx_headers,
    nxcloud_provider,
    recorded_raw,
)

# --- providers.md §1.4 --------------------------------------------------------------------------------

OFFICIAL_HEADERS = {"accessKey": "fme2na3kdi3ki", "action": "send", "bizType": "1", "ts": "1655710885431"}
OFFICIAL_SECRET = "abciiiko2k3"
OFFICIAL = [
    # body, md5 [OFFICIAL VECTOR], sha256 [COMPUTED]
    ('{"name":"牛小信","id":10001}', "87c3560d3331ae23f1021e2025722354",
     "e0eec2c99ef80f269a82795e2223f618ebfc0616c8b6c8c7d438021ec38ad0eb"),
    ('{"id":10001,"name":"牛小信"}', "7750759da06333f20d0640be09355e34",
     "d04863619d46121592cdb312ec0a91c148a1f5daea64930ad0e1fb31a04dc808"),
    ('{"id": 10001, "name": "牛小信"}', "d0c24a9886c629330d7f3f2056c65bc2",
     "feaa901c8a317a0f5e488dd7d9ae046742afa0d0a70f415817c835873efa4cb7"),
]
DOC_TS = "1690361994834"
DR_PRETTY = (
    '{\n    "messageId": "fcf3432fd1834ccdac807a7cfb2d1fdf",\n    "toPhone": "18184505018",\n'
    '    "fromPhone": "12347200160",\n    "content": "sunt non nisi",\n    "size": "1",\n'
    '    "price": "0.0360",\n    "receiveTime": "2021-02-07 14:54:00",\n    "smsStatus": "DELIVRD"\n}'
)
DR_COMPACT = (
    '{"messageId":"fcf3432fd1834ccdac807a7cfb2d1fdf","toPhone":"18184505018","fromPhone":"12347200160",'
    '"content":"sunt non nisi","size":"1","price":"0.0360","receiveTime":"2021-02-07 14:54:00","smsStatus":"DELIVRD"}'
)
MO_TEXT = (
    '{"messageId":"a1b2c3d4e5f60718293a4b5c6d7e8f90","type":"0","toPhone":"12347200160","fromPhone":"18184505018",'
    '"content":"你好 STOP","size":"1","price":"0.0000","receiveTime":"2021-02-07 14:54:00","smsStatus":"DELIVRD"}'
)
COMPUTED = [
    # headers, body, md5, sha256 [COMPUTED]
    (OFFICIAL_HEADERS, "", "884afe159e39b6c88a0d6102ca97d704",
     "921e82155cc02cdf78da934307c33cdca3f412d35ddb5b965482a2e029e900f4"),
    ({"accessKey": "kGp5uFHN", "action": "dr", "bizType": "4", "ts": DOC_TS}, DR_PRETTY,
     "9c8052efa68d7a26b0e8e0b6b3522264", "3590e8863db5b131be981f853ad7ce6556860cf3bb6c5f7180977fce3313acdb"),
    ({"accessKey": "kGp5uFHN", "action": "dr", "bizType": "4", "ts": DOC_TS}, DR_COMPACT,
     "ba43638ca8cfa7c2c5d4018d60680ecd", "fb9cf00bf9683d28b6d64d02d5adee18ca05a0c82f9b4619849926634017d476"),
    ({"accessKey": "kGp5uFHN", "action": "mo", "bizType": "4", "ts": DOC_TS}, MO_TEXT,
     "ec3a50bc492075fc7b837df778dc5d70", "b10dec22af8d180c02df16d89c15d5cbc0cab87959aa81c86e80dc1295d34701"),
]

DR_BODY = fixture_bytes("nxcloud", "dr.json")
MO_BODY = fixture_bytes("nxcloud", "mo.json")
RECEIPT = orjson.loads(DR_BODY)
ENVELOPE = Envelope(f"/sms/nxcloud/{NX_ACCESS_KEY}", {t: t.value for t in EventType})


@pytest.fixture
def provider(clock: FixedClock) -> Checked:
    return nxcloud_provider(clock)


def parse(provider: Checked, body: bytes | dict[str, Any], **signing: Any) -> list[Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return list(provider.parse(provider.verify(nx_callback(data, **signing))))


def rejected(provider: Checked, callback: RawCallback) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        provider.verify(callback)
    return caught.value


# --- the signature vectors --------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "md5", "sha256"), OFFICIAL)
def test_official_vectors_give_the_documented_md5_sign(body: str, md5: str, sha256: str) -> None:
    assert signature(OFFICIAL_HEADERS, body.encode("utf-8"), OFFICIAL_SECRET) == md5
    assert signature(OFFICIAL_HEADERS, body.encode("utf-8"), OFFICIAL_SECRET, "sha256") == sha256


@pytest.mark.parametrize(("headers", "body", "md5", "sha256"), COMPUTED)
def test_computed_callback_vectors_match(headers: dict[str, str], body: str, md5: str, sha256: str) -> None:
    assert signature(headers, body.encode("utf-8"), OFFICIAL_SECRET) == md5
    assert signature(headers, body.encode("utf-8"), OFFICIAL_SECRET, "sha256") == sha256


def test_fixtures_are_the_exact_bodies_of_the_vectors() -> None:
    assert len(DR_BODY) == 259
    assert DR_PRETTY.encode("utf-8") == DR_BODY
    assert MO_TEXT.encode("utf-8") == MO_BODY


def test_the_signature_covers_the_raw_bytes_not_the_json_value() -> None:
    signs = {signature(OFFICIAL_HEADERS, body.encode(), OFFICIAL_SECRET) for body, _, _ in OFFICIAL}
    assert len(signs) == 3  # same JSON value, three layouts, three signs


def test_the_documented_dr_callback_verifies_with_its_computed_sign() -> None:
    # The doc's push, header names lower-case as on the wire, signed with the test secret.
    provider = nxcloud_provider(FixedClock(int(DOC_TS) / 1000))
    headers = {"accesskey": "kGp5uFHN", "action": "dr", "biztype": "4", "ts": DOC_TS,
               "sign": "9c8052efa68d7a26b0e8e0b6b3522264", "content-type": "application/json"}
    verified = provider.verify(nx_callback(DR_BODY, headers))
    assert (verified.action, verified.biz_type) == ("dr", "4")
    [event] = events_of(provider.parse(verified))
    assert event.message_id == "fcf3432fd1834ccdac807a7cfb2d1fdf"


def test_the_documented_dr_callback_verifies_with_sha256_when_the_algorithm_header_says_so() -> None:
    provider = nxcloud_provider(FixedClock(int(DOC_TS) / 1000))
    headers = {"accesskey": "kGp5uFHN", "action": "dr", "biztype": "4", "ts": DOC_TS, "algorithm": "sha256",
               "sign": "3590e8863db5b131be981f853ad7ce6556860cf3bb6c5f7180977fce3313acdb"}
    assert provider.verify(nx_callback(DR_BODY, headers))


# --- verification ---------------------------------------------------------------------------------


def test_signed_dr_fixture_is_verified(provider: Checked) -> None:
    callback = nx_callback(DR_BODY)
    verified = provider.verify(callback)
    assert isinstance(verified, NxCloudVerified)
    assert verified.raw is callback
    assert verified.replay_key is not None and NX_SECRET not in verified.replay_key


@pytest.mark.parametrize("algorithm", ["sha256", "SHA256", " Sha256 "])
def test_sha256_signature_is_verified_and_the_algorithm_name_is_case_insensitive(
    provider: Checked, algorithm: str
) -> None:
    headers = nx_headers(DR_BODY, algorithm="sha256")
    headers["algorithm"] = algorithm
    assert provider.verify(nx_callback(DR_BODY, headers))


def test_algorithm_md5_named_explicitly_is_verified(provider: Checked) -> None:
    headers = {**nx_headers(DR_BODY), "algorithm": "MD5"}
    assert provider.verify(nx_callback(DR_BODY, headers))


def test_upper_case_sign_is_verified(provider: Checked) -> None:
    headers = nx_headers(DR_BODY)
    headers["sign"] = headers["sign"].upper()
    assert provider.verify(nx_callback(DR_BODY, headers))


def test_empty_body_is_signed_without_the_body_part(provider: Checked) -> None:
    headers = nx_headers(b"")
    expected = signature({"accessKey": NX_ACCESS_KEY, "action": "dr", "bizType": "4", "ts": str(SEED_MS)}, b"",
                         NX_SECRET)
    assert headers["sign"] == expected
    verified = provider.verify(nx_callback(b"", headers))
    with pytest.raises(MalformedCallbackError, match="empty") as caught:
        provider.parse(verified)
    assert caught.value.reason == "invalid_json"


def test_a_second_access_key_with_its_own_secret_is_verified(provider: Checked) -> None:
    assert provider.verify(nx_callback(DR_BODY, access_key=NX_OTHER_KEY, secret=NX_OTHER_SECRET))


def test_an_access_key_signed_with_another_keys_secret_is_rejected(provider: Checked) -> None:
    error = rejected(provider, nx_callback(DR_BODY, access_key=NX_OTHER_KEY, secret=NX_SECRET))
    assert error.reason == "bad_signature"


def test_an_unknown_access_key_is_rejected(provider: Checked) -> None:
    error = rejected(provider, nx_callback(DR_BODY, access_key="nobody", secret=NX_SECRET))
    assert (error.reason, error.status) == ("unknown_access_key", 403)
    assert "nobody" not in str(error)


@pytest.mark.parametrize("header", ["accesskey", "action", "biztype", "ts", "sign"])
def test_a_missing_signed_header_is_rejected(provider: Checked, header: str) -> None:
    headers = nx_headers(DR_BODY)
    del headers[header]
    error = rejected(provider, nx_callback(DR_BODY, headers))
    assert error.reason == "missing_credentials"
    assert error.status == 401


@pytest.mark.parametrize("algorithm", ["sha1", "hmac-sha256", "", "md4", "sha512"])
def test_an_unsupported_algorithm_is_rejected(provider: Checked, algorithm: str) -> None:
    headers = {**nx_headers(DR_BODY), "algorithm": algorithm}
    with pytest.raises(VerificationError, match="algorithm") as caught:
        provider.verify(nx_callback(DR_BODY, headers))
    assert caught.value.reason == "unsupported_algorithm"


# --- tampering --------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(position=st.integers(0, len(DR_BODY) - 1), flip=st.integers(1, 255))
def test_any_single_changed_body_byte_is_rejected(position: int, flip: int) -> None:
    provider = nxcloud_provider(FixedClock(SEED_MS / 1000))
    headers = nx_headers(DR_BODY)
    body = bytearray(DR_BODY)
    body[position] ^= flip
    with pytest.raises(VerificationError, match="sign") as caught:
        provider.verify(nx_callback(bytes(body), headers))
    assert caught.value.reason == "bad_signature"


@settings(max_examples=100, deadline=None)
@given(extra=st.binary(min_size=1, max_size=20), at_end=st.booleans())
def test_bytes_added_to_the_body_are_rejected(extra: bytes, at_end: bool) -> None:
    provider = nxcloud_provider(FixedClock(SEED_MS / 1000))
    headers = nx_headers(DR_BODY)
    body = DR_BODY + extra if at_end else extra + DR_BODY
    with pytest.raises(VerificationError, match="sign"):
        provider.verify(nx_callback(body, headers))


def test_a_truncated_body_is_rejected(provider: Checked) -> None:
    headers = nx_headers(DR_BODY)
    assert rejected(provider, nx_callback(DR_BODY[:-1], headers)).reason == "bad_signature"
    assert rejected(provider, nx_callback(b"", headers)).reason == "bad_signature"


@pytest.mark.parametrize(
    ("header", "value"),
    [("action", "mo"), ("biztype", "3"), ("ts", str(SEED_MS + 1)), ("ts", str(SEED_MS - 1)),
     ("accesskey", NX_OTHER_KEY)],
)
def test_each_signed_header_changed_is_rejected(provider: Checked, header: str, value: str) -> None:
    headers = {**nx_headers(DR_BODY), header: value}
    assert rejected(provider, nx_callback(DR_BODY, headers)).reason == "bad_signature"


def test_a_changed_sign_is_rejected(provider: Checked) -> None:
    headers = nx_headers(DR_BODY)
    sign = headers["sign"]
    for i in range(len(sign)):
        changed = sign[:i] + ("0" if sign[i] != "0" else "1") + sign[i + 1:]
        assert rejected(provider, nx_callback(DR_BODY, {**headers, "sign": changed})).reason == "bad_signature"
    for wrong in ("", sign[:-1], sign + "0", "z" * 32, "é" * 32):
        assert rejected(provider, nx_callback(DR_BODY, {**headers, "sign": wrong})).reason == "bad_signature"


def test_a_wrong_secret_is_rejected(provider: Checked) -> None:
    for secret in ("wrong", NX_SECRET + " ", NX_SECRET.upper(), ""):
        error = rejected(provider, nx_callback(DR_BODY, secret=secret))
        assert error.reason == "bad_signature"


def test_the_sign_of_the_other_algorithm_is_rejected(provider: Checked) -> None:
    md5_headers = nx_headers(DR_BODY)
    sha_headers = nx_headers(DR_BODY, algorithm="sha256")
    as_sha = {**md5_headers, "algorithm": "sha256"}
    as_md5 = {k: v for k, v in sha_headers.items() if k != "algorithm"}
    assert rejected(provider, nx_callback(DR_BODY, as_sha)).reason == "bad_signature"
    assert rejected(provider, nx_callback(DR_BODY, as_md5)).reason == "bad_signature"


@pytest.mark.parametrize("header", ["accesskey", "action", "biztype", "ts", "sign", "algorithm"])
def test_a_header_with_a_lone_surrogate_is_rejected_not_crashed_on(provider: Checked, header: str) -> None:
    headers = {**nx_headers(DR_BODY), header: "dr\ud800"}
    with pytest.raises(VerificationError):
        provider.verify(nx_callback(DR_BODY, headers))


def test_headers_not_signed_do_not_matter(provider: Checked) -> None:
    headers = {**nx_headers(DR_BODY), "content-type": "text/plain", "x-forwarded-for": "1.2.3.4", "other": "x"}
    assert provider.verify(nx_callback(DR_BODY, headers))


# --- the timestamp window --------------------------------------------------------------------------


@pytest.mark.parametrize("offset_ms", [-60_000, -1, 0, 1, 60_000])
def test_ts_within_60_seconds_of_the_clock_is_accepted(provider: Checked, offset_ms: int) -> None:
    assert provider.verify(nx_callback(DR_BODY, ts_ms=SEED_MS + offset_ms))


@pytest.mark.parametrize("offset_ms", [-60_001, 60_001, -3_600_000, 86_400_000])
def test_ts_outside_60_seconds_of_the_clock_is_rejected(provider: Checked, offset_ms: int) -> None:
    with pytest.raises(VerificationError, match="window") as caught:
        provider.verify(nx_callback(DR_BODY, ts_ms=SEED_MS + offset_ms))
    assert caught.value.reason == "stale_timestamp"


def test_ts_in_seconds_instead_of_milliseconds_is_rejected(provider: Checked) -> None:
    error = rejected(provider, nx_callback(DR_BODY, ts_ms=SEED_MS // 1000))
    assert error.reason == "stale_timestamp"


FULL_WIDTH_MS = "".join(chr(0xFF10 + int(d)) for d in "1612680840000")


@pytest.mark.parametrize("ts", ["", "abc", "1.6e12", "-1612680840000", FULL_WIDTH_MS, "99999999999999999"])
def test_a_signed_ts_that_is_not_milliseconds_is_rejected(provider: Checked, ts: str) -> None:
    signed = {"accessKey": NX_ACCESS_KEY, "action": "dr", "bizType": "4", "ts": ts}
    headers = {"accesskey": NX_ACCESS_KEY, "action": "dr", "biztype": "4", "ts": ts,
               "sign": signature(signed, DR_BODY, NX_SECRET)}
    with pytest.raises(VerificationError, match="ts") as caught:
        provider.verify(nx_callback(DR_BODY, headers))
    assert caught.value.reason == "stale_timestamp"


def test_the_window_follows_the_clock(provider: Checked, clock: FixedClock) -> None:
    callback = nx_callback(DR_BODY)
    clock.advance(61)
    assert rejected(provider, callback).reason == "stale_timestamp"


def test_the_window_is_configurable(clock: FixedClock) -> None:
    provider = nxcloud_provider(clock, timestamp_tolerance_seconds=300)
    assert provider.verify(nx_callback(DR_BODY, ts_ms=SEED_MS - 299_000))
    assert rejected(provider, nx_callback(DR_BODY, ts_ms=SEED_MS - 301_000)).reason == "stale_timestamp"


# --- replays ----------------------------------------------------------------------------------------


def test_the_same_callback_twice_is_a_replay(provider: Checked) -> None:
    callback = nx_callback(DR_BODY)
    provider.verify(callback)
    with pytest.raises(VerificationError, match="replay") as caught:
        provider.verify(callback)
    assert (caught.value.reason, caught.value.status) == ("replay", 403)


def test_a_replay_with_other_unsigned_headers_is_still_a_replay(provider: Checked) -> None:
    headers = nx_headers(DR_BODY)
    provider.verify(nx_callback(DR_BODY, headers))
    again = {**headers, "sign": headers["sign"].upper(), "content-type": "text/plain"}
    assert rejected(provider, nx_callback(DR_BODY, again, client="198.51.100.1")).reason == "replay"


def test_release_lets_the_providers_retry_through(provider: Checked) -> None:
    callback = nx_callback(DR_BODY)
    verified = provider.verify(callback)
    provider.release(verified)
    assert provider.verify(callback).replay_key == verified.replay_key
    assert rejected(provider, callback).reason == "replay"


def test_a_replay_is_refused_until_the_window_has_passed(provider: Checked, clock: FixedClock) -> None:
    callback = nx_callback(DR_BODY)
    provider.verify(callback)
    clock.advance(60)
    assert rejected(provider, callback).reason == "replay"
    clock.advance(0.001)
    assert rejected(provider, callback).reason == "stale_timestamp"


def test_different_bodies_at_the_same_ts_are_not_replays(provider: Checked) -> None:
    provider.verify(nx_callback(DR_BODY))
    provider.verify(nx_callback(MO_BODY, action="mo"))
    provider.verify(nx_callback(DR_BODY, access_key=NX_OTHER_KEY, secret=NX_OTHER_SECRET))


def test_the_replay_memory_is_bounded_by_replay_cache_size(clock: FixedClock) -> None:
    provider = nxcloud_provider(clock, replay_cache_size=3)
    callbacks = [nx_callback(DR_BODY, ts_ms=SEED_MS - i) for i in range(5)]
    for callback in callbacks:
        provider.verify(callback)
    cache = provider.replay_cache
    assert isinstance(cache, ReplayCache)
    assert len(cache) == 3
    assert cache.evicted == 2
    assert rejected(provider, callbacks[-1]).reason == "replay"  # the newest are still remembered


def test_a_rejected_callback_reserves_nothing(provider: Checked) -> None:
    rejected(provider, nx_callback(DR_BODY, secret="wrong"))
    rejected(provider, nx_callback(DR_BODY, ts_ms=SEED_MS - 120_000))
    assert len(provider.replay_cache) == 0


# --- source allowlist -------------------------------------------------------------------------------


def test_a_client_outside_the_allowlist_is_rejected_before_the_signature(clock: FixedClock) -> None:
    provider = nxcloud_provider(clock, allowed_networks=["203.0.113.0/24"])
    assert provider.verify(nx_callback(DR_BODY, client="203.0.113.9"))
    error = rejected(provider, nx_callback(MO_BODY, action="mo", client="198.51.100.9"))
    assert (error.reason, error.status) == ("source_not_allowed", 403)


# --- parsing ----------------------------------------------------------------------------------------


def test_signed_dr_fixture_gives_one_delivery_receipt(provider: Checked) -> None:
    [event] = parse(provider, DR_BODY)
    assert isinstance(event, DeliveryReceipt)
    assert event.provider == "nxcloud"
    assert event.message_id == "fcf3432fd1834ccdac807a7cfb2d1fdf"
    assert event.status is Status.DELIVERED
    assert event.status_code == "DELIVRD"
    assert event.status_detail is None
    assert event.to == "+18184505018"
    assert event.from_ == "+12347200160"
    assert event.occurred_at == datetime(2021, 2, 7, 6, 54, tzinfo=UTC)  # 14:54 in Asia/Shanghai
    assert event.received_at == SEED_TIME
    assert event.segments == 1
    assert event.price == "0.0360"
    assert event.raw == RECEIPT


def test_signed_mo_fixture_gives_one_inbound_message(provider: Checked) -> None:
    [event] = parse(provider, MO_BODY, action="mo")
    assert isinstance(event, InboundMessage)
    assert event.type is EventType.INBOUND_MESSAGE
    assert event.message_id == event.subject == "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    assert event.from_ == event.key == "+18184505018"
    assert event.to == "+12347200160"
    assert event.text == "你好 STOP"
    assert event.occurred_at == datetime(2021, 2, 7, 6, 54, tzinfo=UTC)
    assert event.segments == 1 and event.price == "0.0000"


@pytest.mark.parametrize(
    ("sms_status", "status"),
    [("DELIVRD", Status.DELIVERED), ("delivrd", Status.DELIVERED), ("UNDELIVR", Status.UNDELIVERED),
     ("UNDELIV", Status.UNDELIVERED), ("REJECTD", Status.UNDELIVERED), ("EXPIRED", Status.UNDELIVERED),
     ("ACCEPTD", Status.UNKNOWN), ("", Status.UNKNOWN)],
)
def test_sms_status_maps_and_is_kept_verbatim(provider: Checked, sms_status: str, status: Status) -> None:
    [event] = parse(provider, {**RECEIPT, "smsStatus": sms_status})
    assert event.status is status
    assert event.status_code == sms_status


@pytest.mark.parametrize(("given", "expected"), [("18184505018", "+18184505018"), ("+18184505018", "+18184505018"),
                                                  ("0018184505018", "+18184505018"), ("1 818-450-5018", "+18184505018"),
                                                  ("SHORTCODE", "SHORTCODE")])
def test_numbers_with_or_without_plus_become_e164(provider: Checked, given: str, expected: str) -> None:
    [event] = parse(provider, {**RECEIPT, "toPhone": given})
    assert event.to == expected


def test_missing_type_is_tolerated_and_action_decides_the_kind(provider: Checked) -> None:
    assert "type" not in RECEIPT
    [receipt] = parse(provider, {**RECEIPT, "type": "0"})  # the doc shows type 0 on a receipt
    [message] = parse(provider, {**RECEIPT, "type": "1"}, action="mo")
    assert isinstance(receipt, DeliveryReceipt)
    assert isinstance(message, InboundMessage)


def test_size_and_price_as_strings_or_numbers_are_kept_as_text(provider: Checked) -> None:
    [as_text] = parse(provider, {**RECEIPT, "size": " 2 ", "price": "0.0360"})
    [as_numbers] = parse(provider, {**RECEIPT, "size": 2, "price": 0.036, "messageId": "m2"})
    assert (as_text.segments, as_text.price) == (2, "0.0360")
    assert (as_numbers.segments, as_numbers.price) == (2, "0.036")
    assert isinstance(as_numbers.price, str)


def test_empty_size_price_and_sender_are_absent(provider: Checked) -> None:
    [event] = parse(provider, {**RECEIPT, "size": "", "price": "", "fromPhone": ""})
    assert (event.segments, event.price, event.from_) == (None, None, None)


@pytest.mark.parametrize(
    ("zone", "expected"),
    [("Asia/Shanghai", datetime(2021, 2, 7, 6, 54, tzinfo=UTC)), ("UTC", datetime(2021, 2, 7, 14, 54, tzinfo=UTC)),
     ("America/New_York", datetime(2021, 2, 7, 19, 54, tzinfo=UTC))],
)
def test_receive_time_without_zone_is_read_in_the_instance_time_zone(
    clock: FixedClock, zone: str, expected: datetime
) -> None:
    [event] = parse(nxcloud_provider(clock, timezone=zone), DR_BODY)
    assert event.occurred_at == expected


def test_receive_time_with_its_own_offset_keeps_it(provider: Checked) -> None:
    [event] = parse(provider, {**RECEIPT, "receiveTime": "2021-02-07 14:54:00+00:00"})
    assert event.occurred_at == datetime(2021, 2, 7, 14, 54, tzinfo=UTC)


def test_inbound_without_message_id_or_receiver_is_tolerated(provider: Checked) -> None:
    body = {k: v for k, v in orjson.loads(MO_BODY).items() if k not in ("messageId", "toPhone", "smsStatus")}
    [event] = parse(provider, body, action="mo")
    assert event.message_id is None and event.to is None and event.subject is None


def test_include_raw_off_leaves_raw_out(clock: FixedClock) -> None:
    provider = nxcloud_provider(clock, include_raw=False)
    [event] = parse(provider, DR_BODY)
    assert recorded_raw(provider.settings, event) is None


@pytest.mark.parametrize(("header", "value"), [("biztype", "3"), ("biztype", "1"), ("action", "send"),
                                               ("action", "DR"), ("action", "")])
def test_an_authentic_callback_of_another_kind_is_unsupported(
    provider: Checked, header: str, value: str
) -> None:
    signing: dict[str, Any] = {"biz_type": value} if header == "biztype" else {"action": value}
    verified = provider.verify(nx_callback(DR_BODY, **signing))
    with pytest.raises(MalformedCallbackError, match=header.replace("biztype", "bizType")) as caught:
        provider.parse(verified)
    assert caught.value.reason == "unsupported_callback"


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"[]", "wrong_shape"), (b"[{}]", "wrong_shape"), (b'"x"', "wrong_shape"), (b"{", "invalid_json"),
     (b"\xff{}", "invalid_utf8"), (b"   ", "invalid_json")],
)
def test_authentic_bodies_of_the_wrong_shape_are_malformed(provider: Checked, body: bytes, reason: str) -> None:
    with pytest.raises(MalformedCallbackError) as caught:
        parse(provider, body)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("changes", "reason", "message"),
    [
        ({"messageId": ...}, "missing_field", "messageId: required"),
        ({"messageId": ""}, "invalid_field", "messageId: must not be empty"),
        ({"toPhone": ...}, "missing_field", "toPhone: required"),
        ({"smsStatus": ...}, "missing_field", "smsStatus: required"),
        ({"receiveTime": ...}, "missing_field", "receiveTime: required"),
        ({"receiveTime": "07/02/2021 14:54"}, "invalid_field", "receiveTime: must be a time"),
        ({"size": "one"}, "invalid_field", "size: must be a non-negative integer"),
        ({"size": "-1"}, "invalid_field", "size: must be a non-negative integer"),
        ({"price": "cheap"}, "invalid_field", "price: must be a"),
        ({"price": "NaN"}, "invalid_field", "price: must be a"),
        ({"price": "Infinity"}, "invalid_field", "price: must be a"),
        ({"toPhone": ["1"]}, "invalid_field", "toPhone: must be a string"),
        ({"messageId": True}, "invalid_field", "messageId: must be a string"),
    ],
)
def test_receipts_with_missing_or_wrong_fields_are_malformed(
    provider: Checked, changes: dict[str, Any], reason: str, message: str
) -> None:
    body = {k: v for k, v in {**RECEIPT, **changes}.items() if v is not ...}
    with pytest.raises(MalformedCallbackError, match=message) as caught:
        parse(provider, body)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "receive_time", ["0001-01-01 00:00:00", "0001-01-01 07:59:59", "9999-12-31 23:59:59-12:00", "2021-02-30 10:00:00"]
)
def test_receive_times_outside_the_calendar_are_malformed(provider: Checked, receive_time: str) -> None:
    with pytest.raises(MalformedCallbackError, match="receiveTime: must be a time") as caught:
        parse(provider, {**RECEIPT, "receiveTime": receive_time})
    assert caught.value.reason == "invalid_field"


@pytest.mark.parametrize("price", ["0.", ".5", "1e5", "+1", "1_0", "\u0661\u066b\u0665", "0x10", "1.2.3", "- 1"])
def test_prices_that_are_not_plain_decimals_are_malformed(provider: Checked, price: str) -> None:
    with pytest.raises(MalformedCallbackError, match="price: must be a plain decimal") as caught:
        parse(provider, {**RECEIPT, "price": price})
    assert caught.value.reason == "invalid_field"


def test_inbound_message_with_an_empty_sender_is_malformed(provider: Checked) -> None:
    with pytest.raises(MalformedCallbackError, match="fromPhone: must not be empty") as caught:
        parse(provider, {**orjson.loads(MO_BODY), "fromPhone": ""}, action="mo")
    assert caught.value.reason == "invalid_field"


@pytest.mark.parametrize("field", ["fromPhone", "content", "receiveTime"])
def test_inbound_messages_missing_a_required_field_are_malformed(provider: Checked, field: str) -> None:
    body = {k: v for k, v in orjson.loads(MO_BODY).items() if k != field}
    with pytest.raises(MalformedCallbackError, match=f"{field}: required"):
        parse(provider, body, action="mo")


# --- what parse() accepts, the schemas accept ----------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(price=st.text(max_size=12) | st.from_regex(r"\A\s?[+-]?[0-9_]{0,4}(\.[0-9]*)?(e[+-]?[0-9])?\s?\Z"))
def test_any_price_parse_accepts_is_a_plain_decimal_string(price: str) -> None:
    provider = nxcloud_provider(FixedClock(SEED_MS / 1000))
    try:
        [event] = parse(provider, {**RECEIPT, "price": price})
    except MalformedCallbackError as error:
        assert error.reason == "invalid_field"
        return
    raw = assert_valid_record(ENVELOPE.to_record(event))
    assert raw["data"]["price"] == event.price


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    offset=st.sampled_from(["", "Z", "+14:00", "-12:00", "+08:00"]),
    zone=st.sampled_from(["Asia/Shanghai", "Pacific/Kiritimati", "Etc/GMT+12", "UTC"]),
)
@example(moment=datetime(1, 1, 1), offset="", zone="Asia/Shanghai")
@example(moment=datetime(9999, 12, 31, 23, 59, 59), offset="-12:00", zone="UTC")
@example(moment=datetime(999, 6, 1), offset="", zone="UTC")
def test_any_receive_time_either_parses_to_utc_or_is_malformed(moment: datetime, offset: str, zone: str) -> None:
    provider = nxcloud_provider(FixedClock(SEED_MS / 1000), timezone=zone)
    text = moment.replace(microsecond=0).isoformat(sep=" ") + offset
    try:
        [event] = parse(provider, {**RECEIPT, "receiveTime": text})
    except MalformedCallbackError as error:
        assert error.reason == "invalid_field"
        return
    assert event.occurred_at.utcoffset() == timedelta(0)
    raw = assert_valid_record(ENVELOPE.to_record(event))
    assert raw["time"] == format_time(event.occurred_at)
