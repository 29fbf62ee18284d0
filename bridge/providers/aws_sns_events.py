"""AWS SNS SMS events: the `TEXT_*` delivery events and two-way inbound messages inside an SNS `Message`
(providers-3.md §3.4, §3.5), their status table, and the documented samples wrapped in SNS envelopes."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import orjson

from bridge.errors import MalformedCallbackError
from bridge.events import DeliveryReceipt, InboundMessage, Status
from bridge.phones import Phone
from bridge.providers.common import count, identifier, iso_time, optional_text, unix_time
from bridge.providers.samples import iso_text

KIND: Final = "aws_sns"
NOTIFICATION: Final = "Notification"

# The status of a final event (isFinal true) by eventType; an event that is not final is `unknown` whatever
# its type (providers-3.md §3.4 and §7: isFinal is the authority). TEXT_SUCCESSFUL is final where the
# carrier sends no handset receipt: accepted by the recipient's carrier is the best delivery AWS reports.
FINAL_STATUS: Final = {
    "TEXT_DELIVERED": Status.DELIVERED,
    "TEXT_SUCCESSFUL": Status.DELIVERED,
    "TEXT_INVALID": Status.UNDELIVERED,
    "TEXT_INVALID_MESSAGE": Status.UNDELIVERED,
    "TEXT_UNREACHABLE": Status.UNDELIVERED,
    "TEXT_CARRIER_UNREACHABLE": Status.UNDELIVERED,
    "TEXT_BLOCKED": Status.UNDELIVERED,
    "TEXT_CARRIER_BLOCKED": Status.UNDELIVERED,
    "TEXT_SPAM": Status.UNDELIVERED,
    "TEXT_TTL_EXPIRED": Status.UNDELIVERED,
    "TEXT_PROTECT_BLOCKED": Status.UNDELIVERED,
    "TEXT_QUEUED": Status.UNKNOWN,
    "TEXT_PENDING": Status.UNKNOWN,
    "TEXT_UNKNOWN": Status.UNKNOWN,
}


def sample_uuid(label: str, now: float) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(f"{label}:{now!r}".encode()).digest()[:16], version=4))


def _envelope(now: float, label: str, message: dict[str, Any]) -> bytes:
    """An SNS Notification as published, before SNS adds the topic and signs it (sign() does both)."""
    return orjson.dumps({"Type": NOTIFICATION, "MessageId": sample_uuid(f"sns:{label}", now),
                         "Message": orjson.dumps(message).decode(), "Timestamp": iso_text(now)})


def receipt_sample(now: float, event_type: str, status: str, description: str) -> bytes:
    """The event-format page's TEXT_SUCCESSFUL example (providers-3.md §3.4), type and times of now."""
    millis = int(now * 1000)
    return _envelope(now, event_type, {
        "eventType": event_type, "eventVersion": "1.0", "eventTimestamp": millis, "isFinal": True,
        "originationPhoneNumber": "+12065550152", "destinationPhoneNumber": "+14255550156", "isoCountryCode": "US",
        "mcc": "310", "mnc": "800", "messageId": sample_uuid(f"message:{event_type}", now),
        "messageRequestTimestamp": millis - 300, "messageEncoding": "GSM", "messageType": "PROMOTIONAL",
        "messageStatus": status, "messageStatusDescription": description, "context": {"account": "bar"},
        "totalMessageParts": 1, "totalMessagePrice": 0.09582, "totalCarrierFee": 0.0,
    })


def inbound_sample(now: float) -> bytes:
    """The two-way SMS payload page's example (providers-3.md §3.5), its id of now."""
    return _envelope(now, "inbound", {
        "originationNumber": "+14255550182", "destinationNumber": "+12125550101", "messageKeyword": "JOIN",
        "messageBody": "EXAMPLE", "inboundMessageId": sample_uuid("inbound", now),
        "previousPublishedMessageId": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    })


def price(value: Any, where: str) -> str | None:
    """A price AWS writes as a JSON number (0.09582), as a plain decimal string."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedCallbackError("invalid_field", f"{where}: must be a number")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation as exc:
        raise MalformedCallbackError("invalid_field", f"{where}: must be a number") from exc
    if not number.is_finite():
        raise MalformedCallbackError("invalid_field", f"{where}: must be a number")
    return format(number, "f")


def receipt(event: dict[str, Any], received_at: datetime, phone: Callable[[str], Phone]) -> DeliveryReceipt:
    """A `TEXT_*` delivery event: `isFinal` decides whether its type's status stands or it is unknown."""
    where = "Message."
    event_type = identifier(event, "eventType", where=where)
    if not event_type.upper().startswith("TEXT_"):
        raise MalformedCallbackError("unsupported_callback", f"{where}eventType: only TEXT_* events are SMS")
    final = event.get("isFinal")
    if not isinstance(final, bool):
        raise MalformedCallbackError("invalid_field", f"{where}isFinal: must be true or false")
    to = phone(identifier(event, "destinationPhoneNumber", where=where))
    sender = optional_text(event, "originationPhoneNumber", where=where)  # a number, a sender ID or a pool
    millis = event.get("eventTimestamp")
    if isinstance(millis, bool) or not isinstance(millis, int | float):
        raise MalformedCallbackError("invalid_field", f"{where}eventTimestamp: must be UNIX milliseconds")
    status = FINAL_STATUS.get(event_type.upper(), Status.UNKNOWN) if final else Status.UNKNOWN
    return DeliveryReceipt(
        provider=KIND,
        message_id=identifier(event, "messageId", where=where),
        status=status,
        final=final,
        status_code=event_type,
        status_detail=optional_text(event, "messageStatusDescription", where=where)
        or optional_text(event, "messageStatus", where=where),
        to=to.number,
        region=to.region,
        from_=phone(sender).number if sender else None,
        occurred_at=unix_time(millis / 1000, where=f"{where}eventTimestamp"),
        received_at=received_at,
        segments=count(optional_text(event, "totalMessageParts", where=where), where=f"{where}totalMessageParts"),
        price=price(event.get("totalMessagePrice"), f"{where}totalMessagePrice"),
        raw=event,
    )


def inbound(
    event: dict[str, Any], timestamp: str, received_at: datetime, phone: Callable[[str], Phone]
) -> InboundMessage:
    """A two-way SMS; `timestamp` is the envelope's (the inbound payload has no time of its own)."""
    where = "Message."
    sender = phone(identifier(event, "originationNumber", where=where))
    receiver = optional_text(event, "destinationNumber", where=where)
    return InboundMessage(
        provider=KIND,
        message_id=identifier(event, "inboundMessageId", where=where),
        from_=sender.number,
        region=sender.region,
        to=phone(receiver).number if receiver else None,
        text=optional_text(event, "messageBody", where=where) or "",
        occurred_at=iso_time(timestamp, where="Timestamp"),
        received_at=received_at,
        segments=None,
        price=None,
        raw=event,
    )
