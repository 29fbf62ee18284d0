"""Azure Communication Services via Event Grid: the documented events in both schemas, the handshakes,
the query-string secret and Entra ID bearer tokens (RSA keys made at run time) with a forgery of each
rule, JWKS fetching, batches with a bad event, the status table, replies and signing."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bridge.clock import FixedClock
from bridge.errors import CallbackError, MalformedCallbackError, UsageError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.kafka.envelope import Envelope
from bridge.providers.azure import AzureProvider, AzureSettings
from bridge.providers.azure_signature import EVENT_GRID_APP_IDS, JwksCache
from bridge.providers.base import BadReport, Outgoing, Parsed, RawCallback, Verified
from tests.conftest import fixture_bytes
from tests.helpers import assert_valid_record

SECRET = "test-azure-query-secret-0123456789"
OLD_SECRET = "old-azure-query-secret-9876543210"
URL = "https://bridge.example.com/callbacks/azure/test"
NOW = 1_600_388_540.0  # 2020-09-18T00:22:20Z, the documented delivery report's time
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
AUDIENCE = "api://sms-bridge-webhook"
EVENT_GRID = EVENT_GRID_APP_IDS[0]


# --- keys made at run time ---------------------------------------------------------------------------


@cache
def private_key(name: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(name: str, kid: str | None = None) -> dict[str, Any]:
    public: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(private_key(name).public_key(), as_dict=True)
    return {**public, "use": "sig", **({"kid": kid} if kid else {})}


def jwks(*names: str) -> dict[str, Any]:
    return {"keys": [jwk(name, name) for name in names]}


def claims(**changes: Any) -> dict[str, Any]:
    base = {"iss": ISSUER, "aud": AUDIENCE, "azp": EVENT_GRID, "roles": ["AzureEventGridSecureWebhookSubscriber"],
            "iat": int(NOW) - 600, "nbf": int(NOW) - 600, "exp": int(NOW) + 3000, "tid": TENANT}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def token(key: str = "entra", kid: str | None = "entra", **changes: Any) -> str:
    headers = {"kid": kid} if kid else {}
    return jwt.encode(claims(**changes), private_key(key), algorithm="RS256", headers=headers)


def public_pem(name: str) -> bytes:
    return private_key(name).public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(alg: str, secret: bytes | None = None) -> str:
    """A token with `alg` none (no signature) or HS256 keyed with `secret` (the algorithm-confusion forgery)."""
    head = b64(orjson.dumps({"alg": alg, "typ": "JWT", "kid": "entra"})) + "." + b64(orjson.dumps(claims()))
    if secret is None:
        return head + "."
    return head + "." + b64(hmac.new(secret, head.encode(), hashlib.sha256).digest())


# --- instances ---------------------------------------------------------------------------------------


def secret_settings(**overrides: Any) -> AzureSettings:
    return AzureSettings.model_validate({"kind": "azure", "name": "azure-test", "path": "/callbacks/azure/test",
                                         "query_secrets": [SECRET], **overrides})


def entra_settings(**overrides: Any) -> AzureSettings:
    document = {"kind": "azure", "name": "azure-test", "path": "/callbacks/azure/test", "auth": "entra_id",
                "jwks": orjson.dumps(jwks("entra")).decode(), "issuers": [ISSUER], "audiences": [AUDIENCE],
                **overrides}
    return AzureSettings.model_validate({k: v for k, v in document.items() if v is not None})


def provider(settings: AzureSettings | None = None, now: float = NOW) -> AzureProvider:
    return AzureProvider(settings or secret_settings(), FixedClock(now))


def callback(body: bytes, *, url: str = URL + "?token=" + SECRET, headers: dict[str, str] | None = None,
             method: str = "POST", now: float = NOW) -> RawCallback:
    query = tuple(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    given = {"content-type": "application/json", **(headers or {})} if method == "POST" else dict(headers or {})
    return RawCallback(body, given, "203.0.113.5", datetime.fromtimestamp(now, UTC), None, method, url, query)


def bearer(body: bytes, value: str, **kwargs: Any) -> RawCallback:
    return callback(body, url=URL, headers={"authorization": f"Bearer {value}"}, **kwargs)


def events(items: Parsed) -> list[DeliveryReceipt | InboundMessage]:
    return [item for item in items if not isinstance(item, BadReport)]


DR = fixture_bytes("azure", "dr_event_grid.json")
MO = fixture_bytes("azure", "mo_event_grid.json")


# --- the documented events ----------------------------------------------------------------------------


def test_azure_documented_delivery_report_becomes_a_delivered_receipt_with_the_event_as_raw() -> None:
    p = provider()
    [receipt] = p.parse(p.verify(callback(DR)))
    assert isinstance(receipt, DeliveryReceipt)
    envelope = orjson.loads(DR)[0]
    assert receipt.message_id == "Outgoing_202009180022138813a09b-0cbf-4304-9b03-1546683bb910"
    assert (receipt.status, receipt.status_code, receipt.status_detail) == (Status.DELIVERED, "Delivered", "No error.")
    assert (receipt.to, receipt.from_, receipt.segments) == ("+15555555555", "15555555555", 1)
    assert receipt.occurred_at == datetime(2020, 9, 18, 0, 22, 20, 285574, UTC)  # seven digits, cut to six
    assert receipt.raw == envelope
    assert_valid_record(Envelope("/sms/azure/test", {t: t.value for t in EventType}).to_record(receipt))


def test_azure_documented_inbound_message_becomes_an_inbound_event() -> None:
    p = provider()
    [message] = p.parse(p.verify(callback(MO)))
    assert isinstance(message, InboundMessage)
    assert message.message_id == "Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e"
    assert message.text == "Great to connect with Azure Communication Services events"
    assert (message.from_, message.to, message.segments) == ("15555555555", "15555555555", 1)
    assert message.occurred_at == datetime(2020, 9, 18, 0, 27, 45, 320000, UTC)
    assert message.raw == orjson.loads(MO)[0]


def test_azure_cloudevents_schema_and_pascal_case_data_keys_parse_as_the_event_grid_schema_does() -> None:
    p = provider()
    body = fixture_bytes("azure", "dr_cloudevents_constructed.json")
    [receipt] = p.parse(p.verify(callback(body, headers={"content-type": "application/cloudevents+json"})))
    assert isinstance(receipt, DeliveryReceipt)
    assert (receipt.status, receipt.status_code, receipt.segments) == (Status.UNDELIVERED, "Failed", 1)
    [message] = p.parse(p.verify(callback(fixture_bytes("azure", "mo_pascal_case_constructed.json"))))
    assert isinstance(message, InboundMessage) and message.text.startswith("Great to connect")
    batch = orjson.dumps([orjson.loads(body), orjson.loads(body) | {"id": "2"}])  # cloudevents-batch+json
    assert len(events(p.parse(p.verify(callback(batch))))) == 2


def test_azure_event_ids_are_the_same_whenever_event_grid_retries() -> None:
    p = provider()
    first = events(p.parse(p.verify(callback(DR, now=NOW))))[0]
    retry = events(p.parse(p.verify(callback(DR, now=NOW + 3600))))[0]
    assert first.received_at != retry.received_at and first.id == retry.id


def test_azure_status_table_is_final_for_both_documented_codes_and_keeps_unknown_codes_verbatim() -> None:
    assert AzureProvider.statuses == {"Delivered": Status.DELIVERED, "Failed": Status.UNDELIVERED}
    document = orjson.loads(DR)
    document[0]["data"]["deliveryStatus"] = "Expired"
    p = provider()
    [receipt] = events(p.parse(p.verify(callback(orjson.dumps(document)))))
    assert isinstance(receipt, DeliveryReceipt)
    assert (receipt.status, receipt.status_code) == (Status.UNKNOWN, "Expired")


def test_azure_event_time_falls_back_to_the_envelope_when_data_has_no_received_timestamp() -> None:
    document = orjson.loads(MO)
    del document[0]["data"]["receivedTimestamp"]
    p = provider()
    [message] = events(p.parse(p.verify(callback(orjson.dumps(document)))))
    assert message.occurred_at == datetime(2020, 9, 18, 0, 27, 47, tzinfo=UTC)


# --- batches ----------------------------------------------------------------------------------------


def test_azure_bad_event_of_a_batch_is_dead_lettered_alone_inside_its_original_envelope() -> None:
    good = orjson.loads(DR)[0]
    bad = {**orjson.loads(MO)[0], "data": {"messageId": "x", "message": "no sender"}}
    other = {**good, "eventType": "Microsoft.Communication.ChatMessageReceived"}
    p = provider()
    items = p.parse(p.verify(callback(orjson.dumps([good, bad, other]))))
    assert isinstance(items[0], DeliveryReceipt)
    assert [type(i) for i in items[1:]] == [BadReport, BadReport]
    first, second = items[1], items[2]
    assert isinstance(first, BadReport) and isinstance(second, BadReport)
    assert (first.index, first.report, first.error.reason) == (1, bad, "missing_field")
    assert "[1].data.from" in str(first.error)
    assert second.error.reason == "unsupported_callback"
    assert first.body is not None and orjson.loads(first.body) == [bad]
    [again] = p.parse(p.restore(callback(first.body)))  # redrive parses the dead letter alone, to the same error
    assert isinstance(again, BadReport) and again.report == bad and str(again.error) == "[0].data.from: required"


@pytest.mark.parametrize(("body", "reason"), [
    (b"[]", "wrong_shape"), (b"7", "wrong_shape"), (b"", "invalid_json"), (b"{", "invalid_json"),
    (orjson.dumps({"specversion": "1.0", "type": "Microsoft.Storage.BlobCreated", "data": {}}), "missing_field"),
])
def test_azure_callbacks_that_cannot_be_understood_are_malformed(body: bytes, reason: str) -> None:
    p = provider()
    with pytest.raises(MalformedCallbackError) as caught:
        p.parse(p.verify(callback(body)))
    assert caught.value.reason == reason


def test_azure_more_events_than_max_events_is_refused_whole() -> None:
    p = provider(secret_settings(max_events=2))
    with pytest.raises(MalformedCallbackError) as caught:
        p.parse(p.verify(callback(orjson.dumps(orjson.loads(DR) * 3))))
    assert caught.value.reason == "too_many_reports"


# --- handshakes -------------------------------------------------------------------------------------


def test_azure_subscription_validation_event_is_answered_with_its_code_and_nothing_else() -> None:
    p = provider()
    body = fixture_bytes("azure", "subscription_validation.json")
    handshake = p.handshake(p.verify(callback(body, headers={"aeg-event-type": "SubscriptionValidation"})))
    assert handshake is not None and handshake.confirm_url is None
    assert handshake.reply.status == 200
    assert orjson.loads(handshake.reply.body) == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    assert p.handshake(p.verify(callback(DR))) is None
    deletion = orjson.dumps([{"id": "1", "eventType": "Microsoft.EventGrid.SubscriptionDeletedEvent", "data": {}}])
    deleted = p.handshake(p.verify(callback(deletion)))
    assert deleted is not None and deleted.reply.status == 200
    mixed = orjson.dumps([*orjson.loads(body), *orjson.loads(DR)])
    assert p.handshake(p.verify(callback(mixed))) is None  # parse() dead-letters the control event alone


def test_azure_validation_event_without_the_secret_is_refused_before_any_handshake() -> None:
    body = fixture_bytes("azure", "subscription_validation.json")
    with pytest.raises(VerificationError) as caught:
        provider().verify(callback(body, url=URL + "?token=wrong-secret-0123456789"))
    assert caught.value.status == 401


def test_azure_cloudevents_options_grants_the_event_grid_origin_only() -> None:
    p = provider()
    options = callback(b"", method="OPTIONS", headers={"webhook-request-origin": "eventgrid.azure.net"})
    handshake = p.handshake(p.verify(options))
    assert handshake is not None and handshake.reply.status == 200
    assert handshake.reply.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
    assert handshake.reply.headers["WebHook-Allowed-Rate"] == "*"
    for origin, status in (("evil.example.com", 403), ("", 401), ("eventgrid.azure.net\r\nX: y", 403)):
        with pytest.raises(VerificationError) as caught:
            p.verify(callback(b"", method="OPTIONS", headers={"webhook-request-origin": origin}))
        assert caught.value.status == status, origin
    with pytest.raises(VerificationError, match="query parameter token: required"):
        p.verify(callback(b"", url=URL, method="OPTIONS", headers={"webhook-request-origin": "eventgrid.azure.net"}))
    anyone = provider(secret_settings(allowed_origins=["*"]))
    granted = anyone.handshake(anyone.verify(callback(b"", method="OPTIONS",
                                                      headers={"webhook-request-origin": "events.example.org"})))
    assert granted is not None and granted.reply.headers["WebHook-Allowed-Origin"] == "events.example.org"


# --- the query-string secret ------------------------------------------------------------------------


def test_azure_query_secret_right_wrong_missing_and_rotated() -> None:
    p = provider(secret_settings(query_secrets=[SECRET, OLD_SECRET]))
    assert isinstance(p.verify(callback(DR)), Verified)
    assert isinstance(p.verify(callback(DR, url=f"{URL}?a=1&token={OLD_SECRET}")), Verified)
    for url, reason in ((URL, "missing_credentials"), (URL + "?code=" + SECRET, "missing_credentials"),
                        (URL + "?token=" + SECRET[:-1], "bad_token"), (URL + "?token=", "bad_token"),
                        (URL + "?token=" + SECRET.upper(), "bad_token")):
        with pytest.raises(VerificationError) as caught:
            p.verify(callback(DR, url=url))
        assert (caught.value.reason, caught.value.status) == (reason, 401), url
        assert SECRET not in str(caught.value)


def test_azure_query_parameter_name_is_configurable() -> None:
    p = provider(secret_settings(query_parameter="code"))
    assert isinstance(p.verify(callback(DR, url=URL + "?code=" + SECRET)), Verified)
    with pytest.raises(VerificationError):
        p.verify(callback(DR))


# --- Entra ID bearer tokens -------------------------------------------------------------------------


def test_azure_entra_token_signed_by_the_tenant_key_for_our_audience_is_accepted() -> None:
    p = provider(entra_settings())
    verified = p.verify(bearer(DR, token()))
    assert verified.signed_at is None and verified.replay_key is None  # reused for an hour: no nonce, no fresh time
    assert events(p.parse(verified))
    v1 = token(iss=f"https://sts.windows.net/{TENANT}/", azp=None, appid=EVENT_GRID, aud=[AUDIENCE, "other"])
    assert isinstance(provider(entra_settings(issuers=[ISSUER, f"https://sts.windows.net/{TENANT}/"]))
                      .verify(bearer(DR, v1)), Verified)


@pytest.mark.parametrize(("forged", "reason", "words"), [
    (lambda: token(iss="https://login.microsoftonline.com/another-tenant/v2.0"), "bad_signature", "iss"),
    (lambda: token(aud="api://another-app"), "bad_signature", "aud"),
    (lambda: token(exp=int(NOW) - 120), "stale_timestamp", "exp"),
    (lambda: token(nbf=int(NOW) + 600), "stale_timestamp", "nbf"),
    (lambda: token(key="forger"), "bad_signature", "signature does not match"),
    (lambda: token(key="forger", kid="forger"), "bad_signature", "not in the JWKS"),
    (lambda: unsigned_token("none"), "unsupported_algorithm", "RS256"),
    (lambda: unsigned_token("HS256", orjson.dumps(jwk("entra"))), "unsupported_algorithm", "RS256"),
    (lambda: unsigned_token("HS256", public_pem("entra")), "unsupported_algorithm", "RS256"),
    (lambda: token(exp=None), "bad_signature", "exp: required"),
    (lambda: token(aud=None), "bad_signature", "aud: required"),
    (lambda: token(azp="11111111-2222-3333-4444-555555555555"), "bad_signature", "client id"),
    (lambda: token()[:-4] + "AAAA", "bad_signature", "signature"),
    (lambda: "not.a.jwt", "bad_signature", "not a valid JWT"),
    (lambda: "é", "bad_signature", "not a valid JWT"),
])
def test_azure_entra_token_forgeries_are_refused(forged: Any, reason: str, words: str) -> None:
    with pytest.raises(VerificationError, match=words) as caught:
        provider(entra_settings()).verify(bearer(DR, forged()))
    assert caught.value.reason == reason and caught.value.status in (401, 403)


def test_azure_entra_without_a_bearer_token_or_with_only_the_query_secret_is_refused() -> None:
    p = provider(entra_settings())
    for raw in (callback(DR), callback(DR, url=URL, headers={"authorization": "Basic dXNlcjpwYXNz"})):
        with pytest.raises(VerificationError, match="Bearer token required") as caught:
            p.verify(raw)
        assert caught.value.reason == "missing_credentials"


def test_azure_entra_client_check_can_be_turned_off_and_keys_without_kid_are_tried() -> None:
    p = provider(entra_settings(client_ids=[], jwks=orjson.dumps({"keys": [jwk("entra")]}).decode()))
    assert isinstance(p.verify(bearer(DR, token(azp="someone-else", kid=None))), Verified)
    assert isinstance(p.verify(bearer(DR, token(azp="someone-else", kid="any"))), Verified)


class FakeFetch:
    def __init__(self, *bodies: bytes | Exception) -> None:
        self.bodies = list(bodies)
        self.urls: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        body = self.bodies.pop(0) if len(self.bodies) > 1 else self.bodies[0]
        if isinstance(body, Exception):
            raise body
        return body


JWKS_URL = f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys"


def fetching(now: float = NOW) -> tuple[AzureProvider, FixedClock]:
    clock = FixedClock(now)
    return AzureProvider(entra_settings(jwks=None, jwks_url=JWKS_URL), clock), clock


@pytest.mark.anyio
async def test_azure_jwks_url_is_fetched_once_cached_and_refetched_for_a_new_kid_at_most_once_a_minute() -> None:
    p, clock = fetching()
    fetch = FakeFetch(orjson.dumps(jwks("entra")), orjson.dumps(jwks("entra", "rotated")))
    raw = bearer(DR, token())
    await p.prepare(raw, fetch)
    await p.prepare(raw, fetch)
    assert fetch.urls == [JWKS_URL] and isinstance(p.verify(raw), Verified)
    rotated = bearer(DR, token(key="rotated", kid="rotated"))
    await p.prepare(rotated, fetch)  # within a minute of the last fetch: not again
    with pytest.raises(VerificationError, match="not in the JWKS"):
        p.verify(rotated)
    clock.advance(61)
    await p.prepare(rotated, fetch)
    assert len(fetch.urls) == 2 and isinstance(p.verify(rotated), Verified)
    await p.prepare(callback(DR), fetch)  # no token: nothing to fetch for
    assert len(fetch.urls) == 2


@pytest.mark.anyio
async def test_azure_jwks_that_cannot_be_fetched_is_503_so_event_grid_retries_and_old_keys_are_kept() -> None:
    p, clock = fetching()
    down = FakeFetch(VerificationError("key_unavailable", "outbound fetch failed", status=503))
    with pytest.raises(VerificationError) as caught:
        await p.prepare(bearer(DR, token()), down)
    assert (caught.value.reason, caught.value.status) == ("key_unavailable", 503)
    with pytest.raises(VerificationError):  # a second attempt within the minute does not fetch
        await p.prepare(bearer(DR, token()), down)
    assert len(down.urls) == 1
    clock.advance(61)
    await p.prepare(bearer(DR, token()), FakeFetch(orjson.dumps(jwks("entra"))))
    clock.advance(7200)
    fresh = token(exp=int(clock.time()) + 3000)
    await p.prepare(bearer(DR, fresh), FakeFetch(b"<html>"))  # stale, refetch fails: keys kept
    assert isinstance(p.verify(bearer(DR, fresh)), Verified)


@pytest.mark.anyio
async def test_azure_jwks_cache_refuses_a_jwks_without_rsa_keys() -> None:
    cache = JwksCache(JWKS_URL)
    with pytest.raises(VerificationError, match="no usable JWKS"):
        await cache.refresh(f"Bearer {token()}", FakeFetch(b'{"keys":[{"kty":"EC"}]}'), NOW)


@pytest.mark.parametrize(("overrides", "words"), [
    ({"query_secrets": []}, "query_secret needs"),
    ({"query_secrets": ["short"]}, "at least 16"),
    ({"issuers": [ISSUER]}, "query_secret needs"),
    ({"auth": "entra_id", "query_secrets": [], "audiences": [AUDIENCE], "jwks_url": JWKS_URL}, "entra_id needs"),
    ({"auth": "entra_id", "query_secrets": [], "issuers": [ISSUER], "audiences": [AUDIENCE],
      "jwks_url": "http://keys.example.com/"}, "https"),
    ({"auth": "entra_id", "query_secrets": [], "issuers": [ISSUER], "audiences": [AUDIENCE],
      "jwks": orjson.dumps({"keys": [{**jwk("entra"), "d": "AQAB"}]}).decode()}, "public keys only"),
    ({"auth": "entra_id", "query_secrets": [], "issuers": [ISSUER], "audiences": [AUDIENCE], "jwks": "{"}, "JSON"),
    ({"query_parameter": "to ken"}, "pattern"),
])
def test_azure_settings_refuse_incomplete_or_unsafe_schemes(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        secret_settings(**overrides)


# --- replies and signing ----------------------------------------------------------------------------


def test_azure_replies_only_200_for_success_and_the_errors_status_otherwise() -> None:
    p = provider()
    verified = p.verify(callback(DR))
    assert p.accepted(verified).status == 200
    for error in (VerificationError("bad_token", "query parameter token: does not match"),
                  VerificationError("source_not_allowed", "x", status=403),
                  CallbackError("timeout", "not stored; retry later", status=503)):
        reply = p.rejected(error)
        assert reply.status == error.status
        assert orjson.loads(reply.body)["error"]["code"] == error.reason
    assert provider(entra_settings()).rejected(VerificationError("bad_signature", "x")).headers["WWW-Authenticate"] \
        == "Bearer"


def test_azure_sign_puts_the_first_secret_in_the_query_and_names_the_schema_by_media_type() -> None:
    p = provider(secret_settings(query_secrets=[SECRET, OLD_SECRET]))
    for sample in p.samples:
        out: Outgoing = p.sign(URL + "?x=1", sample.body(NOW), sample.name, NOW)
        assert out.method == "POST" and out.url == f"{URL}?x=1&token={SECRET}"
        cloud = sample.name.startswith("cloudevents")
        assert out.headers["content-type"].startswith("application/cloudevents+json" if cloud else "application/json")
        [event] = events(p.parse(p.verify(callback(out.body, url=out.url, headers=dict(out.headers)))))
        assert event.type is sample.event_type
    with pytest.raises(UsageError, match="Entra ID"):
        provider(entra_settings()).sign(URL, b"[]", "dr", NOW)


# --- totality ---------------------------------------------------------------------------------------

any_text = st.text(max_size=40)


@pytest.fixture
def entra() -> Iterator[AzureProvider]:
    yield provider(entra_settings())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_azure_verify_handshake_and_parse_raise_only_callback_errors(entra: AzureProvider, data: st.DataObject) -> None:
    genuine = [DR, MO, fixture_bytes("azure", "subscription_validation.json"), b""]
    body = data.draw(st.sampled_from(genuine) | st.binary(max_size=200) | st.sampled_from(genuine).map(
        lambda b: b[: len(b) // 2]))
    authorization = data.draw(st.sampled_from([f"Bearer {token()}", "Bearer " + token()[:-3], "Bearer x.y.z", ""])
                              | any_text.map(lambda t: "Bearer " + t))
    headers = {"authorization": authorization,
               "webhook-request-origin": data.draw(st.sampled_from(["eventgrid.azure.net", ""]) | any_text)}
    raw = RawCallback(body, headers, None, datetime.fromtimestamp(NOW, UTC), None,
                      data.draw(st.sampled_from(["POST", "OPTIONS"])), URL)
    try:
        verified = entra.verify(raw)
        if entra.handshake(verified) is None:
            entra.parse(verified)
    except CallbackError as error:
        assert error.status in (400, 401, 403)
