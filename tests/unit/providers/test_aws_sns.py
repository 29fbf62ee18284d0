"""AWS SNS (`aws_sns`): the four official AWS-signed vectors, the string to sign, certificate URLs, prepare()'s
fetch and cache, forgeries, the subscription handshake, and parsing of TEXT_* events and inbound SMS."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from bridge.clock import FixedClock
from bridge.config import parse
from bridge.errors import MalformedCallbackError, UsageError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.http import app as app_module
from bridge.http.app import create_app
from bridge.http.lifecycle import Lifecycle
from bridge.kafka.envelope import Envelope
from bridge.providers.aws_sns import AwsSnsProvider, AwsSnsSettings, SnsVerified
from bridge.providers.aws_sns_dev import DEV_CERTIFICATE_URL, new_pair
from bridge.providers.aws_sns_signature import check_certificate_url, signature, string_to_sign
from bridge.providers.base import BadReport, Outgoing, RawCallback
from tests.conftest import fixture_bytes
from tests.fakes import FakePublisher
from tests.helpers import assert_valid_record

VECTORS: dict[str, dict[str, str]] = orjson.loads(fixture_bytes("aws_sns", "vectors.json"))
AWS_PEM = fixture_bytes("aws_sns", "sns-us-east-2-7ff5318490ec183fbaddaa2a969abfda.pem").decode()
AWS_URL = "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem"
AWS_TOPICS = [v["TopicArn"] for v in VECTORS.values()]
TOPIC = "arn:aws:sns:us-east-1:111122223333:sms-events"
OTHER_TOPIC = "arn:aws:sns:us-east-1:444455556666:sms-events"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
RECEIVED = datetime.fromtimestamp(NOW, UTC)
KEY, CERT = new_pair()  # generated at run time: signatures no fixed key could fake
FORGER_KEY, FORGER_CERT = new_pair("forger")
ENVELOPE = Envelope("/sms/aws_sns/test", {t: t.value for t in EventType})


def settings_of(**overrides: Any) -> AwsSnsSettings:
    document = {"kind": "aws_sns", "name": "aws-sns-test", "path": "/callbacks/aws_sns/test", "topics": [TOPIC],
                "certificates": {CERT_URL: CERT}, "signing_private_key": KEY, **overrides}
    return AwsSnsSettings.model_validate({k: v for k, v in document.items() if v is not None})


def provider_of(**overrides: Any) -> AwsSnsProvider:
    return AwsSnsProvider(settings_of(**overrides), FixedClock(NOW))


def raw(body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> RawCallback:
    data = orjson.dumps(body) if isinstance(body, dict) else body
    return RawCallback(data, {"content-type": "text/plain; charset=UTF-8", **(headers or {})}, "203.0.113.5",
                       RECEIVED)


def signed(envelope: dict[str, Any], key: str = KEY, url: str | None = None, version: str | None = None
           ) -> dict[str, Any]:
    """The envelope as SNS would sign it with `key` (certificate at `url`, SignatureVersion `version`)."""
    from bridge.providers.aws_sns_signature import private_key

    out = {"TopicArn": TOPIC, "SignatureVersion": "2", "SigningCertURL": CERT_URL, **envelope}
    out.update({k: v for k, v in (("SigningCertURL", url), ("SignatureVersion", version)) if v is not None})
    out.pop("Signature", None)
    out["Signature"] = signature(private_key(key), out)
    return out


def notification(message: dict[str, Any] | str, **extra: Any) -> dict[str, Any]:
    text = message if isinstance(message, str) else orjson.dumps(message).decode()
    return signed({"Type": "Notification", "MessageId": "7a3e4f10-0000-4000-8000-000000000001", "Message": text,
                   "Timestamp": "2026-01-01T00:00:00.000Z", **extra})


def confirmation(kind: str = "SubscriptionConfirmation", host: str = "sns.us-east-1.amazonaws.com",
                 **extra: Any) -> dict[str, Any]:
    token = "2336412f37fb687f5d51e6e2425dacbba7a0bd2fbb3e2cb1ab"  # SNS's tokens are long hex strings
    return signed({"Type": kind, "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b", "Token": token,
                   "Message": f"You have chosen to subscribe to the topic {TOPIC}.\nTo confirm the subscription, "
                              "visit the SubscribeURL included in this message.",
                   "SubscribeURL": f"https://{host}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token={token}",
                   "Timestamp": "2026-01-01T00:00:00.000Z", **extra})


RECEIPT = {"eventType": "TEXT_DELIVERED", "eventVersion": "1.0", "eventTimestamp": 1686975103470, "isFinal": True,
           "originationPhoneNumber": "+12065550152", "destinationPhoneNumber": "+14255550156",
           "messageId": "862a8790-60c0-4430-9b2b-658bdexample", "messageStatus": "DELIVERED",
           "messageStatusDescription": "Message has been accepted by phone", "totalMessageParts": 1,
           "totalMessagePrice": 0.09582, "context": {"account": "bar"}}


class FakeFetch:
    def __init__(self, body: bytes | Exception) -> None:
        self.body = body
        self.urls: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        if isinstance(self.body, Exception):
            raise self.body
        return self.body


# --- the official vectors ----------------------------------------------------------------------------


def test_the_certificate_is_the_one_the_research_names() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(AWS_PEM.encode()).public_bytes(Encoding.DER)
    assert hashlib.sha256(der).hexdigest() == "d03829b46e82c5fd1c2d241093215b2e7469a81e16c05777e7c722a36e0cb2a5"


def test_the_string_to_sign_is_awss_own_vector() -> None:
    """aws-php-sns-message-validator testBuildsStringToSignCorrectly (providers-3.md §3.2)."""
    envelope = {"Type": "Notification", "MessageId": "bar", "TopicArn": "baz", "Message": "foo",
                "Timestamp": "1435697129", "Subject": None, "SignatureVersion": "1", "Signature": "x"}
    expected = "Message\nfoo\nMessageId\nbar\nTimestamp\n1435697129\nTopicArn\nbaz\nType\nNotification\n"
    assert string_to_sign(envelope) == expected.encode()


def test_the_strings_signed_for_a1_and_a3_are_the_researchs() -> None:
    a1 = ("Message\nHello world\nMessageId\n792cda85-518f-5dd3-9163-81d851212f3a\nTimestamp\n2022-07-28T21:23:58.317Z\n"
          "TopicArn\narn:aws:sns:us-east-2:295079676684:publish-and-verify-892f85fe-4836-424d-8188-ab85bef0f362\n"
          "Type\nNotification\n")
    assert string_to_sign(VECTORS["A1"]) == a1.encode()
    assert b"\nSubject\nHello world\n" in string_to_sign(VECTORS["A3"])


@pytest.mark.parametrize("name", ["A1", "A2", "A3", "A4"])
@pytest.mark.parametrize("pin", [AWS_URL, AWS_URL.rsplit("/", 1)[1]])
def test_the_four_aws_signed_messages_verify_with_a_pinned_certificate(name: str, pin: str) -> None:
    provider = provider_of(topics=AWS_TOPICS, certificates={pin: AWS_PEM}, signing_private_key=None)
    vector = VECTORS[name]
    verified = provider.verify(raw(vector))
    assert verified.replay_key == vector["MessageId"] and verified.topic == vector["TopicArn"]
    assert verified.signed_at == datetime.fromisoformat(vector["Timestamp"]).timestamp()
    assert provider.handshake(verified) is None
    with pytest.raises(MalformedCallbackError):  # "Hello world" is no SMS event: an authentic dead letter
        provider.parse(verified)


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["A1", "A2", "A3", "A4"])
async def test_the_four_aws_signed_messages_verify_with_a_fetched_certificate(name: str) -> None:
    provider = provider_of(topics=AWS_TOPICS, certificates={}, signing_private_key=None)
    fetch = FakeFetch(AWS_PEM.encode())
    for _ in range(2):
        await provider.prepare(raw(VECTORS[name]), fetch)
        provider.verify(raw(VECTORS[name]))
    assert fetch.urls == [AWS_URL]  # cached


@pytest.mark.parametrize("name", ["A1", "A2", "A3", "A4"])
@pytest.mark.parametrize("change", [
    {"Message": "Hello world!"}, {"Subject": "Hello"}, {"Timestamp": "2022-07-28T21:23:59.317Z"},
    {"MessageId": "00000000-518f-5dd3-9163-81d851212f3a"},
])
def test_a_vector_changed_anywhere_signed_is_refused(name: str, change: dict[str, str]) -> None:
    provider = provider_of(topics=AWS_TOPICS, certificates={AWS_URL: AWS_PEM}, signing_private_key=None)
    with pytest.raises(VerificationError) as refused:
        provider.verify(raw({**VECTORS[name], **change}))
    assert refused.value.reason == "bad_signature" and refused.value.status == 401


@pytest.mark.parametrize("name", ["A1", "A2", "A3", "A4"])
def test_a_vector_under_the_other_hash_is_refused(name: str) -> None:
    provider = provider_of(topics=AWS_TOPICS, certificates={AWS_URL: AWS_PEM}, signing_private_key=None)
    other = "2" if VECTORS[name]["SignatureVersion"] == "1" else "1"
    with pytest.raises(VerificationError, match="does not match"):
        provider.verify(raw({**VECTORS[name], "SignatureVersion": other}))


# --- certificate URLs and prepare() ------------------------------------------------------------------

URLS = [
    (CERT_URL, True),
    ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", True),
    ("https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-abc.pem", True),
    ("http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", False),  # not https
    ("https://s3.amazonaws.com/SimpleNotificationService-abc.pem", False),  # an amazonaws host anyone can fill
    ("https://sns.us-east-1.amazonaws.com.evil.example/x.pem", False),
    ("https://evil.example/sns.us-east-1.amazonaws.com/x.pem", False),
    ("https://sns.amazonaws.com/x.pem", False),  # no region
    ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.crt", False),  # not .pem
    ("https://sns.us-east-1.amazonaws.com/x.pem?redirect=https://evil.example/x.pem", False),
    ("https://sns.us-east-1.amazonaws.com/x.pem#x", False),
    ("https://user@sns.us-east-1.amazonaws.com/x.pem", False),
    ("https://sns.us-east-1.amazonaws.com:8443/x.pem", False),
    ("https://bucket.sns.us-east-1.amazonaws.com/x.pem", False),
    ("https://sns.us_east_1.amazonaws.com/x.pem", False),
    ("sns.us-east-1.amazonaws.com/x.pem", False),
    ("", False),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("url", "allowed"), URLS)
async def test_prepare_fetches_only_a_pem_on_an_sns_host(url: str, allowed: bool) -> None:
    provider = provider_of(certificates={}, signing_private_key=None)
    fetch = FakeFetch(CERT.encode())
    callback = raw(notification(RECEIPT) | {"SigningCertURL": url})
    if allowed:
        await provider.prepare(callback, fetch)
        assert fetch.urls == [url]
        assert check_certificate_url(url) == url
    else:
        with pytest.raises(VerificationError) as refused:
            await provider.prepare(callback, fetch)
        assert (refused.value.reason, refused.value.status) == ("source_not_allowed", 403)
        assert fetch.urls == []
        with pytest.raises(VerificationError):
            provider.verify(callback)


@pytest.mark.anyio
async def test_prepare_fetches_nothing_for_another_topic_an_unauthenticated_caller_or_a_pinned_instance() -> None:
    fetch = FakeFetch(CERT.encode())
    await provider_of(certificates={}, signing_private_key=None).prepare(
        raw(notification(RECEIPT) | {"TopicArn": OTHER_TOPIC}), fetch)
    await provider_of().prepare(raw(notification(RECEIPT) | {"SigningCertURL": CERT_URL.replace("0123", "9999")}),
                                fetch)
    with pytest.raises(VerificationError):
        await provider_of(certificates={}, signing_private_key=None, basic_username="sns",
                          basic_password="a-long-password").prepare(raw(notification(RECEIPT)), fetch)
    assert fetch.urls == []


@pytest.mark.anyio
async def test_a_failed_fetch_or_a_body_that_is_no_certificate_is_key_unavailable_503() -> None:
    provider = provider_of(certificates={}, signing_private_key=None)
    failing = FakeFetch(VerificationError("key_unavailable", "outbound fetch failed: URLError", status=503))
    for fetch in (failing, FakeFetch(b"<html>not a certificate</html>")):
        with pytest.raises(VerificationError) as refused:
            await provider.prepare(raw(notification(RECEIPT)), fetch)
        assert (refused.value.reason, refused.value.status) == ("key_unavailable", 503)
    with pytest.raises(VerificationError) as unprepared:
        provider.verify(raw(notification(RECEIPT)))
    assert unprepared.value.reason == "key_unavailable"


@pytest.mark.anyio
async def test_the_certificate_cache_is_bounded() -> None:
    from bridge.providers import aws_sns

    provider = provider_of(certificates={}, signing_private_key=None)
    fetch = FakeFetch(CERT.encode())
    for i in range(aws_sns.CACHED_CERTIFICATES + 5):
        url = f"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{i}.pem"
        await provider.prepare(raw(notification(RECEIPT) | {"SigningCertURL": url}), fetch)
    assert len(provider._fetched) == aws_sns.CACHED_CERTIFICATES
    assert "SimpleNotificationService-0.pem" not in " ".join(provider._fetched)


def test_a_pinned_instance_refuses_an_unpinned_url_and_accepts_a_pin_by_file_name() -> None:
    with pytest.raises(VerificationError) as refused:
        provider_of().verify(raw(notification(RECEIPT, SigningCertURL=CERT_URL.replace("0123", "9999"))))
    assert (refused.value.reason, refused.value.status) == ("unknown_access_key", 403)
    by_name = provider_of(certificates={"SimpleNotificationService-0123456789abcdef.pem": CERT})
    assert by_name.verify(raw(notification(RECEIPT))).message_type == "Notification"


# --- forgeries ---------------------------------------------------------------------------------------


def forgeries() -> list[tuple[str, RawCallback, str]]:
    genuine = notification(RECEIPT)
    tampered = {**genuine, "Message": orjson.dumps({**RECEIPT, "eventType": "TEXT_SPAM"}).decode()}
    return [
        ("tampered Message", raw(tampered), "bad_signature"),
        ("signed by another key", raw(notification(RECEIPT) | {"Signature": signed(genuine, FORGER_KEY)["Signature"]}),
         "bad_signature"),
        ("wrong certificate host", raw(signed(genuine, url=CERT_URL.replace("sns.", "s3."))), "source_not_allowed"),
        ("http certificate URL", raw(signed(genuine, url=CERT_URL.replace("https", "http"))), "source_not_allowed"),
        ("another topic", raw(signed({**genuine, "TopicArn": OTHER_TOPIC})), "unknown_access_key"),
        ("SignatureVersion 3", raw(signed(genuine, version="3")), "unsupported_algorithm"),
        ("no SignatureVersion", raw({k: v for k, v in genuine.items() if k != "SignatureVersion"}),
         "unsupported_algorithm"),
        ("Signature not base64", raw({**genuine, "Signature": "%%%"}), "bad_signature"),
        ("raw delivery header", raw(genuine, {"x-amz-sns-rawdelivery": "true"}), "missing_credentials"),
        ("raw delivery body", raw(RECEIPT), "missing_credentials"),
        ("not JSON", raw(b"Type=Notification"), "missing_credentials"),
        ("unknown Type", raw(signed({**genuine, "Type": "Telegram"})), "missing_credentials"),
        ("Timestamp not a time", raw(signed({**genuine, "Timestamp": "yesterday"})), "stale_timestamp"),
    ]


@pytest.mark.parametrize(("name", "callback", "reason"), forgeries(), ids=[f[0] for f in forgeries()])
def test_forgeries_are_refused(name: str, callback: RawCallback, reason: str) -> None:
    with pytest.raises(VerificationError) as refused:
        provider_of().verify(callback)
    assert refused.value.reason == reason and refused.value.status in (401, 403)


@pytest.mark.anyio
async def test_forgeries_over_http_are_refused_and_nothing_is_published() -> None:
    app = App(TOPIC)
    for name, callback, _ in forgeries():
        reply = await app.post(callback.body, dict(callback.headers))
        assert reply.status_code in (401, 403), name
    assert app.publisher.records == [] and app.fetched == []


def test_basic_credentials_are_checked_in_addition_to_the_signature() -> None:
    provider = provider_of(basic_username="sns", basic_password="a-long-password")
    outgoing = provider.sign("https://bridge.example/callbacks/aws_sns/test", orjson.dumps(
        {"Type": "Notification", "MessageId": "m-1", "Message": orjson.dumps(RECEIPT).decode(),
         "Timestamp": "2026-01-01T00:00:00.000Z"}), "delivered", NOW)
    headers = dict(outgoing.headers)
    assert provider.verify(raw(outgoing.body, headers)).replay_key == "m-1"
    for authorization in (None, "Basic c25zOndyb25n"):
        if authorization is None:
            headers.pop("authorization")
        else:
            headers["authorization"] = authorization
        with pytest.raises(VerificationError) as refused:
            provider.verify(raw(outgoing.body, headers))
        reply = provider.rejected(refused.value)
        assert reply.status == 401 and reply.headers["WWW-Authenticate"].startswith("Basic realm=")
    with pytest.raises(ValidationError, match="go together"):
        settings_of(basic_username="sns")


# --- the subscription handshake ----------------------------------------------------------------------


def test_a_verified_subscription_confirmation_is_confirmed_by_its_subscribe_url() -> None:
    provider = provider_of()
    envelope = confirmation()
    handshake = provider.handshake(provider.verify(raw(envelope)))
    assert handshake is not None and handshake.confirm_url == envelope["SubscribeURL"]
    assert handshake.reply.status == 200


def test_with_auto_confirm_off_the_confirmation_is_logged_for_an_operator_without_its_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    provider = provider_of(auto_confirm=False)
    envelope = confirmation()
    with caplog.at_level(logging.INFO, logger="bridge.providers.aws_sns"):
        handshake = provider.handshake(provider.verify(raw(envelope)))
    assert handshake is not None and handshake.confirm_url is None
    [record] = caplog.records
    assert record.topic_arn == TOPIC and "operator must confirm" in record.getMessage()  # type: ignore[attr-defined]
    logged = record.getMessage() + repr(vars(record))
    assert envelope["Token"] not in logged and "SubscribeURL=" not in logged and "Action=Confirm" not in logged


@pytest.mark.parametrize("host", ["sns.us-west-2.amazonaws.com", "evil.example",
                                  "sns.us-east-1.amazonaws.com.evil.example", "sqs.us-east-1.amazonaws.com"])
def test_a_subscribe_url_off_the_topic_regions_sns_host_is_refused(host: str) -> None:
    with pytest.raises(VerificationError) as refused:
        provider_of().verify(raw(confirmation(host=host)))
    assert refused.value.status == 403


def test_a_confirmation_for_another_topic_is_refused_before_anything_else() -> None:
    with pytest.raises(VerificationError, match="TopicArn"):
        provider_of().verify(raw(confirmation(TopicArn=OTHER_TOPIC)))


def test_an_unsubscribe_confirmation_is_answered_and_publishes_nothing() -> None:
    provider = provider_of()
    handshake = provider.handshake(provider.verify(raw(confirmation("UnsubscribeConfirmation"))))
    assert handshake is not None and handshake.confirm_url is None and handshake.reply.status == 200


class App:
    """The real app with a fake publisher and a fake outbound fetcher (no network)."""

    def __init__(self, topic: str, monkeypatch: pytest.MonkeyPatch | None = None, **overrides: Any) -> None:
        self.fetched: list[str] = []
        fetched = self.fetched

        class Fetcher:
            async def __call__(self, url: str) -> bytes:
                fetched.append(url)
                return b"<ConfirmSubscriptionResponse/>"

        instance = {"kind": "aws_sns", "name": "aws-sns-test", "path": "/callbacks/aws_sns/test", "topics": [topic],
                    "certificates": {CERT_URL: CERT}, "signing_private_key": KEY, **overrides}
        settings = parse(orjson.dumps({"kafka": {"bootstrap_servers": ["127.0.0.1:9"]},
                                       "providers": [instance]}).decode(), {})
        self.publisher = FakePublisher()
        patch = monkeypatch or pytest.MonkeyPatch()
        patch.setattr(app_module, "HttpsFetcher", Fetcher)
        app = create_app(settings, self.publisher, CollectorRegistry(), FixedClock(NOW), Lifecycle())
        if monkeypatch is None:
            patch.undo()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.5", 1)),
                                        base_url="http://bridge.test")

    async def post(self, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post("/callbacks/aws_sns/test", content=body,
                                      headers=headers or {"content-type": "text/plain; charset=UTF-8"})


@pytest.mark.anyio
async def test_over_http_the_bridge_confirms_once_and_publishes_nothing() -> None:
    app = App(TOPIC)
    envelope = confirmation()
    assert (await app.post(orjson.dumps(envelope))).status_code == 200
    assert app.fetched == [envelope["SubscribeURL"]] and app.publisher.records == []
    assert (await app.post(orjson.dumps(envelope))).status_code == 403  # the same message again: a replay
    assert app.fetched == [envelope["SubscribeURL"]]
    off = App(TOPIC, auto_confirm=False)
    assert (await off.post(orjson.dumps(confirmation()))).status_code == 200
    assert off.fetched == [] and off.publisher.records == []
    unsubscribed = confirmation("UnsubscribeConfirmation", MessageId="47f3a5d6-0000-4000-8000-000000000002")
    assert (await off.post(orjson.dumps(unsubscribed))).status_code == 200
    assert off.publisher.records == []


@pytest.mark.anyio
async def test_over_http_a_notification_without_a_content_type_or_as_json_is_published() -> None:
    app = App(TOPIC)
    for i, media in enumerate(("text/plain; charset=UTF-8", "application/json")):
        body = orjson.dumps(notification({**RECEIPT, "messageId": f"m-{i}"}, MessageId=f"id-{i}"))
        reply = await app.post(body, {"content-type": media})
        assert reply.status_code == 200, reply.text
    assert len(app.publisher.records) == 2


# --- parsing -----------------------------------------------------------------------------------------


def parsed(message: dict[str, Any] | str, **extra: Any) -> list[Any]:
    provider = provider_of()
    return list(provider.parse(provider.verify(raw(notification(message, **extra)))))


def test_a_final_delivered_event_is_a_delivered_receipt() -> None:
    [receipt] = parsed(RECEIPT)
    assert isinstance(receipt, DeliveryReceipt)
    assert (receipt.message_id, receipt.status, receipt.status_code) == (RECEIPT["messageId"], Status.DELIVERED,
                                                                         "TEXT_DELIVERED")
    assert receipt.to == "+14255550156" and receipt.region == "US" and receipt.from_ == "+12065550152"
    assert receipt.occurred_at == datetime(2023, 6, 17, 4, 11, 43, 470000, tzinfo=UTC)
    assert (receipt.segments, receipt.price) == (1, "0.09582")
    assert receipt.status_detail == "Message has been accepted by phone" and receipt.raw == RECEIPT
    assert_valid_record(ENVELOPE.to_record(receipt))


@pytest.mark.parametrize(("event_type", "final", "status"), [
    ("TEXT_SUCCESSFUL", True, Status.DELIVERED), ("TEXT_SUCCESSFUL", False, Status.UNKNOWN),
    ("TEXT_DELIVERED", False, Status.UNKNOWN), ("TEXT_CARRIER_UNREACHABLE", True, Status.UNDELIVERED),
    ("TEXT_CARRIER_UNREACHABLE", False, Status.UNKNOWN), ("TEXT_TTL_EXPIRED", True, Status.UNDELIVERED),
    ("TEXT_QUEUED", False, Status.UNKNOWN), ("TEXT_UNKNOWN", True, Status.UNKNOWN),
    ("TEXT_SOMETHING_NEW", True, Status.UNKNOWN),
])
def test_is_final_decides_whether_the_event_type_is_an_outcome(event_type: str, final: bool, status: Status) -> None:
    [receipt] = parsed({**RECEIPT, "eventType": event_type, "isFinal": final})
    assert receipt.status is status and receipt.status_code == event_type


def test_a_sender_id_is_kept_as_given() -> None:
    [receipt] = parsed({**RECEIPT, "originationPhoneNumber": "VAJZNBLLDX"})
    assert receipt.from_ == "VAJZNBLLDX"


def test_an_inbound_message_takes_the_envelope_timestamp() -> None:
    inner = orjson.loads(orjson.loads(fixture_bytes("aws_sns", "inbound.json"))["Message"])
    [message] = parsed(inner)
    assert isinstance(message, InboundMessage)
    assert (message.message_id, message.from_, message.to, message.text) == (
        "cae173d2-66b9-564c-8309-21f858e9fb84", "+14255550182", "+12125550101", "EXAMPLE")
    assert message.occurred_at == datetime(2026, 1, 1, tzinfo=UTC) and message.region == "US"
    assert_valid_record(ENVELOPE.to_record(message))


def test_event_ids_are_stable_across_sns_retries() -> None:
    """A retry is the same signed envelope, received later: the same event ids."""
    provider = provider_of()
    for message in (RECEIPT, orjson.loads(orjson.loads(fixture_bytes("aws_sns", "inbound.json"))["Message"])):
        body = notification(message)
        first = provider.parse(provider.verify(raw(body)))
        later = RawCallback(orjson.dumps(body), {}, None, datetime(2026, 1, 1, 0, 59, tzinfo=UTC))
        again = provider.parse(provider.verify(later))
        assert [e.id for e in first if not isinstance(e, BadReport)] == [
            e.id for e in again if not isinstance(e, BadReport)] != []


@pytest.mark.parametrize(("message", "reason"), [
    ("Hello world", "invalid_json"), ("[1]", "wrong_shape"), ({"foo": 1}, "unsupported_callback"),
    ({**RECEIPT, "eventType": "VOICE_COMPLETED"}, "unsupported_callback"),
    ({**RECEIPT, "isFinal": "true"}, "invalid_field"), ({**RECEIPT, "eventTimestamp": "soon"}, "invalid_field"),
    ({k: v for k, v in RECEIPT.items() if k != "messageId"}, "missing_field"),
    ({**RECEIPT, "totalMessagePrice": "cheap"}, "invalid_field"),
])
def test_authentic_messages_that_are_no_sms_event_are_malformed(message: Any, reason: str) -> None:
    with pytest.raises(MalformedCallbackError) as malformed:
        parsed(message)
    assert malformed.value.reason == reason


def test_restore_rebuilds_a_dead_letter_without_verifying() -> None:
    provider = provider_of()
    restored = provider.restore(raw(notification(RECEIPT)))
    assert isinstance(restored, SnsVerified) and restored.replay_key is None
    [event] = provider.parse(restored)
    assert not isinstance(event, BadReport) and event.id == parsed(RECEIPT)[0].id


# --- settings and signing ----------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "message"), [
    ({"topics": []}, "at least 1"),
    ({"topics": ["arn:aws:sqs:us-east-1:111122223333:q"]}, "SNS topic ARN"),
    ({"certificates": {"https://s3.amazonaws.com/x.pem": CERT}}, "SigningCertURL"),
    ({"certificates": {CERT_URL: "not a certificate"}}, "X.509"),
    ({"certificates": {CERT_URL: FORGER_CERT}}, "none of the pinned"),
    ({"signing_private_key": "bm90IGEga2V5"}, "RSA private key"),
])
def test_settings_refuse_what_could_not_work(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings_of(**overrides)


def test_defaults_auto_confirm_on_and_a_window_of_one_hour() -> None:
    settings = settings_of()
    assert settings.auto_confirm is True and settings.timestamp_tolerance_seconds == 3600


def test_sign_needs_a_signing_key_and_uses_the_pinned_url_of_its_certificate() -> None:
    with pytest.raises(UsageError, match="only AWS"):
        provider_of(signing_private_key=None).sign("http://x/", b"{}", "delivered", NOW)
    by_name = provider_of(certificates={"dev.pem": CERT})
    sample = by_name.samples[0]
    outgoing: Outgoing = by_name.sign("http://x/", sample.body(NOW), sample.name, NOW)
    envelope = orjson.loads(outgoing.body)
    assert envelope["SigningCertURL"] == "https://sns.us-east-1.amazonaws.com/dev.pem"
    assert envelope["TopicArn"] == TOPIC and outgoing.headers["x-amz-sns-topic-arn"] == TOPIC
    assert outgoing.headers["content-type"].startswith("text/plain")
    assert by_name.verify(raw(outgoing.body)).message_type == "Notification"


def test_the_development_instance_pins_the_development_certificate() -> None:
    assert AwsSnsProvider.dev_instance["certificates"].keys() == {DEV_CERTIFICATE_URL}
