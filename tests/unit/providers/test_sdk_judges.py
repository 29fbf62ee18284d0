"""The providers' official Python SDKs as judges: each SDK that can verify a webhook validates what `sign()`
(`sms-bridge send`) produces, and each that can sign one signs callbacks the bridge must accept (over HTTP,
through the real app) and whose tampered copies it must refuse.

| kind | the SDK verifies our sign() | the SDK signs, the bridge verifies |
|---|---|---|
| twilio | `RequestValidator.validate` (auth token; shared key + algorithm) | `compute_signature` (both) |
| plivo | `utils.validate_signature` (V2) | `signature_v3.get_signature_v3` (V3) |
| vonage | `Auth.check_signature` (SMS `sig`), vonage-jwt `verify_signature` (Messages JWT) | `Auth.sign_params` |
| telnyx | `webhooks.unwrap` (Ed25519) | — (only Telnyx holds the private key) |
| bird | messagebird `RequestValidator` (JWT), `SignedRequest` (legacy HMAC) | — (verify only) |
| sinch | `validate_sinch_event_signature_with_nonce` | `calculate_sinch_event_signature` |

The SDKs come with the `judges` extra (in `dev`); `require_sdk` skips where one is missing, except in CI.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson
import pytest

from bridge.providers.base import FORM, JSON, Outgoing
from tests.conftest import require_sdk
from tests.contract.test_providers import BASE, App, make_provider, signed

TWILIO_TOKEN = "judge-twilio-auth-token-0123456789"
TWILIO_KEY_ID = "webhooks_sharedkey_0123456789abcdef"
TWILIO_KEY = "judge-twilio-shared-key-0123456789"
PLIVO_TOKEN = "judge-plivo-auth-token-0123456789"
VONAGE_KEY = "a1b2c3d"
VONAGE_SECRET = "judge-vonage-signature-secret-0123456789"  # >= 32 bytes: PyJWT warns below
# RFC 8032 TEST 1: the Telnyx dev instance's key pair (public half here).
TELNYX_PUBLIC_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
BIRD_KEY = "judge-bird-signing-key-0123456789abcdef"
SINCH_SECRET = "judge-sinch-hmac-secret"


@pytest.fixture
def now() -> Iterator[float]:
    """Wall-clock seconds: the Telnyx and MessageBird SDKs check the signed time against their own clock."""
    yield float(int(time.time()))


def sample_names(kind: str) -> list[str]:
    from bridge.providers import PROVIDERS

    return [s.name for s in PROVIDERS[kind].samples]


def headers_of(request: Outgoing) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def path_of(kind: str) -> str:
    return f"/callbacks/{kind}/test"


async def answer(kind: str, now: float, request: Outgoing, **overrides: Any) -> int:
    """The status the real app answers to `request` (a fake publisher behind it)."""
    app = App(kind, now, **overrides)
    async with app.client:
        return (await app.send(request)).status_code


def tampered(request: Outgoing, old: str = "delivered", new: str = "failed") -> Outgoing:
    """The same request with a value changed (`delivered` to `failed`) in its body or, for a GET, its query."""
    if request.method == "GET":
        changed = Outgoing("GET", request.url.replace(old, new, 1), request.headers, request.body)
    else:
        body = request.body.replace(old.encode(), new.encode(), 1)
        changed = Outgoing(request.method, request.url, request.headers, body)
    assert changed != request
    return changed


# --- Twilio: twilio-python RequestValidator -----------------------------------------------------------

TWILIO_INSTANCES: dict[str, dict[str, Any]] = {
    "auth-token": {"auth_tokens": [TWILIO_TOKEN]},
    "shared-key": {"auth_tokens": [TWILIO_TOKEN], "shared_keys": {TWILIO_KEY_ID: TWILIO_KEY}},
}


@pytest.mark.parametrize("instance", list(TWILIO_INSTANCES))
@pytest.mark.parametrize("sample", sample_names("twilio"))
def test_twilio_sdk_validates_what_send_signs(instance: str, sample: str, now: float) -> None:
    validator = require_sdk("twilio.request_validator", "twilio")
    request = signed(make_provider("twilio", now, **TWILIO_INSTANCES[instance]), sample, now)
    headers = headers_of(request)
    settings = headers.get("x-twilio-webhooks-signature-settings")
    algorithm = validator.get_signature_algorithm(settings)
    secret = TWILIO_KEY if instance == "shared-key" else TWILIO_TOKEN
    assert (settings is not None) == (instance == "shared-key")
    assert algorithm == ("HMAC_SHA256" if instance == "shared-key" else "HMAC_SHA1")
    params: Any = dict(parse_qsl(request.body.decode())) if request.method == "POST" else {}
    judge = validator.RequestValidator(secret)
    assert judge.validate(request.url, params, headers["x-twilio-signature"], algorithm)
    assert not validator.RequestValidator("another-secret").validate(
        request.url, params, headers["x-twilio-signature"], algorithm)


@pytest.mark.anyio
@pytest.mark.parametrize(("instance", "algorithm"), [("auth-token", "HMAC_SHA1"), ("shared-key", "HMAC_SHA256"),
                                                     ("shared-key", "HMAC_SHA1")])
async def test_the_bridge_accepts_what_the_twilio_sdk_signs_and_refuses_a_tampered_copy(
    instance: str, algorithm: str, now: float
) -> None:
    validator = require_sdk("twilio.request_validator", "twilio")
    url = BASE + path_of("twilio")
    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered", "To": "+15558675310",
              "From": "+15017122661", "AccountSid": "AC" + "2" * 32}
    headers = {"content-type": FORM}
    secret = TWILIO_TOKEN
    if instance == "shared-key":
        secret = TWILIO_KEY
        headers["X-Twilio-Webhooks-Signature-Settings"] = f"key={TWILIO_KEY_ID},algorithm={algorithm}"
    headers["X-Twilio-Signature"] = validator.RequestValidator(secret).compute_signature(url, params, algorithm)
    request = Outgoing("POST", url, headers, urlencode(params).encode())
    overrides = TWILIO_INSTANCES[instance]
    assert await answer("twilio", now, request, **overrides) == 200
    assert await answer("twilio", now, tampered(request), **overrides) == 401


@pytest.mark.anyio
async def test_a_parameter_repeated_with_the_same_value_is_signed_as_the_twilio_sdk_signs_it(now: float) -> None:
    """twilio-python signs each name's distinct values (`sorted(set(values))`): `Digits=1&Digits=1` once."""
    validator = require_sdk("twilio.request_validator", "twilio")
    url = BASE + path_of("twilio")
    pairs = [("MessageSid", "SM" + "3" * 32), ("MessageStatus", "delivered"), ("To", "+15558675310"),
             ("From", "+15017122661"), ("AccountSid", "AC" + "2" * 32), ("Digits", "1"), ("Digits", "1")]
    class QueryDict(dict[str, str]):  # what the SDK reads repeated names from (Django's getlist)
        def getlist(self, name: str) -> list[str]:
            return [v for k, v in pairs if k == name]

    sdk = validator.RequestValidator(TWILIO_TOKEN).compute_signature(url, QueryDict(pairs))
    headers = {"content-type": FORM, "X-Twilio-Signature": sdk}
    request = Outgoing("POST", url, headers, urlencode(pairs).encode())
    overrides = TWILIO_INSTANCES["auth-token"]
    assert await answer("twilio", now, request, **overrides) == 200
    assert await answer("twilio", now, tampered(request), **overrides) == 401


# --- Plivo: plivo-python utils -------------------------------------------------------------------------


@pytest.mark.parametrize("sample", sample_names("plivo"))
def test_plivo_sdk_validates_the_v2_signature_send_makes(sample: str, now: float) -> None:
    utils = require_sdk("plivo.utils", "plivo")
    request = signed(make_provider("plivo", now, auth_tokens=[PLIVO_TOKEN]), sample, now)
    headers = headers_of(request)
    nonce = headers["x-plivo-signature-v2-nonce"]
    for name in ("x-plivo-signature-v2", "x-plivo-signature-ma-v2"):
        assert utils.validate_signature(request.url, nonce, headers[name], PLIVO_TOKEN)
        assert not utils.validate_signature(request.url, nonce, headers[name], "another-token")


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_the_bridge_accepts_a_v3_signature_the_plivo_sdk_makes_and_refuses_a_tampered_copy(
    method: str, now: float
) -> None:
    v3 = require_sdk("plivo.utils.signature_v3", "plivo")
    url = BASE + path_of("plivo")
    params = {"MessageUUID": "0936ec98-7c4c-11e4-9bd8-22000afa12b9", "Status": "delivered",
              "To": "14155551234", "From": "14155550000", "Units": "1"}
    nonce = "05429567804466091622"
    if method == "GET":
        url = f"{url}?{urlencode(params)}"
        base_url = v3.construct_get_url(url, {})
        body, headers = b"", {}
    else:
        base_url = v3.construct_post_url(url, dict(params))
        body, headers = urlencode(params).encode(), {"content-type": FORM}
    signature = v3.get_signature_v3(PLIVO_TOKEN, base_url.decode(), nonce).decode()
    headers |= {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}
    request = Outgoing(method, url, headers, body)
    assert await answer("plivo", now, request, auth_tokens=[PLIVO_TOKEN]) == 200
    assert await answer("plivo", now, tampered(request), auth_tokens=[PLIVO_TOKEN]) == 401


# --- Vonage: vonage-http-client Auth (SMS API `sig`) and vonage-jwt (Messages API JWT) ------------------

VONAGE_METHODS = ["sha256", "sha512", "sha1", "md5"]  # HMAC digests: the SDK's names are the bridge's


def vonage_instance(method: str) -> dict[str, Any]:
    return {"api_keys": [{"api_key": VONAGE_KEY, "signature_method": method, "signature_secret": VONAGE_SECRET}]}


def sent_params(request: Outgoing) -> dict[str, str]:
    """The SMS API parameters of a request, wherever they travel (query, form or JSON body)."""
    if request.method == "GET":
        return dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    if headers_of(request).get("content-type") == FORM:
        return dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    document: dict[str, str] = orjson.loads(request.body)
    return document


@pytest.mark.parametrize("method", VONAGE_METHODS)
@pytest.mark.parametrize("sample", [s for s in sample_names("vonage") if s.startswith("sms")])
def test_vonage_sdk_checks_the_sms_sig_send_makes(sample: str, method: str, now: float) -> None:
    client = require_sdk("vonage_http_client", "vonage")
    request = signed(make_provider("vonage", now, **vonage_instance(method)), sample, now)
    judge = client.Auth(api_key=VONAGE_KEY, signature_secret=VONAGE_SECRET, signature_method=method)
    assert judge.check_signature(sent_params(request))
    other = client.Auth(api_key=VONAGE_KEY, signature_secret="another-secret", signature_method=method)
    assert not other.check_signature(sent_params(request))


@pytest.mark.parametrize("sample", [s for s in sample_names("vonage") if s.startswith("messages")])
def test_vonage_jwt_verifies_the_messages_jwt_send_makes(sample: str, now: float) -> None:
    verify_jwt = require_sdk("vonage_jwt.verify_jwt", "vonage-jwt")
    request = signed(make_provider("vonage", now, **vonage_instance("sha256")), sample, now)
    scheme, _, token = headers_of(request)["authorization"].partition(" ")
    assert scheme == "Bearer"
    assert verify_jwt.verify_signature(token, VONAGE_SECRET)
    assert not verify_jwt.verify_signature(token, "another-secret-of-enough-length-for-hs256")


@pytest.mark.anyio
@pytest.mark.parametrize("method", VONAGE_METHODS)
async def test_the_bridge_accepts_an_sms_sig_the_vonage_sdk_makes_and_refuses_a_tampered_copy(
    method: str, now: float
) -> None:
    client = require_sdk("vonage_http_client", "vonage")
    params = {"msisdn": "447700900001", "to": "447700900000", "messageId": "0A0000000123ABCD1",
              "status": "delivered", "err-code": "0", "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S"),
              "api-key": VONAGE_KEY, "timestamp": str(int(now)), "nonce": "aaf1cca6-4b0e-4b27-9ef2-3c8a3e2b1d41"}
    judge = client.Auth(api_key=VONAGE_KEY, signature_secret=VONAGE_SECRET, signature_method=method)
    params["sig"] = judge.sign_params(dict(params))
    request = Outgoing("POST", BASE + path_of("vonage"), {"content-type": JSON}, orjson.dumps(params))
    assert await answer("vonage", now, request, **vonage_instance(method)) == 200
    assert await answer("vonage", now, tampered(request), **vonage_instance(method)) == 401


# --- Telnyx: telnyx-python webhooks.unwrap (Ed25519, PyNaCl) -------------------------------------------


@pytest.mark.parametrize("sample", sample_names("telnyx"))
def test_telnyx_sdk_unwraps_what_send_signs(sample: str, now: float) -> None:
    telnyx = require_sdk("telnyx", "telnyx[webhooks]")
    require_sdk("nacl.signing", "telnyx[webhooks]")
    request = signed(make_provider("telnyx", now), sample, now)
    client = telnyx.Telnyx(api_key="judge-not-used", public_key=TELNYX_PUBLIC_KEY)
    event = client.webhooks.unwrap(request.body.decode(), headers=dict(request.headers))
    assert event.data is not None
    with pytest.raises(ValueError, match="Signature verification failed"):
        client.webhooks.unwrap(request.body.decode().replace("+1", "+2", 1), headers=dict(request.headers))


# --- Bird: messagebird-python RequestValidator (JWT) and SignedRequest (legacy HMAC) --------------------


@pytest.mark.parametrize("sample", sample_names("bird"))
def test_messagebird_sdk_validates_the_jwt_send_makes(sample: str, now: float) -> None:
    validator = require_sdk("messagebird.request_validator", "messagebird")
    request = signed(make_provider("bird", now, signing_keys=[BIRD_KEY], schemes=["jwt"]), sample, now)
    token = headers_of(request)["messagebird-signature-jwt"]
    claims = validator.RequestValidator(BIRD_KEY).validate_signature(token, request.url, request.body)
    assert claims["iss"] == "MessageBird"
    error = require_sdk("messagebird.error", "messagebird").ValidationError
    with pytest.raises(error):
        validator.RequestValidator(BIRD_KEY).validate_signature(token, request.url + "&x=1", request.body)


@pytest.mark.parametrize("sample", [s for s in sample_names("bird") if s != "dr"])
def test_messagebird_sdk_verifies_the_legacy_hmac_send_makes(sample: str, now: float) -> None:
    module = require_sdk("messagebird.signed_request", "messagebird")
    request = signed(make_provider("bird", now, signing_keys=[BIRD_KEY], schemes=["hmac_query"]), sample, now)
    headers = headers_of(request)
    query = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the SDK deprecates the legacy scheme, Bird still sends it
        judge = module.SignedRequest(headers["messagebird-signature"], headers["messagebird-request-timestamp"],
                                     request.body.decode("latin-1"), query)
        assert judge.verify(BIRD_KEY)
        assert not judge.verify("another-signing-key")


# --- Sinch: sinch-sdk-python Sinch Event signature (HMAC-SHA256 over body.nonce.timestamp) ---------------

SINCH_VALIDATION = "sinch.domains.authentication.sinch_events.v1.authentication_validation"


@pytest.mark.parametrize("sample", sample_names("sinch"))
def test_sinch_sdk_validates_what_send_signs(sample: str, now: float) -> None:
    validation = require_sdk(SINCH_VALIDATION, "sinch")
    request = signed(make_provider("sinch", now, hmac_secret=SINCH_SECRET), sample, now)
    body = request.body.decode()
    assert validation.validate_sinch_event_signature_with_nonce(SINCH_SECRET, dict(request.headers), body)
    assert not validation.validate_sinch_event_signature_with_nonce(SINCH_SECRET, dict(request.headers), body + " ")


@pytest.mark.anyio
async def test_the_bridge_accepts_what_the_sinch_sdk_signs_and_refuses_a_tampered_copy(now: float) -> None:
    validation = require_sdk(SINCH_VALIDATION, "sinch")
    body = orjson.dumps({"type": "delivery_report_sms", "batch_id": "01FC66621XXXXX119Z8PMV1QPQ",
                         "statuses": [{"code": 0, "count": 1, "recipients": ["+15558675310"],
                                       "status": "Delivered"}],
                         "total_message_count": 1})
    nonce, timestamp = "01FJA8B4A7BM43YGWSG9GBV067", str(int(now))
    signed_data = validation.compute_signed_data(body.decode(), nonce, timestamp)
    headers = {"content-type": JSON, "x-sinch-webhook-signature-nonce": nonce,
               "x-sinch-webhook-signature-timestamp": timestamp, "x-sinch-webhook-signature-algorithm": "HmacSHA256",
               "x-sinch-webhook-signature": validation.calculate_sinch_event_signature(signed_data, SINCH_SECRET)}
    request = Outgoing("POST", BASE + path_of("sinch"), headers, body)
    assert await answer("sinch", now, request, hmac_secret=SINCH_SECRET) == 200
    assert await answer("sinch", now, tampered(request, "Delivered", "Failed"), hmac_secret=SINCH_SECRET) == 401


def test_a_missing_sdk_fails_the_judge_in_ci_and_skips_it_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMS_BRIDGE_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="CI requires it"):
        require_sdk("no_such_provider_sdk", "no-such-provider-sdk")
    monkeypatch.delenv("SMS_BRIDGE_REQUIRE_TOOLS")
    with pytest.raises(pytest.skip.Exception, match="extra `judges`"):
        require_sdk("no_such_provider_sdk", "no-such-provider-sdk")


def test_the_telnyx_page_says_the_sdk_unwrap_checks_ed25519_not_an_hmac() -> None:
    from tests.conftest import ROOT

    page = (ROOT / "docs" / "providers" / "telnyx.md").read_text(encoding="utf-8")
    said = [" ".join(part.split()) for part in page.split("\n\n") if "webhooks.unwrap" in part]
    assert said and all("Ed25519" in part and "HMAC" not in part for part in said)
