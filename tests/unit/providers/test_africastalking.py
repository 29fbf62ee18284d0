"""Africa's Talking SMS: URL token and allowlist, form delivery reports and incoming messages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
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
from bridge.providers import PROVIDERS
from bridge.providers.africastalking import STATUSES, AfricasTalkingProvider, AfricasTalkingSettings
from bridge.providers.base import BadReport, RawCallback, Verified
from tests.conftest import fixture_bytes
from tests.fakes import FakePublisher
from tests.helpers import SEED_TIME, Checked, assert_valid_record

TOKEN = "test-africastalking-token-0123456789"
FORM = "application/x-www-form-urlencoded"
FAILED = fixture_bytes("africastalking", "delivery-report-failed.form")
INCOMING = fixture_bytes("africastalking", "incoming.form")
REPORT = {"id": "ATXid_0001", "status": "Success", "phoneNumber": "+254711123456", "networkCode": "63902"}
MESSAGE = dict(parse_qsl(INCOMING.decode()))


def instance(**overrides: Any) -> dict[str, Any]:
    return {"kind": "africastalking", "name": "at-test", "path": "/callbacks/africastalking/test", "url_token": TOKEN,
            **overrides}


def provider(clock: FixedClock, **overrides: Any) -> Checked:
    settings_ = AfricasTalkingSettings.model_validate(instance(**overrides))
    return Checked(AfricasTalkingProvider(settings_, clock), clock)


@pytest.fixture
def at(clock: FixedClock) -> Checked:
    return provider(clock)


def raw(body: bytes, token: str | None = TOKEN, *, client: str | None = "196.201.214.10",
        decoded: bool = True) -> RawCallback:
    form = tuple(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)) if decoded else ()
    return RawCallback(body=body, headers={"content-type": FORM}, client=client, received_at=SEED_TIME,
                       url_token=token, form=form)


def form(fields: dict[str, Any] | list[tuple[str, str]]) -> bytes:
    pairs = fields.items() if isinstance(fields, dict) else fields
    return urlencode([(k, v) for k, v in pairs if v is not ...]).encode()


def events(at: Checked, body: bytes) -> list[Any]:
    return list(at.parse(at.verify(raw(body))))


# --- verification -----------------------------------------------------------------------------------


def test_the_right_url_token_is_verified_with_nothing_signed(at: Checked) -> None:
    callback = raw(FAILED)
    verified = at.verify(callback)
    assert isinstance(verified, Verified) and verified.raw is callback
    assert (verified.signed_at, verified.replay_key) == (None, None)


@pytest.mark.parametrize("token", ["", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), " " + TOKEN, "\ud800", "tést" + TOKEN])
def test_a_wrong_url_token_is_refused(at: Checked, token: str) -> None:
    with pytest.raises(VerificationError, match="token does not match") as caught:
        at.verify(raw(FAILED, token=token))
    assert (caught.value.reason, caught.value.status) == ("bad_token", 401)


def test_no_url_token_is_refused(at: Checked) -> None:
    with pytest.raises(VerificationError, match="no token") as caught:
        at.verify(raw(FAILED, token=None))
    assert (caught.value.reason, caught.value.status) == ("missing_credentials", 401)


def test_a_caller_outside_the_allowlist_is_refused_even_with_the_token(clock: FixedClock) -> None:
    at = provider(clock, allowed_networks=["196.201.214.0/24"])
    assert at.verify(raw(FAILED))
    with pytest.raises(VerificationError, match="allowed_networks") as caught:
        at.verify(raw(FAILED, client="203.0.113.7"))
    assert caught.value.status == 403


def test_settings_refuse_a_short_token_and_an_unknown_zone() -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        AfricasTalkingSettings.model_validate(instance(url_token="x" * 15))
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        AfricasTalkingSettings.model_validate(instance(timezone="Mars/Olympus"))
    defaults = AfricasTalkingSettings.model_validate(instance())
    assert defaults.timezone == "UTC" and TOKEN not in repr(defaults)


# --- delivery reports --------------------------------------------------------------------------------


def test_the_documented_failed_report_gives_an_undelivered_receipt(at: Checked) -> None:
    [event] = events(at, FAILED)
    assert isinstance(event, DeliveryReceipt)
    assert (event.provider, event.message_id) == ("africastalking", "ATXid_1f2e3d4c5b6a")
    assert event.key == event.subject == "ATXid_1f2e3d4c5b6a"
    assert (event.status, event.status_code, event.status_detail) == (Status.UNDELIVERED, "Failed", "UserInBlackList")
    assert (event.to, event.region) == ("+254711XXXYYY", None)  # the research's masked number: kept as given
    assert event.from_ is None and event.segments is None and event.price is None
    assert (event.occurred_at, event.received_at, event.provider_time) == (SEED_TIME, SEED_TIME, False)
    assert event.raw == dict(parse_qsl(FAILED.decode()))


def test_a_report_with_a_valid_number_gives_e164_and_its_region(at: Checked) -> None:
    [event] = events(at, form(REPORT))
    assert (event.status, event.to, event.region, event.status_detail) == (Status.DELIVERED, "+254711123456", "KE",
                                                                           None)


@pytest.mark.parametrize(
    ("code", "status"),
    [("Sent", Status.UNKNOWN), ("Submitted", Status.UNKNOWN), ("Buffered", Status.UNKNOWN),
     ("Rejected", Status.UNDELIVERED), ("Success", Status.DELIVERED), ("Failed", Status.UNDELIVERED),
     ("success", Status.DELIVERED), ("AbsentSubscriber", Status.UNKNOWN), ("Queued", Status.UNKNOWN)],
)
def test_statuses_map_and_the_code_is_kept_verbatim(at: Checked, code: str, status: Status) -> None:
    [event] = events(at, form({**REPORT, "status": code}))
    assert (event.status, event.status_code) == (status, code)


def test_the_status_table_is_the_registrys() -> None:
    assert PROVIDERS["africastalking"].statuses is STATUSES


def test_a_report_received_again_later_has_the_same_event_id(at: Checked) -> None:
    [first] = events(at, FAILED)
    [again] = at.parse(at.verify(replace(raw(FAILED), received_at=SEED_TIME + timedelta(minutes=30))))
    assert isinstance(again, DeliveryReceipt) and again.id == first.id and again.received_at != first.received_at


def test_each_status_of_one_message_is_its_own_event(at: Checked) -> None:
    ids = {events(at, form({**REPORT, "status": code}))[0].id for code in STATUSES}
    assert len(ids) == len(STATUSES)


def test_a_dead_letters_body_parses_without_the_decoded_form(at: Checked) -> None:
    [event] = at.parse(at.provider.restore(raw(FAILED, decoded=False)))
    assert isinstance(event, DeliveryReceipt) and event.message_id == "ATXid_1f2e3d4c5b6a"


# --- incoming messages -------------------------------------------------------------------------------


def test_an_incoming_message_gives_an_inbound_message(at: Checked) -> None:
    [event] = events(at, INCOMING)
    assert isinstance(event, InboundMessage)
    assert (event.provider, event.message_id) == ("africastalking", "7f5c1b2e-4d3a-4c8e-9b1a-2f3e4d5c6b7a")
    assert (event.from_, event.region, event.key) == ("+254711123456", "KE", "+254711123456")
    assert (event.to, event.text) == ("21525", "Hello from Nairobi")  # a short code: kept as given
    assert (event.occurred_at, event.provider_time) == (datetime(2025, 11, 12, 10, 30, tzinfo=UTC), True)
    assert event.raw == MESSAGE and event.raw["linkId"] == "SampleLinkId123"


@pytest.mark.parametrize(
    ("date", "zone", "expected"),
    [
        ("2025-11-12 10:30:00", "Africa/Nairobi", datetime(2025, 11, 12, 7, 30, tzinfo=UTC)),
        ("2025-11-12T10:30:00.000Z", "Africa/Nairobi", datetime(2025, 11, 12, 10, 30, tzinfo=UTC)),
        ("2025-11-12T10:30:00+03:00", "UTC", datetime(2025, 11, 12, 7, 30, tzinfo=UTC)),
    ],
)
def test_the_date_is_read_with_its_offset_or_in_the_instance_zone(clock: FixedClock, date: str, zone: str,
                                                                  expected: datetime) -> None:
    [event] = events(provider(clock, timezone=zone), form({**MESSAGE, "date": date}))
    assert event.occurred_at == expected and event.provider_time


@pytest.mark.parametrize("date", [..., "", "yesterday", "12/11/2025 10:30", "0001-01-01 00:00:00+01:00"])
def test_a_missing_or_unreadable_date_gives_the_receipt_time_kept_out_of_the_id(at: Checked, date: Any) -> None:
    body = form({**MESSAGE, "date": date})
    [event] = events(at, body)
    assert (event.occurred_at, event.provider_time) == (SEED_TIME, False)
    [again] = at.parse(at.verify(replace(raw(body), received_at=SEED_TIME + timedelta(hours=1))))
    assert isinstance(again, InboundMessage) and again.id == event.id


def test_an_empty_text_is_a_message_too(at: Checked) -> None:
    [event] = events(at, form({**MESSAGE, "text": ""}))
    assert event.text == ""


# --- what cannot be understood -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason", "message"),
    [
        ({}, "unsupported_callback", "neither a delivery report"),
        ({"phoneNumber": "+254711123456", "senderId": "AT"}, "unsupported_callback", "neither"),  # bulk SMS opt-out
        ({**REPORT, "id": ...}, "missing_field", "id: required"),
        ({**REPORT, "id": ""}, "invalid_field", "id: must not be empty"),
        ({**REPORT, "status": ""}, "invalid_field", "status: must not be empty"),
        ({**REPORT, "phoneNumber": ...}, "missing_field", "phoneNumber: required"),
        ({**MESSAGE, "from": ...}, "missing_field", "from: required"),
        ({**MESSAGE, "id": "a\x00b"}, "invalid_field", "id: must not contain NUL"),
        ([*REPORT.items(), ("status", "Failed")], "invalid_field", "status: given more than once"),
    ],
)
def test_notifications_that_cannot_be_understood_are_malformed(at: Checked, fields: Any, reason: str,
                                                               message: str) -> None:
    with pytest.raises(MalformedCallbackError, match=message) as caught:
        events(at, form(fields))
    assert (caught.value.reason, caught.value.status) == (reason, 400)


def test_a_body_that_is_not_utf8_is_malformed(at: Checked) -> None:
    with pytest.raises(MalformedCallbackError) as caught:
        at.parse(at.verify(raw(b"id=%ff&status=Success", decoded=False)))
    assert caught.value.reason == "invalid_utf8"


def test_error_messages_never_carry_the_callback_values(at: Checked) -> None:
    with pytest.raises(MalformedCallbackError) as caught:
        events(at, form([*REPORT.items(), ("phoneNumber", "+254700999888")]))
    assert "254700999888" not in str(caught.value)


# --- replies -------------------------------------------------------------------------------------------


def test_accepted_is_an_empty_200(at: Checked) -> None:
    reply = at.accepted(at.verify(raw(FAILED)))
    assert (reply.status, reply.body) == (200, b"")


@pytest.mark.parametrize("status", [400, 401, 403, 500, 503])
def test_refusals_keep_the_status_and_name_the_reason(at: Checked, status: int) -> None:
    reply = at.rejected(CallbackError("bad_token", "callback URL token does not match", status=status))
    assert reply.status == status and reply.body.startswith(b"bad_token")
    assert reply.headers["X-Bridge-Reason"] == "bad_token" and TOKEN not in reply.body.decode()


# --- over HTTP ---------------------------------------------------------------------------------------


def bridge_settings() -> Settings:
    document = {
        "server": {"host": "127.0.0.1", "port": 8080},
        "kafka": {"bootstrap_servers": ["127.0.0.1:9"], "enable_idempotence": False, "produce_timeout_seconds": 1},
        "providers": [instance(allowed_networks=["196.201.214.0/24"])],
    }
    return parse(yaml.safe_dump(document), {})


async def post(publisher: FakePublisher, url: str, body: bytes, client: str = "196.201.214.10") -> httpx.Response:
    app = create_app(bridge_settings(), publisher, CollectorRegistry(), FixedClock(SEED_TIME.timestamp()), Lifecycle())
    transport = httpx.ASGITransport(app=app, client=(client, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://bridge.test") as http:
        return await http.post(url, content=body, headers={"content-type": FORM})


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("url", "client", "status"),
    [
        ("/callbacks/africastalking/test", "196.201.214.10", 401),
        (f"/callbacks/africastalking/test/{TOKEN[:-1]}x", "196.201.214.10", 401),
        ("/callbacks/africastalking/test?token=not-the-token-0123456789", "196.201.214.10", 401),
        (f"/callbacks/africastalking/test/{TOKEN}", "203.0.113.7", 403),
    ],
)
async def test_forgeries_over_http_are_refused_and_nothing_is_published(url: str, client: str, status: int) -> None:
    publisher = FakePublisher()
    reply = await post(publisher, url, INCOMING, client)
    assert reply.status_code == status and publisher.records == []


@pytest.mark.anyio
@pytest.mark.parametrize("url", [f"/callbacks/africastalking/test/{TOKEN}",
                                 f"/callbacks/africastalking/test?token={TOKEN}"])
async def test_genuine_notifications_over_http_are_published(url: str) -> None:
    publisher = FakePublisher()
    for body in (FAILED, INCOMING):
        assert (await post(publisher, url, body)).status_code == 200
    assert [r.topic for r in publisher.records] == ["sms.delivery-receipts", "sms.inbound-messages"]
    for record in publisher.records:
        assert_valid_record(record)


# --- totality ------------------------------------------------------------------------------------------

names = st.sampled_from([*REPORT, *MESSAGE, "failureReason", "x"]) | st.text(max_size=8)
values = st.text(max_size=20) | st.sampled_from([*REPORT.values(), *MESSAGE.values(), *STATUSES])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=120) | st.lists(st.tuples(names, values), max_size=8).map(form),
       token=st.none() | st.just(TOKEN) | st.text(max_size=40), decoded=st.booleans())
def test_any_callback_gives_an_event_or_a_callback_error(clock: FixedClock, body: bytes, token: str | None,
                                                         decoded: bool) -> None:
    at = AfricasTalkingProvider(AfricasTalkingSettings.model_validate(instance()), clock)
    try:
        found = at.parse(at.verify(raw(body, token=token, decoded=decoded)))
    except CallbackError as error:
        assert error.status in (400, 401)
        return
    assert all(isinstance(e, DeliveryReceipt | InboundMessage | BadReport) for e in found)
