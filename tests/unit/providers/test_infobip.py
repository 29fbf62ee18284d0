"""Infobip SMS: URL token, optional HTTP Basic, `results` batches of delivery reports and inbound messages."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from bridge.clock import FixedClock
from bridge.config import Settings, parse
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, InboundMessage, Status
from bridge.http.app import create_app
from bridge.http.lifecycle import Lifecycle
from bridge.kafka.envelope import KafkaRecord
from bridge.providers import PROVIDERS
from bridge.providers.base import BadReport, RawCallback, Verified
from bridge.providers.infobip import MAX_REPORTS, STATUSES, InfobipProvider, InfobipSettings
from tests.conftest import fixture_bytes
from tests.fakes import FakePublisher
from tests.helpers import SEED_TIME, Checked, assert_valid_record

TOKEN = "test-infobip-token-0123456789abcdef"
USER, PASSWORD = "infobip-hooks", "pässword-0123"
V3 = fixture_bytes("infobip", "delivery-report-v3.json")
V2 = fixture_bytes("infobip", "delivery-report-v2.json")
MO = fixture_bytes("infobip", "inbound.json")
REPORT: dict[str, Any] = orjson.loads(V3)["results"][0]
MESSAGE: dict[str, Any] = orjson.loads(MO)["results"][0]
BASIC = {"basic_username": USER, "basic_password": PASSWORD}


def instance(**overrides: Any) -> dict[str, Any]:
    return {"kind": "infobip", "name": "infobip-test", "path": "/callbacks/infobip/test", "url_token": TOKEN,
            **overrides}


def provider(clock: FixedClock, **overrides: Any) -> Checked:
    return Checked(InfobipProvider(InfobipSettings.model_validate(instance(**overrides)), clock), clock)


@pytest.fixture
def infobip(clock: FixedClock) -> Checked:
    return provider(clock)


def authorization(user: str, password: str, scheme: str = "Basic") -> str:
    return f"{scheme} " + base64.b64encode(f"{user}:{password}".encode()).decode()


def raw(body: bytes, token: str | None = TOKEN, *, client: str | None = "203.0.113.7",
        auth: str | None = None) -> RawCallback:
    headers = {"content-type": "application/json"} | ({"authorization": auth} if auth is not None else {})
    return RawCallback(body=body, headers=headers, client=client, received_at=SEED_TIME, url_token=token)


def body_of(*reports: Any, **envelope: Any) -> bytes:
    return orjson.dumps({"results": list(reports), **envelope})


def items(infobip: Checked, body: bytes) -> list[Any]:
    return list(infobip.parse(infobip.verify(raw(body))))


def events(infobip: Checked, body: bytes) -> list[Any]:
    """The events; the first bad report's error raised, as if it were the only report."""
    found = items(infobip, body)
    for item in found:
        if isinstance(item, BadReport):
            raise item.error
    return found


def report(**changes: Any) -> dict[str, Any]:
    out = {**REPORT, **changes}
    return {k: v for k, v in out.items() if v is not ...}


def status(group_id: int, group_name: str, id_: int, name: str) -> dict[str, Any]:
    return {"groupId": group_id, "groupName": group_name, "id": id_, "name": name, "description": name.lower()}


# --- verification -----------------------------------------------------------------------------------


def test_the_right_url_token_is_verified_with_nothing_signed(infobip: Checked) -> None:
    callback = raw(V3)
    verified = infobip.verify(callback)
    assert isinstance(verified, Verified) and verified.raw is callback
    assert (verified.signed_at, verified.replay_key) == (None, None)


@pytest.mark.parametrize("token", ["", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), " " + TOKEN, "\ud800", "tést" + TOKEN])
def test_a_wrong_url_token_is_refused(infobip: Checked, token: str) -> None:
    with pytest.raises(VerificationError, match="token does not match") as caught:
        infobip.verify(raw(V3, token=token))
    assert (caught.value.reason, caught.value.status) == ("bad_token", 401)


def test_no_url_token_is_refused(infobip: Checked) -> None:
    with pytest.raises(VerificationError, match="no token") as caught:
        infobip.verify(raw(V3, token=None))
    assert (caught.value.reason, caught.value.status) == ("missing_credentials", 401)


def test_a_caller_outside_the_allowlist_is_refused_even_with_the_token(clock: FixedClock) -> None:
    infobip = provider(clock, allowed_networks=["193.105.74.0/24"])
    assert infobip.verify(raw(V3, client="193.105.74.9"))
    with pytest.raises(VerificationError, match="allowed_networks") as caught:
        infobip.verify(raw(V3, client="203.0.113.7"))
    assert caught.value.status == 403


def test_basic_credentials_are_verified_when_configured(clock: FixedClock) -> None:
    infobip = provider(clock, **BASIC)
    assert infobip.verify(raw(V3, auth=authorization(USER, PASSWORD)))
    assert infobip.verify(raw(V3, auth=authorization(USER, PASSWORD, "basic")))


@pytest.mark.parametrize(
    ("auth", "reason"),
    [
        (None, "missing_credentials"),
        ("", "missing_credentials"),
        ("Basic ", "missing_credentials"),
        ("Bearer abc", "missing_credentials"),
        ("Basic %%%", "bad_token"),
        ("Basic é", "bad_token"),
        (authorization(USER, "password-0123"), "bad_token"),
        (authorization(USER.upper(), PASSWORD), "bad_token"),
        (authorization(USER, PASSWORD + " "), "bad_token"),
        ("Basic " + base64.b64encode(USER.encode()).decode(), "bad_token"),
    ],
)
def test_wrong_or_missing_basic_credentials_are_refused_even_with_the_token(
    clock: FixedClock, auth: str | None, reason: str
) -> None:
    infobip = provider(clock, **BASIC)
    with pytest.raises(VerificationError) as caught:
        infobip.verify(raw(V3, auth=auth))
    assert (caught.value.reason, caught.value.status) == (reason, 401)
    reply = infobip.rejected(caught.value)
    assert reply.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert PASSWORD not in reply.body.decode() and USER not in reply.body.decode()


def test_right_basic_credentials_do_not_stand_in_for_the_url_token(clock: FixedClock) -> None:
    with pytest.raises(VerificationError, match="token"):
        provider(clock, **BASIC).verify(raw(V3, token="wrong-token-0123456789abcdef", auth=authorization(USER,
                                                                                                        PASSWORD)))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"url_token": "x" * 15}, "at least 16 characters"),
        ({"basic_username": "u"}, "go together"),
        ({"basic_password": "p"}, "go together"),
        ({"basic_username": "u:x", "basic_password": "p"}, "must not contain ':'"),
    ],
)
def test_settings_refuse_a_short_token_and_half_basic_credentials(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        InfobipSettings.model_validate(instance(**overrides))
    settings_ = InfobipSettings.model_validate(instance(**BASIC))
    assert TOKEN not in repr(settings_) and PASSWORD not in repr(settings_)


# --- delivery reports --------------------------------------------------------------------------------


def test_the_sdks_v3_delivery_report_gives_a_receipt_with_every_field(infobip: Checked) -> None:
    [event] = events(infobip, V3)
    assert isinstance(event, DeliveryReceipt)
    assert (event.provider, event.message_id, event.key, event.subject) == ("infobip",) + ("MESSAGE-ID-123-xyz",) * 3
    assert (event.status, event.status_code) == (Status.DELIVERED, "DELIVERED_TO_HANDSET")
    assert event.status_detail == "Message delivered to handset"
    assert (event.to, event.region) == ("+41793026727", "CH")  # digits without +: international
    assert event.from_ == "InfoSMS"  # an alphanumeric sender: kept as given
    assert event.occurred_at == datetime(2023, 8, 1, 10, 40, tzinfo=UTC)  # doneAt, +05:30
    assert event.provider_time and event.received_at == SEED_TIME
    assert (event.segments, event.price) == (1, "0.01")
    assert event.raw == REPORT


def test_the_docs_v2_delivery_report_with_a_colon_less_offset_gives_a_receipt(infobip: Checked) -> None:
    [event] = events(infobip, V2)
    assert (event.message_id, event.status, event.to) == ("MESSAGE-ID-123-xyz", Status.DELIVERED, "+41793026727")
    assert event.occurred_at == datetime(2019, 11, 9, 16, 0, tzinfo=UTC)  # "+0000"
    assert (event.from_, event.segments, event.price) == (None, 1, "0.01")  # smsCount
    assert event.raw == orjson.loads(V2)["results"][0]


def test_the_raw_report_is_kept_even_with_include_raw_off(clock: FixedClock) -> None:
    [event] = events(provider(clock, include_raw=False), V3)
    assert event.raw == REPORT


@pytest.mark.parametrize(
    ("status_", "expected"),
    [
        (status(1, "PENDING", 3, "PENDING_WAITING_DELIVERY"), Status.UNKNOWN),
        (status(1, "PENDING", 7, "PENDING_ENROUTE"), Status.UNKNOWN),
        (status(1, "PENDING", 26, "PENDING_ACCEPTED"), Status.UNKNOWN),
        (status(1, "PENDING", 99, "PENDING_SOMETHING_NEW"), Status.UNKNOWN),
        (status(2, "UNDELIVERABLE", 4, "UNDELIVERABLE_REJECTED_OPERATOR"), Status.UNDELIVERED),
        (status(2, "UNDELIVERABLE", 9, "UNDELIVERABLE_NOT_DELIVERED"), Status.UNDELIVERED),
        (status(2, "UNDELIVERABLE", 98, "UNDELIVERABLE_SOMETHING_NEW"), Status.UNDELIVERED),
        (status(3, "DELIVERED", 2, "DELIVERED_TO_OPERATOR"), Status.UNKNOWN),  # intermediate despite its group
        (status(3, "DELIVERED", 5, "DELIVERED_TO_HANDSET"), Status.DELIVERED),
        (status(3, "DELIVERED", 97, "DELIVERED_SOMEWHERE_NEW"), Status.UNKNOWN),  # might be intermediate like id 2
        (status(4, "EXPIRED", 15, "EXPIRED_EXPIRED"), Status.UNDELIVERED),
        (status(4, "EXPIRED", 29, "EXPIRED_DLR_UNKNOWN"), Status.UNKNOWN),
        (status(5, "REJECTED", 6, "REJECTED_NETWORK"), Status.UNDELIVERED),
        (status(5, "REJECTED", 51, "MISSING_TO"), Status.UNDELIVERED),
        (status(5, "REJECTED", 96, "REJECTED_SOMETHING_NEW"), Status.UNDELIVERED),
        ({"groupName": "REJECTED", "name": "REJECTED_SOMETHING_NEW"}, Status.UNDELIVERED),
        ({"groupName": "rejected", "name": "NEW"}, Status.UNDELIVERED),
        ({"name": "REJECTED_SOMETHING_NEW"}, Status.UNKNOWN),  # no group: unknown
        (status(0, "ACCEPTED", 0, "ACCEPTED"), Status.UNKNOWN),  # the v3 SDK's group
        (status(9, "NEW_GROUP", 100, "NEW_GROUP_NEW_NAME"), Status.UNKNOWN),
    ],
)
def test_statuses_map_on_the_name_and_the_final_failure_groups(infobip: Checked, status_: dict[str, Any],
                                                               expected: Status) -> None:
    [event] = events(infobip, body_of(report(status=status_)))
    assert (event.status, event.status_code) == (expected, status_["name"])  # the name, verbatim


def test_the_status_table_names_only_final_or_intermediate_statuses_of_the_documented_groups() -> None:
    assert PROVIDERS["infobip"].statuses is STATUSES
    assert [n for n, s in STATUSES.items() if s is Status.DELIVERED] == ["DELIVERED_TO_HANDSET"]
    assert all(STATUSES[n] is Status.UNKNOWN for n in STATUSES if n.startswith("PENDING_"))


def test_a_real_error_gives_the_status_detail(infobip: Checked) -> None:
    error = {"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 27, "name": "EC_ABSENT_SUBSCRIBER",
             "description": "Absent Subscriber", "permanent": False}
    [event] = events(infobip, body_of(report(status=status(2, "UNDELIVERABLE", 9, "UNDELIVERABLE_NOT_DELIVERED"),
                                             error=error)))
    assert (event.status, event.status_detail) == (Status.UNDELIVERED, "Absent Subscriber")


def test_a_report_without_done_at_gets_the_receipt_time_kept_out_of_the_id(infobip: Checked,
                                                                          clock: FixedClock) -> None:
    body = body_of(report(doneAt=...))
    [first] = events(infobip, body)
    assert (first.occurred_at, first.provider_time) == (SEED_TIME, False)
    later = replace(raw(body), received_at=SEED_TIME + timedelta(minutes=10))
    [again] = infobip.parse(infobip.verify(later))
    assert isinstance(again, DeliveryReceipt) and again.id == first.id and again.received_at != first.received_at


def test_the_same_report_pushed_again_has_the_same_event_id(infobip: Checked) -> None:
    [first] = events(infobip, V3)
    [again] = infobip.parse(infobip.verify(replace(raw(V3), received_at=SEED_TIME + timedelta(hours=1))))
    assert isinstance(again, DeliveryReceipt) and again.id == first.id


def test_an_intermediate_and_the_final_report_of_one_message_have_distinct_ids(infobip: Checked) -> None:
    operator = report(status=status(3, "DELIVERED", 2, "DELIVERED_TO_OPERATOR"))
    [a, b] = events(infobip, body_of(operator, REPORT))
    assert a.message_id == b.message_id and a.id != b.id


@pytest.mark.parametrize(("price", "expected"), [(0.01, "0.01"), (0, "0"), (0.0, "0.0"), (1e-05, "0.00001"),
                                                 ("0.0125", "0.0125"), (None, None)])
def test_the_price_per_message_becomes_a_plain_decimal_string(infobip: Checked, price: Any,
                                                              expected: str | None) -> None:
    [event] = events(infobip, body_of(report(price={"pricePerMessage": price, "currency": "EUR"})))
    assert event.price == expected


def test_a_hundred_reports_become_a_hundred_receipts_in_order(infobip: Checked) -> None:
    reports = [report(messageId=f"m-{i}") for i in range(MAX_REPORTS)]
    found = events(infobip, body_of(*reports))
    assert [e.message_id for e in found] == [f"m-{i}" for i in range(MAX_REPORTS)]
    assert len({e.id for e in found}) == MAX_REPORTS


def test_more_reports_than_max_reports_are_refused(clock: FixedClock) -> None:
    with pytest.raises(MalformedCallbackError, match="more than 100") as caught:
        events(provider(clock), body_of(*[REPORT] * (MAX_REPORTS + 1)))
    assert caught.value.reason == "too_many_reports"
    assert len(events(provider(clock, max_reports=500), body_of(*[REPORT] * 101))) == 101


# --- inbound messages --------------------------------------------------------------------------------


def test_the_sdks_inbound_message_gives_an_inbound_message(infobip: Checked) -> None:
    [event] = events(infobip, MO)
    assert isinstance(event, InboundMessage)
    assert (event.provider, event.message_id, event.subject) == ("infobip", "817790313235066447",
                                                                  "817790313235066447")
    assert (event.from_, event.region, event.key) == ("+385916242493", "HR", "+385916242493")
    assert event.to == "+385921004026"
    assert event.text == "QUIZ Correct answer is Paris"  # the whole text; keyword and cleanText stay in raw
    assert event.occurred_at == datetime(2023, 8, 1, 16, 10, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert (event.segments, event.price) == (1, "0.0")
    assert event.raw == MESSAGE


def test_one_push_may_mix_reports_and_inbound_messages(infobip: Checked) -> None:
    found = events(infobip, body_of(REPORT, MESSAGE))
    assert [type(e) for e in found] == [DeliveryReceipt, InboundMessage]


# --- what cannot be understood -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "invalid_json"),
        (b"{", "invalid_json"),
        (b"\xff{}", "invalid_utf8"),
        (b"[]", "wrong_shape"),
        (b"[{}]", "wrong_shape"),
        (b"{}", "wrong_shape"),
        (b'{"results": []}', "wrong_shape"),
        (b'{"results": {}}', "wrong_shape"),
        (b"null", "wrong_shape"),
    ],
)
def test_bodies_that_are_not_a_results_envelope_are_malformed(infobip: Checked, body: bytes, reason: str) -> None:
    with pytest.raises(MalformedCallbackError) as caught:
        events(infobip, body)
    assert (caught.value.reason, caught.value.status) == (reason, 400)


@pytest.mark.parametrize(
    ("bad", "reason", "message"),
    [
        (3, "wrong_shape", r"results\[1\]: must be an object"),
        ({"messageId": "x"}, "wrong_shape", "neither a delivery report"),
        (report(messageId=...), "missing_field", r"results\[1\]\.messageId: required"),
        (report(messageId=""), "invalid_field", "messageId: must not be empty"),
        (report(to=...), "missing_field", "to: required"),
        (report(status=None), "invalid_field", "status: must be an object"),
        (report(status="DELIVERED"), "invalid_field", "status: must be an object"),
        (report(status={"groupId": 3}), "missing_field", r"status\.name: required"),
        (report(doneAt="yesterday"), "invalid_field", "doneAt: must be an ISO 8601 time"),
        (report(messageCount=-1), "invalid_field", "messageCount: must be a non-negative integer"),
        (report(price=3), "invalid_field", "price: must be an object"),
        (report(price={"pricePerMessage": "free"}), "invalid_field", "pricePerMessage: must be a plain decimal"),
        ({**MESSAGE, "from": ...}, "missing_field", "from: required"),
        ({**MESSAGE, "text": None}, "missing_field", "text: required"),
        ({**MESSAGE, "receivedAt": "2023-13-01"}, "invalid_field", "receivedAt: must be an ISO 8601 time"),
    ],
)
def test_a_report_that_cannot_be_understood_is_a_bad_report_and_the_others_are_events(
    infobip: Checked, bad: Any, reason: str, message: str
) -> None:
    bad = {k: v for k, v in bad.items() if v is not ...} if isinstance(bad, dict) else bad
    found = items(infobip, body_of(REPORT, bad, MESSAGE, messageCount=3, pendingMessageCount=0))
    assert [type(e) for e in found] == [DeliveryReceipt, BadReport, InboundMessage]
    [bad_report] = [e for e in found if isinstance(e, BadReport)]
    assert (bad_report.index, bad_report.report, bad_report.error.reason) == (1, bad, reason)
    assert bad_report.error.status == 400
    assert re.search(message, str(bad_report.error))
    assert bad_report.body is not None
    assert orjson.loads(bad_report.body) == {"results": [bad], "messageCount": 1, "pendingMessageCount": 0}


def test_a_bad_reports_body_parses_again_to_the_same_bad_report(infobip: Checked) -> None:
    [bad] = [e for e in items(infobip, body_of(REPORT, report(doneAt="x"))) if isinstance(e, BadReport)]
    assert bad.body is not None
    [again] = infobip.parse(infobip.provider.restore(raw(bad.body)))
    assert isinstance(again, BadReport) and again.report == bad.report and again.body == bad.body


def test_error_messages_never_carry_the_callback_values(infobip: Checked) -> None:
    [_, bad] = items(infobip, body_of(REPORT, report(to={"secret": "41793026727"})))
    assert isinstance(bad, BadReport) and "41793026727" not in str(bad.error)


# --- replies -------------------------------------------------------------------------------------------


def test_accepted_is_an_empty_200(infobip: Checked) -> None:
    reply = infobip.accepted(infobip.verify(raw(V3)))
    assert (reply.status, reply.body) == (200, b"")


@pytest.mark.parametrize("status_", [400, 401, 403, 500, 503])
def test_refusals_keep_the_status_and_name_the_reason(infobip: Checked, status_: int) -> None:
    reply = infobip.rejected(CallbackError("bad_token", "callback URL token does not match", status=status_))
    assert reply.status == status_ and reply.body.startswith(b"bad_token")
    assert reply.headers["X-Bridge-Reason"] == "bad_token" and "WWW-Authenticate" not in reply.headers
    assert TOKEN not in reply.body.decode()


# --- over HTTP: forgeries publish nothing -------------------------------------------------------------


def bridge_settings(**overrides: Any) -> Settings:
    document = {
        "server": {"host": "127.0.0.1", "port": 8080},
        "kafka": {"bootstrap_servers": ["127.0.0.1:9"], "enable_idempotence": False, "produce_timeout_seconds": 1},
        "providers": [instance(**overrides)],
    }
    return parse(yaml.safe_dump(document), {})


async def post(publisher: FakePublisher, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    app = create_app(bridge_settings(**BASIC), publisher, CollectorRegistry(), FixedClock(SEED_TIME.timestamp()),
                     Lifecycle())
    transport = httpx.ASGITransport(app=app, client=("193.105.74.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://bridge.test") as http:
        return await http.post(url, content=body, headers={"content-type": "application/json", **headers})


GOOD = {"authorization": authorization(USER, PASSWORD)}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("url", "headers"),
    [
        (f"/callbacks/infobip/test/{TOKEN}", {}),
        (f"/callbacks/infobip/test/{TOKEN}", {"authorization": authorization(USER, "guess")}),
        (f"/callbacks/infobip/test/{TOKEN[:-1]}x", GOOD),
        ("/callbacks/infobip/test?token=not-the-token-0123456789", GOOD),
        ("/callbacks/infobip/test", GOOD),
    ],
)
async def test_forgeries_over_http_get_401_and_nothing_is_published(url: str, headers: dict[str, str]) -> None:
    publisher = FakePublisher()
    reply = await post(publisher, url, V3, headers)
    assert reply.status_code == 401 and publisher.records == []


@pytest.mark.anyio
@pytest.mark.parametrize("url", [f"/callbacks/infobip/test/{TOKEN}", f"/callbacks/infobip/test?token={TOKEN}"])
async def test_a_genuine_push_with_one_bad_report_publishes_the_others_and_dead_letters_it_alone(url: str) -> None:
    publisher = FakePublisher()
    reply = await post(publisher, url, body_of(REPORT, {"messageId": "x"}, MESSAGE), GOOD)
    assert reply.status_code == 200
    records: list[KafkaRecord] = publisher.records
    assert [r.topic for r in records] == ["sms.delivery-receipts", "sms.inbound-messages", "sms.bridge.dead-letter"]
    for record in records[:2]:
        assert_valid_record(record)
    dead = orjson.loads(records[2].value)
    assert orjson.loads(dead["report_body"]) == {"results": [{"messageId": "x"}]}
    assert TOKEN not in records[2].value.decode() and PASSWORD not in records[2].value.decode()


# --- totality ------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
reports = st.fixed_dictionaries({}, optional={k: json_values | st.just(v) for k, v in {**REPORT, **MESSAGE}.items()})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=120) | st.lists(reports | json_values, max_size=4).map(lambda r: body_of(*r)),
       token=st.none() | st.just(TOKEN) | st.text(max_size=40),
       auth=st.none() | st.just(authorization(USER, PASSWORD)) | st.text(max_size=40))
def test_any_callback_gives_events_bad_reports_or_a_callback_error(clock: FixedClock, body: bytes,
                                                                    token: str | None, auth: str | None) -> None:
    infobip = InfobipProvider(InfobipSettings.model_validate(instance(**BASIC)), clock)
    try:
        found = infobip.parse(infobip.verify(raw(body, token=token, auth=auth)))
    except CallbackError as error:
        assert error.status in (400, 401)
        return
    assert all(isinstance(e, DeliveryReceipt | InboundMessage | BadReport) for e in found)
