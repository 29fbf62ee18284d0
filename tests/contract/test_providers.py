"""The Provider contract, run against every kind in PROVIDERS.

verify() returns a VerifiedCallback or raises VerificationError; parse() returns events or raises
MalformedCallbackError; nothing else, whatever the bytes, headers, token or client address.
Every event parse() returns becomes a record the official SDK and the shipped schemas accept.
Replies are in the provider's own format.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.clock import FixedClock
from bridge.envelope import Envelope
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, InboundMessage, SmsEvent
from bridge.providers import PROVIDERS, Provider, build
from bridge.providers.base import RawCallback, Reply, VerifiedCallback
from tests.conftest import NX_ACCESS_KEY, NX_OTHER_KEY, NX_OTHER_SECRET, NX_SECRET, SEED_EPOCH, TENCENT_TOKEN
from tests.conftest import make_settings as make_bridge_settings
from tests.helpers import SEED_MS, assert_valid_record, nx_headers

KINDS = sorted(PROVIDERS)
SETTINGS = make_bridge_settings()
INSTANCES = {p.kind: p for p in SETTINGS.providers}
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_provider(kind: str) -> Provider:
    """A fresh instance (fresh replay memory) of the test configuration's instance of `kind`."""
    return build(INSTANCES[kind], FixedClock(SEED_EPOCH))


def envelope_for(provider: Provider) -> Envelope:
    return Envelope(provider.settings.cloudevents_source, SETTINGS.kafka.topics.by_type(), "com.example")


def run_contract(provider: Provider, callback: RawCallback) -> Sequence[SmsEvent] | None:
    """verify then parse, asserting that only the contract's outcomes occur; the events, if any."""
    try:
        verified = provider.verify(callback)
    except VerificationError as error:
        assert error.status in (401, 403)
        return None
    assert isinstance(verified, VerifiedCallback)
    assert verified.raw is callback
    try:
        events = provider.parse(verified)
    except MalformedCallbackError as error:
        assert error.status == 400
        return None
    assert events, "parse() returned no events and no error"
    assert all(isinstance(e, DeliveryReceipt | InboundMessage) for e in events)
    assert all(e.provider == provider.kind and e.received_at == callback.received_at for e in events)
    return events


def assert_publishable(provider: Provider, events: Sequence[SmsEvent]) -> None:
    """Every event becomes a valid record, or the envelope refuses it as malformed (too large)."""
    for event in events:
        try:
            record = envelope_for(provider).to_record(event)
        except MalformedCallbackError as error:
            assert error.reason == "record_too_large"
            continue
        assert_valid_record(record)


def test_every_provider_kind_has_an_instance_in_the_test_configuration() -> None:
    assert set(INSTANCES) == set(PROVIDERS)
    for kind, cls in PROVIDERS.items():
        assert cls.kind == kind
        assert isinstance(make_provider(kind), cls)


# --- strategies -----------------------------------------------------------------------------------

RECEIVED = datetime.fromtimestamp(SEED_EPOCH, UTC)
# Any str, lone surrogates included (st.text() leaves them out by default): RawCallback holds str.
any_text = st.text(st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"]),
                   max_size=40)
HEADER_NAMES = ["accesskey", "action", "biztype", "ts", "sign", "algorithm", "content-type", "x-forwarded-for"]
clients = st.none() | st.ip_addresses().map(str) | any_text
tokens = st.none() | st.just(TENCENT_TOKEN) | any_text
header_values = (
    any_text
    | st.sampled_from([NX_ACCESS_KEY, NX_OTHER_KEY, "dr", "mo", "4", str(SEED_MS), "md5", "sha256", "SHA256"])
    | st.integers(0, 2 * SEED_MS).map(str)
    | st.from_regex(r"\A[0-9a-fA-F]{32}\Z")
)
any_headers = st.dictionaries(st.sampled_from(HEADER_NAMES) | any_text, header_values, max_size=8)



def json_text(**kwargs: Any) -> st.SearchStrategy[str]:
    """Text that JSON can carry (no lone surrogates)."""
    return st.text(st.characters(blacklist_categories=("Cs",)), **kwargs)


_int64 = st.integers(-(2**63), 2**63 - 1)
_values: st.SearchStrategy[Any] = st.none() | st.booleans() | _int64 | st.floats() | json_text(max_size=30)


def _times(low: int, high: int) -> st.SearchStrategy[str]:
    moments = st.datetimes(min_value=datetime(low, 1, 1), max_value=datetime(high, 12, 31))
    return moments.map(lambda d: d.replace(microsecond=0).isoformat(sep=" "))


_phones = st.from_regex(r"\A\+?[0-9]{1,15}\Z")
_odd_values = _values | _times(1, 9999) | st.from_regex(r"\A\+?[0-9 -]{0,15}\Z") | st.sampled_from(
    ["", " ", "0.", "1e5", "+1", "NaN", "-0", "0001-01-01 00:00:00", "9999-12-31 23:59:59-12:00"]
)


def records(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Records of plausible fields, of which a few are replaced by odd values or dropped.

    The simplest example (nothing replaced or dropped) is a valid record, so parse()'s success
    path is reached in every run, and its error paths by the replacements.
    """
    names = sorted(fields)

    def mutate(base: dict[str, Any], replaced: dict[str, Any], dropped: set[str]) -> dict[str, Any]:
        return {k: v for k, v in {**base, **replaced}.items() if k not in dropped}

    return st.builds(
        mutate,
        st.fixed_dictionaries(fields),
        st.dictionaries(st.sampled_from(names), _odd_values, max_size=2),
        st.sets(st.sampled_from(names), max_size=2),
    )


nx_bodies = records(
    {
        "messageId": json_text(min_size=1, max_size=32),
        "type": st.sampled_from(["0", "1"]),
        "toPhone": _phones,
        "fromPhone": _phones,
        "content": json_text(max_size=60),
        "size": st.integers(0, 10).map(str),
        "price": st.from_regex(r"\A-?[0-9]{1,4}(\.[0-9]{1,4})?\Z"),
        "receiveTime": _times(1970, 2100),
        "smsStatus": st.sampled_from(["DELIVRD", "UNDELIVR", "UNDELIV", "EXPIRED", "ACCEPTD"]),
    }
)
tencent_reports = records(
    {
        "user_receive_time": _times(1970, 2100),
        "nationcode": st.sampled_from(["86", "1", "+852", ""]),
        "mobile": _phones,
        "report_status": st.sampled_from(["SUCCESS", "FAIL", "PENDING"]),
        "errmsg": st.sampled_from(["DELIVRD", "MK:0001", "-106"]),
        "description": json_text(max_size=30),
        "sid": json_text(min_size=1, max_size=32),
        "ext": json_text(max_size=10),
    }
)
tencent_replies = records(
    {
        "extend": json_text(max_size=8),
        "mobile": _phones,
        "nationcode": st.sampled_from(["86", "1"]),
        "sign": json_text(max_size=8),
        "text": json_text(max_size=60),
        "time": st.integers(0, 2**33) | st.integers(0, 2**33).map(str),
    }
)
json_bodies = st.one_of(
    nx_bodies.map(orjson.dumps),
    st.lists(tencent_reports, min_size=1, max_size=4).map(orjson.dumps),
    tencent_replies.map(orjson.dumps),
    st.recursive(_values, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_text(max_size=5), inner,
                                                                                        max_size=3)).map(
        lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS)
    ),
)
any_bodies = st.binary(max_size=300) | json_bodies


# --- verify and parse are total ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@PROPERTY
@given(body=any_bodies, headers=any_headers, token=tokens, client=clients)
def test_verify_and_parse_raise_only_callback_errors_for_any_input(
    kind: str, body: bytes, headers: dict[str, str], token: str | None, client: str | None
) -> None:
    provider = make_provider(kind)
    callback = RawCallback(body=body, headers=headers, client=client, received_at=RECEIVED, url_token=token)
    events = run_contract(provider, callback)
    if events:
        assert_publishable(provider, events)


@PROPERTY
@given(body=any_bodies, client=clients)
def test_tencent_callbacks_with_the_right_token_are_parsed_or_malformed(body: bytes, client: str | None) -> None:
    provider = make_provider("tencent")
    callback = RawCallback(body=body, headers={}, client=client, received_at=RECEIVED, url_token=TENCENT_TOKEN)
    verified = provider.verify(callback)  # no allowlist in the test configuration: the token suffices
    try:
        events = provider.parse(verified)
    except MalformedCallbackError:
        return
    assert_publishable(provider, events)


@PROPERTY
@given(
    body=any_bodies,
    action=st.sampled_from(["dr", "mo"]) | st.text(max_size=5),
    biz_type=st.sampled_from(["4"]) | st.text(max_size=3),
    algorithm=st.sampled_from(["md5", "sha256"]),
    key=st.sampled_from([(NX_ACCESS_KEY, NX_SECRET), (NX_OTHER_KEY, NX_OTHER_SECRET)]),
    skew_ms=st.integers(-60_000, 60_000),
)
def test_nxcloud_properly_signed_callbacks_are_verified_then_parsed_or_malformed(
    body: bytes, action: str, biz_type: str, algorithm: str, key: tuple[str, str], skew_ms: int
) -> None:
    provider = make_provider("nxcloud")
    headers = nx_headers(body, action=action, biz_type=biz_type, algorithm=algorithm, access_key=key[0],
                         secret=key[1], ts_ms=SEED_MS + skew_ms)
    callback = RawCallback(body=body, headers=headers, client="203.0.113.1", received_at=RECEIVED)
    verified = provider.verify(callback)
    try:
        events = provider.parse(verified)
    except MalformedCallbackError:
        return
    assert action in ("dr", "mo") and biz_type == "4"
    assert_publishable(provider, events)


@PROPERTY
@given(body=nx_bodies.map(orjson.dumps), position=st.integers(0, 10_000), flip=st.integers(1, 255))
def test_nxcloud_tampered_callbacks_never_reach_parse(body: bytes, position: int, flip: int) -> None:
    provider = make_provider("nxcloud")
    headers = nx_headers(body)
    tampered = bytearray(body)
    tampered[position % len(tampered)] ^= flip
    with pytest.raises(VerificationError, match="sign"):
        provider.verify(RawCallback(bytes(tampered), headers, "203.0.113.1", RECEIVED))


@PROPERTY
@given(header=st.sampled_from(["accesskey", "action", "biztype", "ts", "sign", "algorithm"]), value=any_text)
def test_nxcloud_a_signed_callback_with_any_header_replaced_is_rejected(header: str, value: str) -> None:
    provider = make_provider("nxcloud")
    body = orjson.dumps({"messageId": "m1"})
    headers = nx_headers(body)
    if value == headers.get(header) or (header == "algorithm" and value.strip().lower() == "md5"):
        return  # not a change
    if header == "sign" and value.strip().lower() == headers["sign"]:
        return  # the same sign, spelled differently
    with pytest.raises(VerificationError):
        provider.verify(RawCallback(body, {**headers, header: value}, "203.0.113.1", RECEIVED))


@PROPERTY
@given(token=any_text)
def test_tencent_any_token_but_the_configured_one_is_rejected(token: str) -> None:
    provider = make_provider("tencent")
    callback = RawCallback(b"[]", {}, None, RECEIVED, url_token=token)
    if token == TENCENT_TOKEN:
        assert provider.verify(callback)
        return
    with pytest.raises(VerificationError, match="token") as caught:
        provider.verify(callback)
    assert caught.value.reason == "bad_token"


# --- replies ----------------------------------------------------------------------------------------

ERRORS: list[CallbackError] = [
    VerificationError("bad_signature", "header sign: does not match"),
    VerificationError("source_not_allowed", "source address is not in allowed_networks", status=403),
    MalformedCallbackError("invalid_json", "body is not valid JSON"),
    CallbackError("internal_error", "internal error", status=500),
    CallbackError("timeout", "not stored; retry later", status=503),
]
SUCCESS_FORMAT: dict[str, Callable[[Reply], bool]] = {
    "tencent": lambda r: r.media_type == "application/json" and orjson.loads(r.body) == {"result": 0, "errmsg": "OK"},
    "nxcloud": lambda r: r.media_type.startswith("text/plain") and r.body == b"success",
}
FAILURE_FORMAT: dict[str, Callable[[Reply], bool]] = {
    "tencent": lambda r: r.media_type == "application/json" and orjson.loads(r.body)["result"] != 0
    and isinstance(orjson.loads(r.body)["errmsg"], str),
    "nxcloud": lambda r: r.media_type.startswith("text/plain") and r.body == b"error",
}


def test_every_provider_kind_has_its_reply_formats_here() -> None:
    assert set(SUCCESS_FORMAT) == set(FAILURE_FORMAT) == set(PROVIDERS)


@pytest.mark.parametrize("kind", KINDS)
def test_accepted_reply_is_200_in_the_providers_success_format(kind: str) -> None:
    reply = make_provider(kind).accepted()
    assert reply.status == 200
    assert SUCCESS_FORMAT[kind](reply)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("error", ERRORS, ids=[e.reason for e in ERRORS])
def test_rejected_reply_has_the_errors_status_in_the_providers_failure_format(kind: str, error: CallbackError) -> None:
    reply = make_provider(kind).rejected(error)
    assert reply.status == error.status
    assert SUCCESS_FORMAT[kind](reply) is False
    assert FAILURE_FORMAT[kind](reply)


@pytest.mark.parametrize("kind", KINDS)
def test_replies_never_carry_secrets(kind: str) -> None:
    provider = make_provider(kind)
    replies = [provider.accepted(), *(provider.rejected(e) for e in ERRORS)]
    for reply in replies:
        text = reply.body.decode("utf-8") + repr(reply.headers)
        assert TENCENT_TOKEN not in text and NX_SECRET not in text and NX_OTHER_SECRET not in text


@pytest.mark.parametrize("kind", KINDS)
def test_release_of_a_verified_callback_is_safe_to_call(kind: str) -> None:
    provider = make_provider(kind)
    body = b'{"a":1}'
    callback = RawCallback(body, nx_headers(body), "203.0.113.1", RECEIVED, url_token=TENCENT_TOKEN)
    verified = provider.verify(callback)
    provider.release(verified)
    provider.release(verified)  # idempotent
    assert provider.verify(callback).raw is callback  # released: the retry is verified again



def _parses(provider: Provider, callback: RawCallback, event_type: type) -> bool:
    try:
        events = provider.parse(provider.verify(callback))
    except (VerificationError, MalformedCallbackError):
        return False
    return any(isinstance(e, event_type) for e in events)


@pytest.mark.parametrize(
    ("kind", "strategy", "event_type", "signing"),
    [
        ("nxcloud", nx_bodies, DeliveryReceipt, {"action": "dr"}),
        ("nxcloud", nx_bodies, InboundMessage, {"action": "mo"}),
        ("tencent", st.lists(tencent_reports, min_size=1, max_size=2), DeliveryReceipt, {}),
        ("tencent", tencent_replies, InboundMessage, {}),
    ],
)
def test_the_generated_bodies_reach_the_success_path_of_parse(
    kind: str, strategy: st.SearchStrategy[Any], event_type: type, signing: dict[str, str]
) -> None:
    # Guards the properties above against strategies that reach only one of parse()'s paths.
    def parsed(document: Any) -> bool:
        body = orjson.dumps(document)
        headers = nx_headers(body, **signing) if kind == "nxcloud" else {}
        return _parses(make_provider(kind), RawCallback(body, headers, None, RECEIVED, TENCENT_TOKEN), event_type)

    outcomes: Counter[bool] = Counter()

    @settings(max_examples=100, database=None, deadline=None)
    @given(document=strategy)
    def sample(document: Any) -> None:
        outcomes[parsed(document)] += 1

    sample()
    assert outcomes[True] >= 10, outcomes
    assert outcomes[False] >= 10, outcomes
