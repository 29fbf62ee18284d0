"""Bird (MessageBird): legacy SMS status reports (GET query) and Channels API `sms.outbound` /
`sms.inbound` webhooks (POST JSON), verified by either of Bird's signatures.

Verification (bird_signature.py): the legacy `MessageBird-Signature-JWT` (url_hash, payload_hash,
nbf/exp) and Bird's `MessageBird-Signature` HMAC over timestamp, URL and body hash; each enabled
scheme whose headers are present is tried, the first that verifies wins. The signed time (`iat`,
else `nbf`; or the request timestamp) is checked by the endpoint against the instance's window,
and `jti` (else the signature) is the replay key. Callbacks are classified by content: an empty
body is a legacy status report in the query string; a JSON body is a Channels message, whose
`direction` (else the envelope's `event`) says receipt or inbound.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Final, Literal
from urllib.parse import urlencode, urlsplit

import orjson
from pydantic import Field

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.providers.base import (
    JSON,
    BodyKind,
    InstanceSettings,
    Outgoing,
    Parsed,
    Provider,
    RawCallback,
    Reply,
    Sample,
    Verified,
)
from bridge.providers.bird_signature import TIMESTAMP_HEADER, Scheme, load_jwt, signed_headers, verify_request
from bridge.providers.common import finality, identifier, iso_time, load_json, optional_text, status_union, text_field
from bridge.providers.replies import REASON_HEADER
from bridge.providers.samples import iso_text
from bridge.redact import Secret

KIND: Final = "bird"
RETRY_WINDOW_SECONDS: Final = 9 * 3600.0  # Bird retries for 8 h, with the first signed time (see docs)

LEGACY_STATUS: Final = {  # messagebird/python-rest-api client.py: the legacy SMS statuses
    "scheduled": Status.UNKNOWN,
    "sent": Status.UNKNOWN,
    "buffered": Status.UNKNOWN,
    "delivered": Status.DELIVERED,
    "expired": Status.UNDELIVERED,
    "delivery_failed": Status.UNDELIVERED,
}
CHANNELS_STATUS: Final = {  # Channels message statuses named by Bird's docs; others are unknown
    "accepted": Status.UNKNOWN,
    "processing": Status.UNKNOWN,
    "sent": Status.UNKNOWN,
    "delivered": Status.DELIVERED,
    "sending_failed": Status.UNDELIVERED,
    "delivery_failed": Status.UNDELIVERED,
}


class BirdSettings(InstanceSettings):
    """One Bird workspace or MessageBird account: its signing key(s), newest first, and the schemes it accepts."""

    kind: Literal["bird"] = "bird"
    signing_keys: Annotated[tuple[Secret, ...], Field(min_length=1, max_length=8)]
    schemes: Annotated[tuple[Scheme, ...], Field(min_length=1)] = ("jwt", "hmac")
    timestamp_tolerance_seconds: Annotated[float, Field(gt=0, le=86_400)] = RETRY_WINDOW_SECONDS


def _dr_sample(now: float) -> bytes:
    """The support article's status report (GET query), with its id and time set from `now`."""
    params = {"id": f"{int(now * 1000):032x}", "reference": "YouReference123", "recipient": "31612345678",
              "status": "delivered", "statusDatetime": iso_text(int(now), timespec="seconds", zulu=False)}
    return urlencode(params).encode("ascii")


def _message(now: float, direction: str) -> dict[str, Any]:
    """The documented inbound SMS message (docs.bird.com, receiving messages), times set to `now`."""
    return {
        "id": "96a0b5fa-a986-453d-be5c-3117f989f025" if direction == "incoming" else str(uuid.UUID(int=int(now))),
        "channelId": "614208aa-b153-4d5d-9989-2fddfc0ce4c3",
        "sender": {"contact": {"id": "32cf5eee-f940-422c-ab8c-5f753aad5efd", "identifierKey": "phonenumber",
                               "identifierValue": "+31612345678"}},
        "receiver": {"connector": {"id": "86cc4dc0-3dc0-41b7-ac43-8ec829ead56f"}},
        "body": {"type": "text", "text": {"text": "Sample incoming text message"}},
        "parts": [{"platformReference": "e8077d803532c0b5937c639b60216938"}],
        "status": "delivered",
        "direction": direction,
        "lastStatusAt": iso_text(now),
        "createdAt": iso_text(now),
        "updatedAt": iso_text(now),
    }


def _inbound_sample(now: float) -> bytes:
    return orjson.dumps({"service": "channels", "event": "sms.inbound", "payload": _message(now, "incoming")})


def _outbound_sample(now: float) -> bytes:
    """[CONSTRUCTED] an sms.outbound message: the documented message's fields, sender and receiver swapped."""
    message = _message(now, "outgoing")
    message["sender"] = {"connector": {"id": "86cc4dc0-3dc0-41b7-ac43-8ec829ead56f"}}
    message["receiver"] = {"contacts": [{"id": "32cf5eee-f940-422c-ab8c-5f753aad5efd", "identifierKey": "phonenumber",
                                         "identifierValue": "+31612345678"}]}
    return orjson.dumps({"service": "channels", "event": "sms.outbound", "payload": message})


def _object(record: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = record.get(name)
    if not isinstance(value, dict):
        if value is None:
            raise MalformedCallbackError("missing_field", f"{where}{name}: required")
        raise MalformedCallbackError("wrong_shape", f"{where}{name}: must be an object")
    return value


def _party(message: dict[str, Any], side: str, role: str) -> str | None:
    """`message[side][role].identifierValue` when present (the connector's number is not always given)."""
    party = message.get(side)
    node = party.get(role) if isinstance(party, dict) else None
    return optional_text(node, "identifierValue") if isinstance(node, dict) else None


_RECEIPT_TIMES: Final = ("lastStatusAt", "updatedAt", "createdAt")
_ACCEPTED: Final = Reply(200, b'{"status":"accepted"}', JSON)


class BirdProvider(Provider[BirdSettings, Verified]):
    """Bird / MessageBird SMS status reports and inbound messages for one instance."""

    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "Bird (MessageBird)"
    settings_model: ClassVar[type[InstanceSettings]] = BirdSettings
    statuses: ClassVar[Mapping[str, Status]] = status_union(LEGACY_STATUS, CHANNELS_STATUS)
    finality: ClassVar[Mapping[str, bool]] = finality(
        statuses, intermediate=("scheduled", "sent", "buffered", "accepted", "processing"))
    methods: ClassVar[frozenset[str]] = frozenset({"GET", "POST"})
    media_types: ClassVar[Mapping[str, BodyKind]] = {JSON: "json"}
    safe_headers: ClassVar[frozenset[str]] = frozenset({TIMESTAMP_HEADER, "messagebird-request-id"})
    timestamped: ClassVar[bool] = True
    samples: ClassVar[Sequence[Sample]] = (
        Sample("outbound", EventType.DELIVERY_RECEIPT, "a Channels sms.outbound status (HMAC-signed)",
               _outbound_sample),
        Sample("inbound", EventType.INBOUND_MESSAGE, "a Channels sms.inbound message (HMAC-signed)", _inbound_sample),
        Sample("dr", EventType.DELIVERY_RECEIPT, "a legacy status report (GET query, JWT-signed)", _dr_sample),
    )
    dev_instance: ClassVar[dict[str, Any]] = {
        "source": "/sms/bird/dev-workspace",
        "signing_keys": ["${BIRD_SIGNING_KEY:-dev-bird-signing-key-0123456789abcdef}"],
    }

    def __init__(self, settings: BirdSettings, clock: Clock) -> None:
        self.settings = settings
        self._clock = clock
        self._keys = tuple(key.reveal().encode("utf-8") for key in settings.signing_keys)
        self._schemes = frozenset(settings.schemes)
        load_jwt()  # PyJWT, loaded with the instance, not by the first callback

    def verify(self, callback: RawCallback) -> Verified:
        signed_at, key = verify_request(callback.headers, callback.url, callback.query, callback.body, self._keys,
                                        self._schemes, self._clock.time())
        return Verified(callback, signed_at=signed_at, replay_key=key)

    def restore(self, callback: RawCallback) -> Verified:
        return Verified(callback)

    def parse(self, verified: Verified) -> Parsed:
        raw = verified.raw
        if not raw.body.strip():
            return [self._status_report(dict(raw.query), raw)]
        document = load_json(raw.body)
        if not isinstance(document, dict):
            raise MalformedCallbackError("wrong_shape", "body must be a JSON object")
        message = _object(document, "payload", "") if "payload" in document else document
        where = "payload." if message is not document else ""
        event = optional_text(document, "event") or ""
        direction = optional_text(message, "direction", where=where)
        if direction == "incoming" or (direction is None and event.endswith(".inbound")):
            return [self._inbound(message, where, raw)]
        if direction == "outgoing" or (direction is None and event.endswith(".outbound")):
            return [self._receipt(message, where, raw)]
        raise MalformedCallbackError("unsupported_callback", f"{where}direction: must be incoming or outgoing")

    def _status_report(self, params: dict[str, str], raw: RawCallback) -> DeliveryReceipt:
        """A legacy status report: id, reference, recipient, status, statusDatetime (, mccmnc, ported)."""
        status = text_field(params, "status")
        to = self.phone(identifier(params, "recipient"), international=True)
        return DeliveryReceipt(
            provider=KIND,
            message_id=identifier(params, "id"),
            status=LEGACY_STATUS.get(status.strip().lower(), Status.UNKNOWN),
            final=self.finality.get(status.strip().lower(), False),
            status_code=status,
            status_detail=optional_text(params, "statusReason"),
            to=to.number,
            region=to.region,
            from_=None,
            occurred_at=iso_time(text_field(params, "statusDatetime"), where="statusDatetime"),
            received_at=raw.received_at,
            segments=None,
            price=None,
            raw=dict(params),
        )

    def _receipt(self, message: dict[str, Any], where: str, raw: RawCallback) -> DeliveryReceipt:
        status = text_field(message, "status", where=where)
        receiver = _object(message, "receiver", where)
        contacts = receiver.get("contacts")
        contact = contacts[0] if isinstance(contacts, list) and contacts else receiver.get("contact")
        if not isinstance(contact, dict):
            raise MalformedCallbackError("missing_field", f"{where}receiver.contacts[0]: required")
        to = self.phone(identifier(contact, "identifierValue", where=f"{where}receiver.contacts[0]."))
        sender = _party(message, "sender", "connector")
        when = next((n for n in _RECEIPT_TIMES if message.get(n) is not None), _RECEIPT_TIMES[0])
        return DeliveryReceipt(
            provider=KIND,
            message_id=identifier(message, "id", where=where),
            status=CHANNELS_STATUS.get(status.strip().lower(), Status.UNKNOWN),
            final=self.finality.get(status.strip().lower(), False),
            status_code=status,
            status_detail=optional_text(message, "reason", where=where) or optional_text(message, "details",
                                                                                         where=where) or None,
            to=to.number,
            region=to.region,
            from_=self.phone(sender).number if sender else None,
            occurred_at=iso_time(text_field(message, when, where=where), where=f"{where}{when}"),
            received_at=raw.received_at,
            segments=None,
            price=None,
            raw=message,
        )

    def _inbound(self, message: dict[str, Any], where: str, raw: RawCallback) -> InboundMessage:
        contact = _object(_object(message, "sender", where), "contact", f"{where}sender.")
        sender = self.phone(identifier(contact, "identifierValue", where=f"{where}sender.contact."))
        body = _object(message, "body", where)
        if optional_text(body, "type", where=f"{where}body.") != "text":
            raise MalformedCallbackError("unsupported_callback", f"{where}body.type: must be text")
        receiver = _party(message, "receiver", "connector")
        when = "createdAt" if message.get("createdAt") is not None else "lastStatusAt"
        return InboundMessage(
            provider=KIND,
            message_id=identifier(message, "id", where=where),
            from_=sender.number,
            region=sender.region,
            to=self.phone(receiver).number if receiver else None,
            text=text_field(_object(body, "text", f"{where}body."), "text", where=f"{where}body.text."),
            occurred_at=iso_time(text_field(message, when, where=where), where=f"{where}{when}"),
            received_at=raw.received_at,
            segments=None,
            price=None,
            raw=message,
            status_code=optional_text(message, "status", where=where) or "",
        )

    def accepted(self, verified: Verified) -> Reply:
        return _ACCEPTED

    def rejected(self, error: CallbackError) -> Reply:
        body = orjson.dumps({"status": "rejected", "reason": error.reason, "message": str(error)})
        return Reply(error.status, body, JSON, {REASON_HEADER: error.reason})

    def sign(self, url: str, body: bytes, sample: str, now: float) -> Outgoing:
        """What Bird would send: `dr` as a legacy GET (the body's parameters in the query, JWT-signed),
        anything else as a Channels POST (HMAC-signed); each with the first signing key and an enabled scheme."""
        key = self._keys[0]
        if sample == "dr":
            target = url + ("&" if urlsplit(url).query else "?") + body.decode("utf-8") if body else url
            return Outgoing("GET", target, signed_headers(target, b"", key, self._schemes, now, prefer_jwt=True), b"")
        headers = {"content-type": JSON, **signed_headers(url, body, key, self._schemes, now, prefer_jwt=False)}
        return Outgoing("POST", url, headers, body)
