"""Twilio Programmable Messaging: status callbacks (delivery receipts) and incoming-message webhooks.

Signature (twilio_signature.py): `X-Twilio-Signature` is HMAC-SHA1, keyed with the account's auth
token, over the full URL Twilio called and, for a form POST, the sorted parameters. A GET carries
its parameters in the (signed) URL; a JSON body is covered by the `bodySHA256` query parameter
inside the signed URL. Several auth tokens may be configured (rotation): every one is tried. A
callback that a Webhook Rule signs with a shared key names the key and the algorithm (HMAC-SHA1 or
HMAC-SHA256) in `X-Twilio-Webhooks-Signature-Settings`; the instance's `shared_keys` hold them by id.

Twilio signs no time and no nonce, so there is no freshness window and no replay key: a replay
is a byte-identical copy of a callback Twilio sent (see docs/providers/twilio.md). A status
callback carries `MessageStatus`; an incoming message carries `Body`. Neither carries an event
time, so `occurred_at` is the time the bridge received the callback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Final, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import Field

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.immutable import immutable
from bridge.phones import Phone
from bridge.providers.base import (
    FORM,
    JSON,
    BodyKind,
    InstanceSettings,
    Outgoing,
    Params,
    Parsed,
    Provider,
    RawCallback,
    Reply,
    Sample,
    Verified,
)
from bridge.providers.common import body_kind, count, finality, form_record, identifier, optional_text, query_or_form
from bridge.providers.replies import text_refusal
from bridge.providers.samples import time_text
from bridge.providers.twilio_signature import (
    BODY_HASH_PARAM,
    HMAC_SHA1,
    HMAC_SHA256,
    SETTINGS_HEADER,
    SIGNATURE_HEADER,
    body_hash,
    body_hash_matches,
    secrets_for,
    settings_header,
    signature,
    signature_matches,
)
from bridge.redact import Secret

KIND: Final = "twilio"
MEDIA_TYPES: Final[Mapping[str, BodyKind]] = {FORM: "form", JSON: "json"}
GET_SAMPLE: Final = "inbound-get"

# twilio-python `twilio/rest/api/v2010/account/message/__init__.py`, class Status: every documented value.
STATUSES: Final[Mapping[str, Status]] = {
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,  # after delivered (WhatsApp/RCS read receipts)
    "undelivered": Status.UNDELIVERED,
    "failed": Status.UNDELIVERED,
    "canceled": Status.UNDELIVERED,  # a scheduled message cancelled before sending
    "partially_delivered": Status.UNKNOWN,  # semantics undocumented
    "queued": Status.UNKNOWN,
    "sending": Status.UNKNOWN,
    "sent": Status.UNKNOWN,  # handed to the carrier; may stay the last status without a carrier receipt
    "accepted": Status.UNKNOWN,
    "scheduled": Status.UNKNOWN,
    "receiving": Status.UNKNOWN,  # inbound only
    "received": Status.UNKNOWN,  # inbound only
}
INBOUND_STATUSES: Final = frozenset({"receiving", "received"})
# twilio-python tests/unit/twiml/test_messaging_response.py: an empty MessagingResponse.
EMPTY_TWIML: Final = b'<?xml version="1.0" encoding="UTF-8"?><Response />'


SharedKeyId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s,=]+$")]


class TwilioSettings(InstanceSettings):
    """One Twilio account (or subaccount): the auth tokens and Webhook Rule shared keys its webhooks may be
    signed with."""

    kind: Literal["twilio"] = "twilio"
    auth_tokens: Annotated[
        tuple[Secret, ...],
        Field(min_length=1, max_length=4, description="the primary first; add the next one while rotating"),
    ]
    shared_keys: Annotated[
        dict[SharedKeyId, Secret],
        Field(
            default_factory=dict,
            max_length=4,
            description="Webhook Rule shared keys by id (the `key=` of X-Twilio-Webhooks-Signature-Settings)",
        ),
    ]


def is_json(headers: Mapping[str, str]) -> bool:
    """Whether the endpoint took the body as JSON (same rule: declared type or a `+json` suffix)."""
    return body_kind(MEDIA_TYPES, headers) == "json"


@immutable
class TwilioVerified(Verified):
    """A verified Twilio callback: its parameters (form body, or query of a GET) and whether it was JSON."""

    params: Params = ()
    json_body: bool = False


def _sid(now: float, prefix: str) -> str:
    return f"{prefix}{int(now * 1000):032x}"


ACCOUNT_SID: Final = "AC" + "X" * 32


def _status_sample(now: float, status: str = "delivered", error_code: str | None = None) -> bytes:
    """providers-2.md §1.1's status callback (constructed from the documented fields), for `now`."""
    sid = _sid(now, "SM")
    params = [("AccountSid", ACCOUNT_SID), ("ApiVersion", "2010-04-01"), ("From", "+15017122661"),
              ("MessageSid", sid), ("MessageStatus", status),
              ("RawDlrDoneDate", time_text(now, "%y%m%d%H%M")), ("SmsSid", sid),
              ("SmsStatus", status), ("To", "+15558675310")]
    if error_code is not None:
        params.insert(3, ("ErrorCode", error_code))
    return urlencode(params).encode("ascii")


def _inbound_sample(now: float) -> bytes:
    """providers-2.md §1.2's incoming message (constructed from the documented fields), for `now`."""
    sid = _sid(now, "SM")
    return urlencode([("AccountSid", ACCOUNT_SID), ("ApiVersion", "2010-04-01"), ("Body", "Hello"),
                      ("From", "+15558675310"), ("FromCountry", "US"), ("MessageSid", sid), ("NumMedia", "0"),
                      ("NumSegments", "1"), ("SmsSid", sid), ("SmsStatus", "received"), ("To", "+15017122661"),
                      ("ToCountry", "US")]).encode("ascii")


_USED: Final = frozenset({"MessageSid", "SmsSid", "MessageStatus", "SmsStatus", "ErrorCode", "To", "From", "Body",
                          "NumSegments"})



class TwilioProvider(Provider[TwilioSettings, TwilioVerified]):
    """Twilio Programmable Messaging status callbacks and incoming messages for one account."""

    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "Twilio Programmable Messaging"
    settings_model: ClassVar[type[InstanceSettings]] = TwilioSettings
    statuses: ClassVar[Mapping[str, Status]] = STATUSES
    finality: ClassVar[Mapping[str, bool]] = finality(STATUSES, intermediate=(
        "partially_delivered", "queued", "sending", "sent", "accepted", "scheduled", "receiving", "received"))
    methods: ClassVar[frozenset[str]] = frozenset({"GET", "POST"})
    media_types: ClassVar[Mapping[str, BodyKind]] = MEDIA_TYPES
    safe_headers: ClassVar[frozenset[str]] = frozenset({"i-twilio-idempotency-token", "x-home-region"})
    samples: ClassVar[Sequence[Sample]] = (
        Sample("status", EventType.DELIVERY_RECEIPT, "a status callback: MessageStatus=delivered", _status_sample),
        Sample("status-undelivered", EventType.DELIVERY_RECEIPT,
               "a status callback: MessageStatus=undelivered, ErrorCode=30003",
               lambda now: _status_sample(now, "undelivered", "30003")),
        Sample("inbound", EventType.INBOUND_MESSAGE, "an incoming message (POST)", _inbound_sample),
        Sample(GET_SAMPLE, EventType.INBOUND_MESSAGE, "an incoming message (GET: parameters in the URL)",
               _inbound_sample),
    )
    dev_instance: ClassVar[dict[str, Any]] = {
        "source": f"/sms/twilio/{ACCOUNT_SID}",
        "auth_tokens": ["${TWILIO_AUTH_TOKEN:-dev-twilio-auth-token-0123456789}"],
    }

    def __init__(self, settings: TwilioSettings, clock: Clock) -> None:
        self.settings = settings
        self._tokens = tuple(token.reveal() for token in settings.auth_tokens)
        self._shared_keys = {key: secret.reveal() for key, secret in settings.shared_keys.items()}

    def verify(self, callback: RawCallback) -> TwilioVerified:
        given = callback.headers.get(SIGNATURE_HEADER)
        if given is None:
            raise VerificationError("missing_credentials", "header X-Twilio-Signature: required")
        json_body = callback.method != "GET" and is_json(callback.headers)
        expected_hash = None
        if json_body:
            expected_hash = next((v for k, v in callback.query if k == BODY_HASH_PARAM and v), None)
            if expected_hash is None:
                raise VerificationError("missing_credentials", "query parameter bodySHA256: required for a JSON body")
        signed = callback.form if callback.method != "GET" and not json_body else ()
        secrets, algorithm = secrets_for(callback.headers.get(SETTINGS_HEADER), self._tokens, self._shared_keys)
        if not signature_matches(given, callback.url, signed, secrets, algorithm):
            raise VerificationError("bad_signature", "header X-Twilio-Signature: does not match")
        if expected_hash is not None and not body_hash_matches(expected_hash, callback.body):
            raise VerificationError("bad_signature", "query parameter bodySHA256: does not match the body")
        return self.restore(callback)

    def restore(self, callback: RawCallback) -> TwilioVerified:
        if callback.method != "GET" and is_json(callback.headers):
            return TwilioVerified(callback, json_body=True)
        return TwilioVerified(callback, params=query_or_form(callback, reason="wrong_shape"))

    def parse(self, verified: TwilioVerified) -> Parsed:
        if verified.json_body:
            raise MalformedCallbackError("unsupported_callback", "a JSON body is not a Messaging callback")
        record = form_record(verified.params, _USED)
        message_status = optional_text(record, "MessageStatus")
        sms_status = optional_text(record, "SmsStatus")
        if message_status is not None and message_status.strip().lower() not in INBOUND_STATUSES:
            return [self._receipt(record, "MessageStatus", verified)]
        if "Body" not in record and sms_status is not None and sms_status.strip().lower() not in INBOUND_STATUSES:
            return [self._receipt(record, "SmsStatus", verified)]  # the status field of older callbacks
        if "Body" in record or (message_status or sms_status or "").strip().lower() in INBOUND_STATUSES:
            return [self._inbound(record, verified)]
        raise MalformedCallbackError(
            "unsupported_callback", "neither a status callback (MessageStatus) nor an incoming message (Body)"
        )

    def _party(self, number: str) -> Phone:
        """A number, or a channel address (`whatsapp:+1…`) with its number normalised and its region."""
        channel, colon, address = number.rpartition(":")
        if not colon:
            return self.phone(number)
        found = self.phone(address)
        return Phone(f"{channel}:{found.number}", found.region)

    def _receipt(self, record: dict[str, Any], status_field: str, verified: TwilioVerified) -> DeliveryReceipt:
        message_id = identifier(record, "MessageSid" if "MessageSid" in record else "SmsSid")
        code = identifier(record, status_field)
        to = self._party(identifier(record, "To"))
        sender = optional_text(record, "From")
        received = verified.raw.received_at
        return DeliveryReceipt(
            provider=KIND,
            message_id=message_id,
            status=STATUSES.get(code.strip().lower(), Status.UNKNOWN),
            final=self.finality.get(code.strip().lower(), False),
            status_code=code,
            status_detail=optional_text(record, "ErrorCode") or None,
            to=to.number,
            region=to.region,
            provider_time=False,  # Twilio sends no event time: the id must not change with a retry
            from_=self._party(sender).number if sender else None,
            occurred_at=received,
            received_at=received,
            segments=count(optional_text(record, "NumSegments"), where="NumSegments"),
            price=None,
            raw=record,
        )

    def _inbound(self, record: dict[str, Any], verified: TwilioVerified) -> InboundMessage:
        message_id = identifier(record, "MessageSid" if "MessageSid" in record else "SmsSid")
        sender = self._party(identifier(record, "From"))  # the record key
        receiver = optional_text(record, "To")
        text = optional_text(record, "Body")
        if text is None:
            raise MalformedCallbackError("missing_field", "Body: required")
        received = verified.raw.received_at
        return InboundMessage(
            provider=KIND,
            message_id=message_id,
            from_=sender.number,
            region=sender.region,
            provider_time=False,
            to=self._party(receiver).number if receiver else None,
            text=text,
            occurred_at=received,
            received_at=received,
            segments=count(optional_text(record, "NumSegments"), where="NumSegments"),
            price=None,
            raw=record,
        )

    def accepted(self, verified: TwilioVerified) -> Reply:
        """Empty TwiML: an incoming message gets no auto-reply; a status callback needs only the 2xx."""
        return Reply(200, EMPTY_TWIML, "text/xml; charset=utf-8")

    def rejected(self, error: CallbackError) -> Reply:
        """Plain text like twilio-node's webhook middleware; Twilio reads only the status of an error."""
        return text_refusal(error)

    def sign(self, url: str, body: bytes, sample: str, now: float) -> Outgoing:
        """Signed as Twilio would sign it: a form POST, a GET with the parameters in the URL (`inbound-get`),
        or a JSON POST with `bodySHA256` when the body is a JSON document. With the first shared key and
        HMAC-SHA256 (naming both in X-Twilio-Webhooks-Signature-Settings) when the instance has shared
        keys, since a Webhook Rule then covers its URL; else with the first auth token and HMAC-SHA1."""
        if self._shared_keys:
            key_id, token = next(iter(self._shared_keys.items()))
            algorithm, extra = HMAC_SHA256, {"X-Twilio-Webhooks-Signature-Settings": settings_header(key_id)}
        else:
            token, algorithm, extra = self._tokens[0], HMAC_SHA1, {}
        joiner = "&" if urlsplit(url).query else "?"
        if sample == GET_SAMPLE:
            target = url + joiner + urlencode(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            given = signature(token, target, (), algorithm)
            return Outgoing("GET", target, {"X-Twilio-Signature": given, **extra}, b"")
        if body.lstrip()[:1] in (b"{", b"["):
            target = url + joiner + urlencode({BODY_HASH_PARAM: body_hash(body)})
            given = signature(token, target, (), algorithm)
            return Outgoing("POST", target, {"content-type": JSON, "X-Twilio-Signature": given, **extra}, body)
        params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        given = signature(token, url, params, algorithm)
        return Outgoing("POST", url, {"content-type": FORM, "X-Twilio-Signature": given, **extra}, body)
