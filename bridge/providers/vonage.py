"""Vonage: SMS API receipts and inbound SMS signed by `sig`, Messages API SMS webhooks signed by JWT.

One instance is one Vonage account. Each api key has one signature secret, and it signs both
APIs' webhooks, so both APIs may call the same URL; the request tells them apart.

- `Authorization: Bearer` means the Messages API ("Signed webhooks"). The token is an HS256 JWT
  signed with the secret whatever the dashboard method. The `api_key` claim picks the secret,
  `payload_hash` must be the body's SHA-256, `iat` is the signed time and `jti` the replay key.
  A Messages callback without a token gets a 503: Vonage documents that as a rare internal error
  that a 5xx makes it retry, signed.
- Anything else is the SMS API ("Signing messages": `sig` over the sorted parameters, by the
  api key's dashboard method; vonage_signature.py has both schemes). Its parameters come from the
  query (GET), the form or a JSON object. `timestamp` is the signed time and `sig` the replay
  key. Without `sig` the callback is refused unless the instance sets `allow_unsigned_sms`; then
  the URL token is required, and such an instance signs no time (`signs_time`): an unsigned
  callback has no window and no replay key, while a signed one keeps both.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Final, Literal
from urllib.parse import urlencode

import orjson
from pydantic import Field, model_validator

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError, UsageError, VerificationError
from bridge.events import EventType, Status
from bridge.immutable import immutable
from bridge.providers import vonage_events as events
from bridge.providers.base import (
    FORM,
    JSON,
    BodyKind,
    InstanceSettings,
    Outgoing,
    Parsed,
    Provider,
    RawCallback,
    Reply,
    Sample,
    StrictModel,
    Verified,
)
from bridge.providers.common import body_kind, finality, status_union
from bridge.providers.replies import EMPTY_OK, text_refusal
from bridge.providers.verification import MIN_TOKEN_LENGTH, check_url_token, signed_time, with_url_token
from bridge.providers.vonage_signature import (
    ISSUER,
    SIG,
    SignatureMethod,
    encode_jwt,
    jws,
    jwt_claims,
    payload_hash,
    sign_params,
    sms_signature_matches,
)
from bridge.redact import Secret

KIND: Final = "vonage"
SAMPLE_APPLICATION_ID: Final = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"

Api = Literal["sms", "messages"]


class ApiKeySettings(StrictModel):
    """One api key: its signature secret and the dashboard's signature method (SMS API only)."""

    api_key: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
    signature_secret: Secret
    signature_method: SignatureMethod = "md5hash"


class VonageSettings(InstanceSettings):
    """One Vonage account: its api keys (several with sub-accounts) and the unsigned SMS API opt-in."""

    kind: Literal["vonage"] = "vonage"
    api_keys: tuple[ApiKeySettings, ...] = ()
    allow_unsigned_sms: bool = False
    url_token: Secret | None = None

    @model_validator(mode="after")
    def _consistent(self) -> VonageSettings:
        if not self.api_keys and not self.allow_unsigned_sms:
            raise ValueError("api_keys: at least one is required unless allow_unsigned_sms is true")
        if len({k.api_key for k in self.api_keys}) != len(self.api_keys):
            raise ValueError("api_keys: each api_key may appear only once")
        if self.allow_unsigned_sms and (self.url_token is None or len(self.url_token.reveal()) < MIN_TOKEN_LENGTH):
            raise ValueError(f"url_token: required with allow_unsigned_sms, at least {MIN_TOKEN_LENGTH} characters")
        return self


@immutable
class VonageVerified(Verified):
    """A verified Vonage callback and the API it came from."""

    api: Api = "sms"


class UnsignedMessagesError(VerificationError):
    """A Messages API callback without its JWT: refused, and answered 503 so that Vonage retries it signed."""


class VonageProvider(Provider[VonageSettings, VonageVerified]):
    """Vonage SMS API and Messages API (SMS channel) webhooks for one account."""

    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "Vonage"
    settings_model: ClassVar[type[InstanceSettings]] = VonageSettings
    statuses: ClassVar[Mapping[str, Status]] = status_union(events.SMS_STATUS, events.MESSAGES_STATUS)
    finality: ClassVar[Mapping[str, bool]] = finality(statuses, intermediate=events.INTERMEDIATE)
    methods: ClassVar[frozenset[str]] = frozenset({"GET", "POST"})
    media_types: ClassVar[Mapping[str, BodyKind]] = events.MEDIA_TYPES
    timestamped: ClassVar[bool] = True  # both signatures sign a time; unsigned SMS callbacks have none (signs_time)
    samples: ClassVar[Sequence[Sample]] = (
        Sample("sms-dr", EventType.DELIVERY_RECEIPT, "SMS API delivery receipt (POST JSON)", events.sms_dr_sample),
        Sample("sms-dr-form", EventType.DELIVERY_RECEIPT, "SMS API delivery receipt (POST form)",
               events.sms_dr_sample),
        Sample("sms-inbound", EventType.INBOUND_MESSAGE, "SMS API inbound SMS (GET)", events.sms_inbound_sample),
        Sample("messages-status", EventType.DELIVERY_RECEIPT, "Messages API SMS status (JWT)",
               events.messages_status_sample),
        Sample("messages-inbound", EventType.INBOUND_MESSAGE, "Messages API inbound SMS (JWT)",
               events.messages_inbound_sample),
    )
    dev_instance: ClassVar[dict[str, Any]] = {
        "source": "/sms/vonage/a1b2c3d",
        "api_keys": [{"api_key": "a1b2c3d", "signature_method": "sha256",
                      "signature_secret": "${VONAGE_SIGNATURE_SECRET:-dev-vonage-signature-secret}"}],
    }

    def __init__(self, settings: VonageSettings, clock: Clock) -> None:
        self.settings = settings
        self._clock = clock
        self._keys = {k.api_key: (k.signature_secret.reveal(), k.signature_method) for k in settings.api_keys}
        self._token = None if settings.url_token is None else settings.url_token.reveal().encode("utf-8")
        jws()  # PyJWT, loaded with the instance, not by the first callback

    def verify(self, callback: RawCallback) -> VonageVerified:
        scheme, _, token = callback.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() == "bearer":
            return self._verify_jwt(callback, token.strip())
        if _api_of(callback) == "messages":
            raise UnsignedMessagesError("missing_credentials", "Messages API callback: Authorization Bearer required")
        try:
            params = events.sms_params(callback)
        except MalformedCallbackError as error:
            if self.settings.allow_unsigned_sms:  # nothing to read a `sig` from: the URL token decides
                return self._verify_unsigned(callback)
            raise VerificationError("missing_credentials", f"sig cannot be read: {error}") from error
        given = params.get(SIG)
        if given is None:
            if self.settings.allow_unsigned_sms:
                return self._verify_unsigned(callback)
            raise VerificationError("missing_credentials", "sig parameter: required (are signed webhooks on?)")
        secrets = self._secrets(params.get("api-key"), "api-key parameter")
        if not any(sms_signature_matches(params, given, secret, method) for secret, method in secrets):
            raise VerificationError("bad_signature", "sig parameter: does not match")
        stamp = signed_time(params.get("timestamp", "").strip(), "timestamp parameter: required, UNIX seconds")
        return VonageVerified(callback, signed_at=float(stamp), replay_key=f"sig:{given.strip().lower()}", api="sms")

    def _verify_unsigned(self, callback: RawCallback) -> VonageVerified:
        check_url_token(callback.url_token, self._token, missing="unsigned callback: URL token required")
        return VonageVerified(callback, api="sms")  # nothing signed: no signed time, no replay key

    def _verify_jwt(self, callback: RawCallback, token: str) -> VonageVerified:
        try:
            api_key = jwt_claims(token, None).get("api_key")
        except ValueError as error:
            raise VerificationError("bad_signature", "Authorization: not a JWT") from error
        claims = None
        for secret, _ in self._secrets(api_key, "api_key claim"):
            try:
                claims = jwt_claims(token, secret)
                break
            except ValueError:
                continue
        if claims is None:
            raise VerificationError("bad_signature", "Authorization: JWT signature does not match")
        if claims.get("iss", ISSUER) != ISSUER:
            raise VerificationError("bad_signature", f"iss claim: must be {ISSUER}")
        given = claims.get("payload_hash")
        expected = payload_hash(callback.body).encode("ascii")
        if not isinstance(given, str) or not hmac.compare_digest(given.lower().encode("utf-8", "replace"), expected):
            raise VerificationError("bad_signature", "payload_hash claim: must be the body's SHA-256")
        iat, exp = claims.get("iat"), claims.get("exp")
        if isinstance(iat, bool) or not isinstance(iat, int | float) or not 0 <= iat < 1e11:
            raise VerificationError("stale_timestamp", "iat claim: required, UNIX seconds")
        if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int | float) or exp <= self._clock.time()):
            raise VerificationError("stale_timestamp", "exp claim: expired")
        jti = claims.get("jti")
        key = jti if isinstance(jti, str) and jti else token.rpartition(".")[2]
        return VonageVerified(callback, signed_at=float(iat), replay_key=f"jwt:{key}", api="messages")

    def _secrets(self, api_key: object, where: str) -> list[tuple[str, SignatureMethod]]:
        """The named api key's secret, or every configured secret when the callback names none."""
        if api_key is None and self._keys:
            return list(self._keys.values())
        found = self._keys.get(api_key) if isinstance(api_key, str) else None
        if found is None:
            raise VerificationError("unknown_access_key", f"{where}: not configured", status=403)
        return [found]

    def signs_time(self) -> bool:
        """False with `allow_unsigned_sms`: the endpoint cannot require a signed time of every callback.
        A signed one still needs its own (verify() refuses `sig` without `timestamp`, a JWT without `iat`),
        and the endpoint still holds it to the window."""
        return not self.settings.allow_unsigned_sms

    def restore(self, callback: RawCallback) -> VonageVerified:
        return VonageVerified(callback, api=_api_of(callback))

    def parse(self, verified: VonageVerified) -> Parsed:
        parse = events.messages_event if verified.api == "messages" else events.sms_event
        return [parse(verified.raw, self.phone)]

    def accepted(self, verified: VonageVerified) -> Reply:
        return EMPTY_OK

    def rejected(self, error: CallbackError) -> Reply:
        return text_refusal(error, 503 if isinstance(error, UnsignedMessagesError) else None)

    def sign(self, url: str, body: bytes, sample: str, now: float) -> Outgoing:
        """Signed with the first api key: a JWT for `messages-*`, else `sig` (`sms-inbound` as GET,
        `sms-dr-form` as a form, others JSON). Without api keys: unsigned, the URL token in the path."""
        key = self.settings.api_keys[0] if self.settings.api_keys else None
        if sample.startswith("messages"):
            headers = {"content-type": JSON}
            if key is not None:
                claims = {"iat": int(now), "jti": hashlib.sha256(b"%f" % now + body).hexdigest()[:32], "iss": ISSUER,
                          "payload_hash": payload_hash(body), "api_key": key.api_key,
                          "application_id": SAMPLE_APPLICATION_ID}
                headers["authorization"] = f"Bearer {encode_jwt(claims, key.signature_secret.reveal())}"
            return Outgoing("POST", url, headers, body)
        try:
            params = orjson.loads(body)
        except orjson.JSONDecodeError:
            params = None
        if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
            raise UsageError("an SMS API body must be a JSON object of string values")
        if key is None:
            url = with_url_token(url, self.settings.url_token.reveal()) if self.settings.url_token else url
        else:
            nonce = hashlib.sha256(f"{sample}:{now}".encode()).hexdigest()
            params.update({"api-key": key.api_key, "timestamp": str(int(now)),
                           "nonce": f"{nonce[:8]}-{nonce[8:12]}-{nonce[12:16]}-{nonce[16:20]}-{nonce[20:32]}"})
            params[SIG] = sign_params(params, key.signature_secret.reveal(), key.signature_method)
        if sample == "sms-inbound":
            return Outgoing("GET", f"{url}?{urlencode(params)}", {}, b"")
        if sample == "sms-dr-form":
            return Outgoing("POST", url, {"content-type": FORM}, urlencode(params).encode())
        return Outgoing("POST", url, {"content-type": JSON}, orjson.dumps(params))


def _api_of(callback: RawCallback) -> Api:
    """`messages` for a JSON body with `message_uuid`; anything else is the SMS API."""
    if callback.method == "GET" or body_kind(events.MEDIA_TYPES, callback.headers) == "form":
        return "sms"
    try:
        document = orjson.loads(callback.body)
    except orjson.JSONDecodeError:
        return "sms"
    return "messages" if isinstance(document, dict) and "message_uuid" in document else "sms"
