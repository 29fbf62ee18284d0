"""Vonage payloads as canonical events: SMS API parameters and Messages API JSON, their status
tables, and the documented samples.

SMS API (developer.vonage.com SMS guides, Nexmo/api-specification sms.yml): a delivery receipt
has `status` and `err-code`, `msisdn` is the recipient and `to` our sender; an inbound SMS has
`msisdn` (the sender), `to` (our number), `text`. Times are UTC (`message-timestamp`). Messages
API (vonage-java-sdk MessageStatus / InboundMessage): `message_uuid`, `to`, `from`,
ISO-8601 `timestamp`; a status webhook has `status`, an inbound one `message_type`. Blank
parameters count as absent: the Java SDK leaves them out of the signature, so a forger could add them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import orjson

from bridge.errors import MalformedCallbackError
from bridge.events import DeliveryReceipt, InboundMessage, Status
from bridge.phones import Phone
from bridge.providers.base import FORM, JSON, BodyKind, RawCallback
from bridge.providers.common import (
    body_kind,
    count,
    decimal_text,
    identifier,
    iso_time,
    load_json,
    local_time,
    optional_text,
    query_or_form,
    text_field,
    unix_time,
)
from bridge.providers.samples import iso_text, time_text, uuid_at

KIND: Final = "vonage"
MEDIA_TYPES: Final[Mapping[str, BodyKind]] = {JSON: "json", FORM: "form"}  # the first when a callback has none
PhoneOf = Callable[..., Phone]

SMS_STATUS: Final = {
    "delivered": Status.DELIVERED,
    "expired": Status.UNDELIVERED,
    "failed": Status.UNDELIVERED,
    "rejected": Status.UNDELIVERED,
    "accepted": Status.UNKNOWN,  # intermediate: accepted for delivery
    "buffered": Status.UNKNOWN,  # intermediate: buffered for later delivery
    "unknown": Status.UNKNOWN,
}
MESSAGES_STATUS: Final = {
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,  # post-final (OTT channels): read implies delivered
    "rejected": Status.UNDELIVERED,
    "undeliverable": Status.UNDELIVERED,
    "submitted": Status.UNKNOWN,  # intermediate
}
INTERMEDIATE: Final = frozenset({"accepted", "buffered", "submitted"})  # a later status follows
ERR_CODES: Final = {  # delivery-receipts.md: "A non-zero code indicates that the message could not be delivered."
    "0": "Delivered", "1": "Unknown", "2": "Absent Subscriber - Temporary", "3": "Absent Subscriber - Permanent",
    "4": "Call Barred by User", "5": "Portability Error", "6": "Anti-Spam Rejection", "7": "Handset Busy",
    "8": "Network Error", "9": "Illegal Number", "10": "Illegal Message", "11": "Unroutable",
    "12": "Destination Unreachable", "13": "Subscriber Age Restriction", "14": "Number Blocked by Carrier",
    "15": "Prepaid Insufficient Funds", "50": "Entity Filter", "51": "Header Filter", "52": "Content Filter",
    "53": "Consent Filter", "54": "Regulation Error", "99": "General Error",
}
BLANK: Final = "".join(chr(c) for c in range(0x21))  # what Java's String.trim() strips: such values count as absent
SECRET_PARAMS: Final = frozenset({"token"})  # the URL token of an unsigned instance: never in `raw`


R = TypeVar("R", bound=Mapping[str, Any])
Build = Callable[[R, RawCallback, PhoneOf], DeliveryReceipt | InboundMessage]


def _by_shape(record: R, callback: RawCallback, phone: PhoneOf, receipt: Build[R], inbound: Build[R],
              inbound_marks: tuple[str, ...], neither: str) -> DeliveryReceipt | InboundMessage:
    """Either API's dispatch: a receipt when the record has `status`, an inbound SMS when it has one of
    `inbound_marks`, else wrong_shape with `neither`."""
    if "status" in record:
        return receipt(record, callback, phone)
    if any(mark in record for mark in inbound_marks):
        return inbound(record, callback, phone)
    raise MalformedCallbackError("wrong_shape", neither)


# --- SMS API -------------------------------------------------------------------------------------


def sms_params(callback: RawCallback) -> dict[str, str]:
    """The SMS API parameters: the query of a GET, the form or JSON object of a POST. Repeated
    names are refused (SDKs disagree on which one counts)."""
    if callback.method != "GET" and body_kind(MEDIA_TYPES, callback.headers) != "form":
        return _json_params(callback.body)
    params: dict[str, str] = {}
    for name, value in query_or_form(callback):
        if name in params:
            raise MalformedCallbackError("invalid_field", "parameters: a name is repeated")
        params[name] = value
    return params


def _json_params(body: bytes) -> dict[str, str]:
    document = load_json(body)
    if not isinstance(document, dict):
        raise MalformedCallbackError("wrong_shape", "body must be a JSON object of parameters")
    params: dict[str, str] = {}
    for name, value in document.items():
        if value is None:
            params[name] = ""
        elif isinstance(value, str):
            params[name] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            params[name] = str(value)
        else:
            raise MalformedCallbackError("invalid_field", "body: parameter values must be strings")
    return params


def sms_event(callback: RawCallback, phone: PhoneOf) -> DeliveryReceipt | InboundMessage:
    """A delivery receipt (has `status`) or an inbound SMS (has `text` or `type`)."""
    params = {k: v for k, v in sms_params(callback).items() if v.strip(BLANK) and k not in SECRET_PARAMS}
    return _by_shape(params, callback, phone, _sms_receipt, _sms_inbound, ("text", "type"),
                     "neither a delivery receipt (status) nor an inbound SMS (text)")


def _sms_receipt(params: dict[str, str], callback: RawCallback, phone: PhoneOf) -> DeliveryReceipt:
    status = params["status"]
    error = params.get("err-code")
    detail = None if error is None else f"{error}: {ERR_CODES[error]}" if error in ERR_CODES else error
    sender = params.get("to")
    to = phone(text_field(params, "msisdn"), international=True)
    return DeliveryReceipt(
        provider=KIND,
        message_id=identifier(params, "messageId"),
        status=SMS_STATUS.get(status.strip().lower(), Status.UNKNOWN),
        final=status.strip().lower() in SMS_STATUS.keys() - INTERMEDIATE,
        status_code=status,
        status_detail=detail,
        to=to.number,
        region=to.region,
        from_=phone(sender, international=True).number if sender else None,
        occurred_at=_sms_time(params),
        received_at=callback.received_at,
        segments=None,  # one receipt per part, each with its own messageId
        price=decimal_text(params.get("price"), where="price"),
        raw=dict(params),
    )


def _sms_inbound(params: dict[str, str], callback: RawCallback, phone: PhoneOf) -> InboundMessage:
    if params.get("type", "text") not in ("text", "unicode"):
        raise MalformedCallbackError("unsupported_callback", "type: only text and unicode SMS have text")
    sender = phone(identifier(params, "msisdn"), international=True)  # the record key
    receiver = params.get("to")
    return InboundMessage(
        provider=KIND,
        message_id=identifier(params, "messageId"),
        from_=sender.number,
        region=sender.region,
        to=phone(receiver, international=True).number if receiver else None,
        text=text_field(params, "text"),
        occurred_at=_sms_time(params),
        received_at=callback.received_at,
        segments=None,  # a concatenated SMS arrives part by part (concat-part of concat-total)
        price=None,
        raw=dict(params),
    )


def _sms_time(params: dict[str, str]) -> datetime:
    """`message-timestamp` (UTC), else the carrier's `scts` (YYMMDDhhmm), else `timestamp` (UNIX)."""
    if "message-timestamp" in params:
        return local_time(params["message-timestamp"], UTC, where="message-timestamp")
    if "scts" in params:
        try:
            return datetime.strptime(params["scts"], "%y%m%d%H%M").replace(tzinfo=UTC)
        except ValueError as exc:
            raise MalformedCallbackError("invalid_field", "scts: must be YYMMDDhhmm") from exc
    if "timestamp" in params:
        return unix_time(params["timestamp"], where="timestamp")
    raise MalformedCallbackError("missing_field", "message-timestamp: required")


# --- Messages API --------------------------------------------------------------------------------


def messages_event(callback: RawCallback, phone: PhoneOf) -> DeliveryReceipt | InboundMessage:
    """An SMS status webhook (has `status`) or an inbound SMS (has `message_type`)."""
    document = load_json(callback.body)
    if not isinstance(document, dict):
        raise MalformedCallbackError("wrong_shape", "body must be a JSON object")
    channel = optional_text(document, "channel")
    if channel not in (None, "sms"):
        raise MalformedCallbackError("unsupported_callback", "channel: only sms is bridged")
    return _by_shape(document, callback, phone, _messages_receipt, _messages_inbound, ("message_type", "text"),
                     "neither a status webhook (status) nor an inbound message")


def _messages_receipt(document: dict[str, Any], callback: RawCallback, phone: PhoneOf) -> DeliveryReceipt:
    status = text_field(document, "status")
    error = _object(document, "error")
    title, detail = optional_text(error, "title", where="error."), optional_text(error, "detail", where="error.")
    sender = optional_text(document, "from")
    to = phone(text_field(document, "to"), international=True)
    return DeliveryReceipt(
        provider=KIND,
        message_id=identifier(document, "message_uuid"),
        status=MESSAGES_STATUS.get(status.strip().lower(), Status.UNKNOWN),
        final=status.strip().lower() in MESSAGES_STATUS.keys() - INTERMEDIATE,
        status_code=status,
        status_detail=": ".join(p for p in (title, detail) if p) or None,
        to=to.number,
        region=to.region,
        from_=phone(sender, international=True).number if sender else None,
        occurred_at=iso_time(text_field(document, "timestamp"), where="timestamp"),
        received_at=callback.received_at,
        segments=count(optional_text(_object(document, "sms"), "count_total", where="sms."), where="sms.count_total"),
        price=_price(document),
        raw=document,
    )


def _messages_inbound(document: dict[str, Any], callback: RawCallback, phone: PhoneOf) -> InboundMessage:
    if document.get("message_type", "text") != "text":
        raise MalformedCallbackError("unsupported_callback", "message_type: only text is bridged")
    sender = phone(identifier(document, "from"), international=True)  # the record key
    receiver = optional_text(document, "to")
    sms = _object(document, "sms")
    return InboundMessage(
        provider=KIND,
        message_id=identifier(document, "message_uuid"),
        from_=sender.number,
        region=sender.region,
        to=phone(receiver, international=True).number if receiver else None,
        text=text_field(document, "text"),
        occurred_at=iso_time(text_field(document, "timestamp"), where="timestamp"),
        received_at=callback.received_at,
        segments=count(optional_text(sms, "num_messages", where="sms."), where="sms.num_messages"),
        price=_price(document),
        raw=document,
    )


def _object(document: dict[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedCallbackError("invalid_field", f"{name}: must be an object")
    return value


def _price(document: dict[str, Any]) -> str | None:
    return decimal_text(optional_text(_object(document, "usage"), "price", where="usage."), where="usage.price")


# --- documented samples (times and ids from `now`) -----------------------------------------------


def sms_dr_sample(now: float) -> bytes:
    """The documentation's delivery receipt (delivery-receipts.md), pushed now."""
    return orjson.dumps({
        "err-code": "0", "message-timestamp": time_text(now), "messageId": f"{int(now * 1000):016X}",
        "msisdn": "447547232824", "network-code": "23410", "price": "0.03330000", "scts": time_text(now, "%y%m%d%H%M"),
        "status": "delivered", "to": "Vonage",
    })


def sms_inbound_sample(now: float) -> bytes:
    """An inbound SMS from the OpenAPI example values (sms.yml), pushed now."""
    return orjson.dumps({
        "msisdn": "447700900001", "to": "447700900000", "messageId": f"0A{int(now * 1000):015X}",
        "text": "Hello world", "type": "text", "keyword": "HELLO", "message-timestamp": time_text(now),
    })


def messages_status_sample(now: float) -> bytes:
    """A Messages API SMS status (the Java SDK's MessageStatusTest shape), delivered now."""
    return orjson.dumps({
        "message_uuid": uuid_at("aaaaaaaa-bbbb-cccc-dddd", now), "to": "447700900000", "from": "447700900001",
        "timestamp": iso_text(now), "status": "delivered", "channel": "sms",
        "usage": {"currency": "EUR", "price": "0.0333"}, "sms": {"count_total": "1"},
        "destination": {"network_code": "23410"},
    })


def messages_inbound_sample(now: float) -> bytes:
    """A Messages API inbound SMS (the Java SDK's InboundMessageTest literals), received now."""
    return orjson.dumps({
        "message_uuid": uuid_at("bbbbbbbb-bbbb-cccc-dddd", now), "to": "447700900000", "from": "447700900001",
        "timestamp": iso_text(now), "channel": "sms", "message_type": "text", "text": "Hello, world!",
        "usage": {"currency": "EUR", "price": "0.0333"}, "sms": {"num_messages": "1", "keyword": "HELLO"},
    })
