"""AWS End User Messaging SMS through an Amazon SNS HTTP(S) subscription: `TEXT_*` delivery events and two-way
inbound messages, RSA-signed by SNS.

AWS never calls an HTTP endpoint for SMS events itself: a configuration set's event destination and a
number's two-way channel publish to SNS topics, and the bridge is an HTTP(S) subscriber of those topics
(providers-3.md §3). SNS posts one JSON envelope per request, as `text/plain; charset=UTF-8`; its
`Message` is a string that holds the SMS event's JSON.

Verification (aws_sns_signature.py, docs/providers/aws_sns.md): topic allowlist, certificate URL on the
region's SNS host (fetched and cached by prepare(), or pinned), the RSA signature of the string to sign,
optional Basic credentials besides it; `Timestamp` is the signed time, `MessageId` the replay key. Raw
message delivery carries no signature and is refused.

Control messages publish nothing: a verified `SubscriptionConfirmation` is confirmed by a GET of its
`SubscribeURL` (https on the SNS host of the topic's region) when `auto_confirm` is on, or logged for an
operator; an `UnsubscribeConfirmation` is answered 200.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal

import orjson
from pydantic import AfterValidator, Field, model_validator

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError, UsageError, VerificationError
from bridge.events import EventType, Status
from bridge.immutable import immutable
from bridge.providers.aws_sns_dev import DEV_CERTIFICATE, DEV_CERTIFICATE_URL, DEV_PRIVATE_KEY, DEV_TOPIC_ARN
from bridge.providers.aws_sns_events import (
    FINAL_STATUS,
    NOTIFICATION,
    inbound,
    inbound_sample,
    receipt,
    receipt_sample,
)
from bridge.providers.aws_sns_signature import (
    certificate_file_name,
    check_certificate_url,
    check_pins,
    check_subscribe_url,
    check_topic_arn,
    private_key,
    public_key_of,
    same_public_key,
    signed_envelope,
    topic,
    verify_signature,
)
from bridge.providers.base import (
    JSON,
    BodyKind,
    Fetch,
    Handshake,
    InstanceSettings,
    Outgoing,
    Parsed,
    Provider,
    RawCallback,
    Reply,
    Sample,
    Verified,
)
from bridge.providers.common import finality, iso_time, load_json, optional_text, text_field
from bridge.providers.replies import EMPTY_OK, text_refusal
from bridge.providers.verification import basic_auth, check_basic_auth
from bridge.redact import Secret

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

log = logging.getLogger(__name__)

KIND: Final = "aws_sns"
TEXT_PLAIN: Final = "text/plain"
RAW_DELIVERY: Final = "x-amz-sns-rawdelivery"
MESSAGE_TYPE: Final = "x-amz-sns-message-type"
MESSAGE_ID: Final = "x-amz-sns-message-id"
TOPIC_ARN: Final = "x-amz-sns-topic-arn"
SUBSCRIPTION: Final = "SubscriptionConfirmation"
UNSUBSCRIPTION: Final = "UnsubscribeConfirmation"
TYPES: Final = (NOTIFICATION, SUBSCRIPTION, UNSUBSCRIPTION)
# SNS retries an HTTP(S) delivery for at most 3,600 s in all (its delivery policy's limit), re-sending the
# envelope it signed at publication: a shorter window would refuse genuine retries of a slow policy.
TOLERANCE_SECONDS: Final = 3600.0
CACHED_CERTIFICATES: Final = 32  # SNS signs with one certificate per region at a time; rotations add new URLs
REALM: Final = 'Basic realm="sms-bridge", charset="UTF-8"'

class AwsSnsSettings(InstanceSettings):
    """One SNS HTTP(S) subscription endpoint: the topics it accepts, how subscriptions are confirmed, pinned
    certificates, optional Basic credentials, and for development only a key to sign with."""

    kind: Literal["aws_sns"] = "aws_sns"
    topics: Annotated[tuple[Annotated[str, AfterValidator(check_topic_arn)], ...], Field(min_length=1)]
    auto_confirm: bool = True
    certificates: Annotated[dict[str, Secret], AfterValidator(check_pins)] = Field(default_factory=dict)
    basic_username: Secret | None = None
    basic_password: Secret | None = None
    signing_private_key: Annotated[Secret | None, Field(description="development and tests only")] = None
    timestamp_tolerance_seconds: Annotated[float, Field(gt=0, le=86_400)] = TOLERANCE_SECONDS

    @model_validator(mode="after")
    def _consistent(self) -> AwsSnsSettings:
        if (self.basic_username is None) != (self.basic_password is None):
            raise ValueError("basic_username and basic_password go together")
        if self.basic_username is not None and ":" in self.basic_username.reveal():
            raise ValueError("basic_username must not contain ':' (RFC 7617)")
        if self.signing_private_key is not None:
            signer = private_key(self.signing_private_key.reveal()).public_key()
            if not any(same_public_key(signer, public_key_of(pem.reveal())) for pem in self.certificates.values()):
                raise ValueError("signing_private_key belongs to none of the pinned certificates")
        return self


@immutable
class SnsVerified(Verified):
    """A verified SNS envelope: its type, its topic and its decoded fields."""

    envelope: dict[str, Any] = field(default_factory=dict)
    message_type: str = ""
    topic: str = ""


class AwsSnsProvider(Provider[AwsSnsSettings, SnsVerified]):
    """SMS events of AWS End User Messaging delivered by one SNS HTTP(S) subscription endpoint."""

    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "AWS End User Messaging SMS (SNS)"
    settings_model: ClassVar[type[InstanceSettings]] = AwsSnsSettings
    media_types: ClassVar[dict[str, BodyKind]] = {TEXT_PLAIN: "json", JSON: "json"}
    safe_headers: ClassVar[frozenset[str]] = frozenset({MESSAGE_TYPE, MESSAGE_ID, TOPIC_ARN})
    statuses: ClassVar[Mapping[str, Status]] = FINAL_STATUS  # when `isFinal` is true; a non-final event is unknown
    # What each type usually is; an event's own `isFinal` decides its `final` (AWS ends with a final TEXT_UNKNOWN).
    finality: ClassVar[Mapping[str, bool]] = finality(FINAL_STATUS, intermediate=("TEXT_QUEUED", "TEXT_PENDING"))
    timestamped: ClassVar[bool] = True
    samples: ClassVar[Sequence[Sample]] = (
        Sample("delivered", EventType.DELIVERY_RECEIPT, "TEXT_DELIVERED: delivered to the handset (final)",
               lambda now: receipt_sample(now, "TEXT_DELIVERED", "DELIVERED", "Message has been accepted by phone")),
        Sample("successful", EventType.DELIVERY_RECEIPT, "TEXT_SUCCESSFUL: accepted by the carrier (final)",
               lambda now: receipt_sample(now, "TEXT_SUCCESSFUL", "SUCCESSFUL",
                                           "Message has been accepted by phone carrier")),
        Sample("inbound", EventType.INBOUND_MESSAGE, "two-way SMS: an inbound message", inbound_sample),
    )
    dev_instance: ClassVar[dict[str, Any]] = {  # pins the development certificate: nothing is fetched
        "topics": [DEV_TOPIC_ARN],
        "certificates": {DEV_CERTIFICATE_URL: DEV_CERTIFICATE},
        "signing_private_key": "${AWS_SNS_SIGNING_PRIVATE_KEY:-" + DEV_PRIVATE_KEY + "}",
    }

    def __init__(self, settings: AwsSnsSettings, clock: Clock) -> None:
        self.settings = settings
        self._topics = {arn: topic(arn) for arn in settings.topics}
        self._pinned: dict[str, RSAPublicKey] = {
            name: public_key_of(pem.reveal()) for name, pem in settings.certificates.items()
        }
        self._fetched: OrderedDict[str, RSAPublicKey] = OrderedDict()
        user, password = settings.basic_username, settings.basic_password
        self._basic = (user.reveal().encode(), password.reveal().encode()) if user and password else None
        secret = settings.signing_private_key
        self._signer: RSAPrivateKey | None = private_key(secret.reveal()) if secret is not None else None

    # --- verification --------------------------------------------------------------------------------

    async def prepare(self, callback: RawCallback, fetch: Fetch) -> None:
        """Fetch the signing certificate the envelope names, unless pinned or cached; only for an
        authenticated caller and an allowed topic (anything else is refused by verify(), unfetched)."""
        self._authenticate(callback)
        envelope = self._envelope(callback)
        url = envelope.get("SigningCertURL")
        if self._pinned or not isinstance(url, str) or envelope.get("TopicArn") not in self._topics:
            return
        check_certificate_url(url)
        if url in self._fetched:
            self._fetched.move_to_end(url)
            return
        body = await fetch(url)
        try:
            key = public_key_of(body)
        except ValueError as exc:
            raise VerificationError("key_unavailable", "SigningCertURL: not an RSA certificate in PEM",
                                    status=503) from exc
        self._fetched[url] = key
        while len(self._fetched) > CACHED_CERTIFICATES:
            self._fetched.popitem(last=False)

    def verify(self, callback: RawCallback) -> SnsVerified:
        self._authenticate(callback)
        envelope = self._envelope(callback)
        message_type = envelope.get("Type")
        if message_type not in TYPES:
            raise VerificationError("missing_credentials", "Type: must be " + ", ".join(TYPES))
        arn = envelope.get("TopicArn")
        expected = self._topics.get(arn) if isinstance(arn, str) else None
        if expected is None:
            raise VerificationError("unknown_access_key", "TopicArn: not one of the instance's topics", status=403)
        url = envelope.get("SigningCertURL")
        if not isinstance(url, str):
            raise VerificationError("missing_credentials", "SigningCertURL: required")
        verify_signature(self._key(check_certificate_url(url)), envelope)
        if message_type == SUBSCRIPTION:
            subscribe = envelope.get("SubscribeURL")
            check_subscribe_url(subscribe if isinstance(subscribe, str) else "", expected)
        message_id = envelope.get("MessageId")
        if not isinstance(message_id, str) or not message_id.strip():
            raise VerificationError("bad_signature", "MessageId: required")
        timestamp = envelope.get("Timestamp")
        try:
            signed_at = iso_time(timestamp if isinstance(timestamp, str) else "", where="Timestamp").timestamp()
        except MalformedCallbackError as exc:
            raise VerificationError("stale_timestamp", "Timestamp: must be an ISO 8601 time") from exc
        return SnsVerified(callback, signed_at, message_id, envelope, message_type, expected.arn)

    def _authenticate(self, callback: RawCallback) -> None:
        """What comes before the signature: raw delivery (unsigned) is refused; Basic credentials, if configured."""
        if callback.headers.get(RAW_DELIVERY, "").strip().lower() == "true":
            raise VerificationError("missing_credentials", "raw message delivery carries no signature: turn "
                                    "RawMessageDelivery off on the subscription", status=403)
        if self._basic is not None:
            check_basic_auth(callback.headers.get("authorization", ""), *self._basic)

    @staticmethod
    def _envelope(callback: RawCallback) -> dict[str, Any]:
        try:
            envelope = orjson.loads(callback.body)
        except orjson.JSONDecodeError as exc:
            raise VerificationError("missing_credentials", "body must be a signed SNS JSON envelope") from exc
        if not isinstance(envelope, dict) or "Signature" not in envelope:
            raise VerificationError("missing_credentials", "body must be a signed SNS JSON envelope (raw message "
                                    "delivery is not accepted)")
        return envelope

    def _key(self, url: str) -> RSAPublicKey:
        if self._pinned:
            key = self._pinned.get(url) or self._pinned.get(certificate_file_name(url))
            if key is None:
                raise VerificationError("unknown_access_key", "SigningCertURL: not a pinned certificate", status=403)
            return key
        fetched = self._fetched.get(url)
        if fetched is None:
            raise VerificationError("key_unavailable", "SigningCertURL: certificate not fetched", status=503)
        return fetched

    def restore(self, callback: RawCallback) -> SnsVerified:
        envelope = load_json(callback.body)
        if not isinstance(envelope, dict):
            raise MalformedCallbackError("wrong_shape", "body must be an SNS JSON envelope")
        message_type = optional_text(envelope, "Type") or ""
        return SnsVerified(callback, None, None, envelope, message_type, optional_text(envelope, "TopicArn") or "")

    def handshake(self, verified: SnsVerified) -> Handshake | None:
        if verified.message_type == NOTIFICATION:
            return None
        fields = {"event": "sns_" + verified.message_type, "provider": KIND, "instance": self.settings.name,
                  "topic_arn": verified.topic}
        if verified.message_type == UNSUBSCRIPTION:
            log.warning("SNS subscription removed: this endpoint no longer receives the topic", extra=fields)
            return Handshake(EMPTY_OK)
        if self.settings.auto_confirm:
            log.info("SNS subscription confirmed by a GET of its SubscribeURL", extra=fields)
            return Handshake(EMPTY_OK, confirm_url=verified.envelope["SubscribeURL"])
        log.warning("SNS subscription awaits confirmation: auto_confirm is off, so an operator must confirm it "
                    "(SNS console: Confirm subscription, or aws sns confirm-subscription with the topic ARN "
                    "and the token SNS sent)", extra=fields)
        return Handshake(EMPTY_OK)

    # --- parsing -------------------------------------------------------------------------------------

    def parse(self, verified: SnsVerified) -> Parsed:
        if verified.message_type != NOTIFICATION:
            raise MalformedCallbackError("unsupported_callback", "Type: only a Notification carries SMS events")
        message = text_field(verified.envelope, "Message")
        document = load_json(message.encode("utf-8", "surrogatepass"))
        if not isinstance(document, dict):
            raise MalformedCallbackError("wrong_shape", "Message: must be a JSON object")
        if "eventType" in document:
            return [receipt(document, verified.raw.received_at, self.phone)]
        if "inboundMessageId" in document:
            timestamp = text_field(verified.envelope, "Timestamp")
            return [inbound(document, timestamp, verified.raw.received_at, self.phone)]
        raise MalformedCallbackError("unsupported_callback", "Message: neither an SMS event (eventType) nor an "
                                     "inbound SMS (inboundMessageId)")

    # --- replies and signing -------------------------------------------------------------------------

    def accepted(self, verified: SnsVerified) -> Reply:
        return EMPTY_OK

    def rejected(self, error: CallbackError) -> Reply:
        """Plain text naming the reason; with Basic credentials, a 401 carries the challenge SNS waits for
        before it sends them."""
        reply = text_refusal(error)
        if self._basic is not None and error.status == 401:
            return Reply(reply.status, reply.body, reply.media_type, {**reply.headers, "WWW-Authenticate": REALM})
        return reply

    def sign(self, url: str, body: bytes, sample: str, now: float) -> Outgoing:
        """What SNS would post: the envelope completed with the instance's first topic and the pinned
        certificate's URL, signed with `signing_private_key` (development and tests only)."""
        if self._signer is None:
            raise UsageError(f"aws_sns instance '{self.settings.name}' has no signing_private_key: only AWS can "
                             "sign SNS messages; set one (with its pinned certificate) on a development instance")
        envelope, arn = signed_envelope(body, self.settings.topics[0], self._topics, self._signer, self._pinned)
        headers = {"content-type": "text/plain; charset=UTF-8", MESSAGE_TYPE: str(envelope.get("Type", "")),
                   MESSAGE_ID: str(envelope.get("MessageId", "")), TOPIC_ARN: str(arn),
                   "user-agent": "Amazon Simple Notification Service Agent"}
        if self._basic is not None:
            headers["authorization"] = basic_auth(*self._basic)
        return Outgoing("POST", url, headers, orjson.dumps(envelope))



__all__ = ["AwsSnsProvider", "AwsSnsSettings", "SnsVerified"]
