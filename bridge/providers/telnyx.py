"""Telnyx Messaging API v2: `message.sent` / `message.finalized` receipts and `message.received`, Ed25519-signed.

Signature (telnyx_signature.py): `telnyx-signature-ed25519` is an Ed25519 signature, by the
account's key pair, over the `telnyx-timestamp` header as received, `|`, and the raw body.
Verification needs only the account's public key (base64, from the portal). The timestamp
(UNIX seconds) is the signed time the endpoint checks against the window; the signature
(deterministic for a key, time and body) is the replay key. Signing needs the private key, which
only Telnyx has: `signing_private_key` exists for development and tests (`bridge send`, `bridge
dev`), never for production.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Final, Literal

import orjson
from pydantic import AfterValidator, Field, model_validator

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError, UsageError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.providers.base import (
    JSON,
    BadReport,
    InstanceSettings,
    Outgoing,
    Parsed,
    Provider,
    RawCallback,
    Reply,
    Sample,
    Verified,
)
from bridge.providers.common import (
    count,
    finality,
    identifier,
    iso_time,
    json_decimal,
    load_json,
    optional_text,
    text_field,
)
from bridge.providers.replies import EMPTY_OK
from bridge.providers.reports import alone, each_report
from bridge.providers.samples import iso_text
from bridge.providers.telnyx_signature import (
    SIGNATURE,
    TIMESTAMP,
    check_public_key,
    private_key,
    public_key,
    same_key,
    signature_header,
    verify_signature,
)
from bridge.providers.verification import required_headers, signed_time
from bridge.redact import Secret

KIND: Final = "telnyx"
REPLY_DEADLINE_SECONDS: Final = 1.5  # Telnyx wants a 2xx within 2 s
MAX_RECIPIENTS: Final = 100

_STATUS: Final = {
    "delivered": Status.DELIVERED,
    "delivery_failed": Status.UNDELIVERED,
    "sending_failed": Status.UNDELIVERED,
    "expired": Status.UNDELIVERED,
    "cancelled": Status.UNDELIVERED,
    "delivery_unconfirmed": Status.UNKNOWN,
    "scheduled": Status.UNKNOWN,
    "queued": Status.UNKNOWN,
    "sending": Status.UNKNOWN,
    "sent": Status.UNKNOWN,
}
RECEIPT_EVENTS: Final = frozenset({"message.sent", "message.finalized"})
GROUP_MARK: Final = "bridge_group_message"
"""Set (true) in `payload` of a dead letter's report body cut from a group message (several `to[]`), so
that `redrive` keys the one recipient left as a group's (`<id>:<recipient>`); Telnyx never sends it."""


class TelnyxSettings(InstanceSettings):
    """One Telnyx account: its webhook public key, and for development only a private key to sign with."""

    kind: Literal["telnyx"] = "telnyx"
    public_key: Annotated[str, AfterValidator(check_public_key)]
    signing_private_key: Annotated[Secret | None, Field(description="development and tests only")] = None
    reply_deadline_seconds: Annotated[float | None, Field(gt=0, le=300)] = REPLY_DEADLINE_SECONDS
    max_recipients: Annotated[int, Field(ge=1, le=10_000)] = MAX_RECIPIENTS

    @model_validator(mode="after")
    def _pair(self) -> TelnyxSettings:
        if self.signing_private_key is not None and not same_key(self.signing_private_key.reveal(), self.public_key):
            raise ValueError("signing_private_key does not belong to public_key")
        return self


def _uuid(label: str, now: float) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(f"{label}:{now!r}".encode()).digest()[:16], version=4))


_OURS: Final = {"phone_number": "+18445550001", "carrier": "TELNYX LLC", "line_type": "VoIP"}
_THEIRS: Final = {"phone_number": "+18665550001", "carrier": "T-MOBILE USA, INC.", "line_type": "Wireless"}


def _event(now: float, event_type: str, status: str) -> bytes:
    """The API reference's delivery-update and inbound-message callbacks (as SMS), ids and times of now."""
    inbound = event_type == "message.received"
    sender, receiver = (_THEIRS, _OURS) if inbound else (_OURS, _THEIRS)
    received, sent, done = (iso_text(t, zulu=False) for t in (now - (0 if inbound else 2), now - 1, now))
    payload = {
        "record_type": "message", "direction": "inbound" if inbound else "outbound", "id": _uuid("message", now),
        "type": "SMS", "messaging_profile_id": "4000eba1-a0c0-4563-9925-b25e842a7cb6",
        "organization_id": "b448f9cc-a842-4784-98e9-03c1a5872950", "from": sender,
        "to": [{**receiver, "status": status}], "cc": [], "text": "Hello, World!", "media": [],
        "webhook_url": "https://www.example.com/hooks", "webhook_failover_url": "https://backup.example.com/hooks",
        "encoding": "GSM-7", "parts": 1, "tags": ["Greetings"], "cost": {"amount": "0.0051", "currency": "USD"},
        "received_at": received, "sent_at": None if inbound else sent,
        "completed_at": done if event_type == "message.finalized" else None, "valid_until": None, "errors": [],
    }
    return orjson.dumps({"data": {"record_type": "event", "id": _uuid(event_type, now), "event_type": event_type,
                                  "occurred_at": done, "payload": payload},
                         "meta": {"attempt": 1, "delivered_to": "https://www.example.com/hooks"}})


def _price(cost: Any, where: str) -> str | None:
    """`cost.amount`, a string or a number (both occur in Telnyx's samples), as a plain decimal."""
    if cost is None:
        return None
    if not isinstance(cost, dict):
        raise MalformedCallbackError("invalid_field", f"{where}: must be an object")
    return json_decimal(cost, "amount", where=f"{where}.")


def _number(party: Any, where: str) -> str | None:
    """A party's number: `{"phone_number": ...}` (current schema) or a plain string (2019 samples)."""
    if party is None or isinstance(party, str):
        return party or None
    if isinstance(party, dict):
        return optional_text(party, "phone_number", where=f"{where}.")
    raise MalformedCallbackError("invalid_field", f"{where}: must be an object or a string")


class TelnyxProvider(Provider[TelnyxSettings, Verified]):
    """Telnyx messaging webhooks of one account."""

    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "Telnyx"
    settings_model: ClassVar[type[InstanceSettings]] = TelnyxSettings
    statuses: ClassVar[Mapping[str, Status]] = _STATUS
    finality: ClassVar[Mapping[str, bool]] = finality(
        _STATUS, intermediate=("scheduled", "queued", "sending", "sent"))
    safe_headers: ClassVar[frozenset[str]] = frozenset({TIMESTAMP})
    timestamped: ClassVar[bool] = True
    samples: ClassVar[Sequence[Sample]] = (
        Sample("finalized", EventType.DELIVERY_RECEIPT, "message.finalized: delivered",
               lambda now: _event(now, "message.finalized", "delivered")),
        Sample("sent", EventType.DELIVERY_RECEIPT, "message.sent: handed to the carrier",
               lambda now: _event(now, "message.sent", "sent")),
        Sample("received", EventType.INBOUND_MESSAGE, "message.received: an inbound SMS",
               lambda now: _event(now, "message.received", "webhook_delivered")),
    )
    dev_instance: ClassVar[dict[str, Any]] = {  # the RFC 8032 test key 1: well known, development only
        "public_key": "${TELNYX_PUBLIC_KEY:-11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=}",
        "signing_private_key": "${TELNYX_SIGNING_PRIVATE_KEY:-nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=}",
    }

    def __init__(self, settings: TelnyxSettings, clock: Clock) -> None:
        self.settings = settings
        self._key = public_key(settings.public_key)
        secret = settings.signing_private_key
        self._signer = private_key(secret.reveal()) if secret is not None else None

    def verify(self, callback: RawCallback) -> Verified:
        given, timestamp = required_headers(callback.headers, SIGNATURE, TIMESTAMP)
        signature = verify_signature(self._key, given, timestamp, callback.body)
        signed_at = signed_time(timestamp, f"header {TIMESTAMP}: must be UNIX seconds")
        replay_key = base64.b64encode(signature).decode("ascii")  # canonical: one key per signature
        return Verified(callback, signed_at=float(signed_at), replay_key=replay_key)

    def restore(self, callback: RawCallback) -> Verified:
        return Verified(callback)

    def parse(self, verified: Verified) -> Parsed:
        document = load_json(verified.raw.body)
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, dict):
            raise MalformedCallbackError("wrong_shape", "body must be a JSON object with a data object")
        event_type = text_field(data, "event_type", where="data.")
        if event_type not in RECEIPT_EVENTS and event_type != "message.received":
            raise MalformedCallbackError("unsupported_callback", "data.event_type: must be message.sent, "
                                         "message.finalized or message.received")
        occurred_at = iso_time(text_field(data, "occurred_at", where="data."), where="data.occurred_at")
        payload = data.get("payload")
        if not isinstance(payload, dict):
            raise MalformedCallbackError("wrong_shape", "data.payload: must be an object")
        raw = data
        if event_type == "message.received":
            return [self._inbound(payload, occurred_at, verified, raw)]
        items = self._receipts(payload, occurred_at, verified, raw)
        group = len(payload["to"]) > 1 or payload.get(GROUP_MARK) is True

        def body(entry: Any) -> bytes:  # the whole callback, its message addressed to this recipient alone
            cut = {**payload, "to": [entry], **({GROUP_MARK: True} if group else {})}
            return orjson.dumps({**document, "data": {**data, "payload": cut}})

        context = {"id": data.get("id"), "event_type": event_type, "occurred_at": data.get("occurred_at"),
                   "message_id": payload.get("id")}
        return alone(items, body, context)

    def _receipts(self, payload: dict[str, Any], occurred_at: datetime, verified: Verified,
                  raw: dict[str, Any] | None) -> list[DeliveryReceipt | BadReport]:
        where = "data.payload."
        message_id = identifier(payload, "id", where=where)
        recipients = payload.get("to")
        if not isinstance(recipients, list) or not recipients:
            raise MalformedCallbackError("wrong_shape", f"{where}to: must be a non-empty array")
        if len(recipients) > self.settings.max_recipients:
            raise MalformedCallbackError("too_many_reports", f"{where}to: more than {self.settings.max_recipients}")
        sender = _number(payload.get("from"), f"{where}from")
        segments = count(optional_text(payload, "parts", where=where), where=f"{where}parts")
        price = _price(payload.get("cost"), f"{where}cost")
        detail = self._errors(payload.get("errors"))
        group = len(recipients) > 1 or payload.get(GROUP_MARK) is True

        def receipt(entry: Any, i: int) -> DeliveryReceipt:
            if not isinstance(entry, dict):
                raise MalformedCallbackError("wrong_shape", f"{where}to[{i}]: must be an object")
            to = self.phone(identifier(entry, "phone_number", where=f"{where}to[{i}]."))
            status = text_field(entry, "status", where=f"{where}to[{i}].")
            return DeliveryReceipt(
                provider=KIND,
                # a group message has one id for several recipients: the recipient keeps their events apart
                message_id=f"{message_id}:{to.number}" if group else message_id,
                status=_STATUS.get(status.strip().lower(), Status.UNKNOWN),
                final=self.finality.get(status.strip().lower(), False),
                status_code=status,
                status_detail=detail,
                to=to.number,
                region=to.region,
                from_=self.phone(sender).number if sender else None,
                occurred_at=occurred_at,
                received_at=verified.raw.received_at,
                segments=segments,
                price=price,
                raw=raw,
            )

        return each_report(recipients, receipt)

    @staticmethod
    def _errors(errors: Any) -> str | None:
        """The first of `errors[]` as `<code> <title>` (Telnyx's messaging error), verbatim parts."""
        if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
            return None
        first = errors[0]
        parts = [optional_text(first, "code", where="data.payload.errors[0]."),
                 optional_text(first, "title", where="data.payload.errors[0].")
                 or optional_text(first, "detail", where="data.payload.errors[0].")]
        return " ".join(p for p in parts if p) or None

    def _inbound(self, payload: dict[str, Any], occurred_at: datetime, verified: Verified,
                 raw: dict[str, Any] | None) -> InboundMessage:
        where = "data.payload."
        party = payload.get("from")
        if isinstance(party, dict):
            sender = self.phone(identifier(party, "phone_number", where=f"{where}from."))  # the record key
        elif isinstance(party, str) or party is None:
            sender = self.phone(identifier(payload, "from", where=where))
        else:
            raise MalformedCallbackError("invalid_field", f"{where}from: must be an object or a string")
        recipients = payload.get("to")
        first = recipients[0] if isinstance(recipients, list) and recipients else recipients
        receiver = _number(first, f"{where}to[0]" if isinstance(recipients, list) else f"{where}to")
        return InboundMessage(
            provider=KIND,
            message_id=identifier(payload, "id", where=where),
            from_=sender.number,
            region=sender.region,
            to=self.phone(receiver).number if receiver else None,
            text=optional_text(payload, "text", where=where) or "",  # null for an MMS with media only
            occurred_at=occurred_at,
            received_at=verified.raw.received_at,
            segments=count(optional_text(payload, "parts", where=where), where=f"{where}parts"),
            price=_price(payload.get("cost"), f"{where}cost"),
            raw=raw,
        )

    def accepted(self, verified: Verified) -> Reply:
        return EMPTY_OK

    def rejected(self, error: CallbackError) -> Reply:
        """Telnyx's API error shape; Telnyx retries what is not a 2xx in time (3 tries, then the failover URL)."""
        return Reply(error.status, orjson.dumps({"errors": [{"code": error.reason, "title": str(error)}]}), JSON)

    def sign(self, url: str, body: bytes, sample: str, now: float) -> Outgoing:
        """What Telnyx would send, signed with `signing_private_key` (development and tests only)."""
        if self._signer is None:
            raise UsageError(f"telnyx instance '{self.settings.name}' has no signing_private_key: only Telnyx can "
                             "sign its webhooks; set one (with its public_key) on a development instance")
        timestamp = str(int(now))
        signature = signature_header(self._signer, timestamp, body)
        return Outgoing("POST", url, {"content-type": JSON, SIGNATURE: signature, TIMESTAMP: timestamp}, body)
