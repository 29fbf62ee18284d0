"""CloudEvents 1.0 structured JSON records for Kafka, one per canonical event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from bridge.errors import MalformedCallbackError
from bridge.events import DeliveryReceipt, EventType, SmsEvent, format_time

CONTENT_TYPE: Final = b"application/cloudevents+json; charset=utf-8"
HEADERS: Final = (("content-type", CONTENT_TYPE),)
MAX_RECORD_BYTES: Final = 64 * 1024
SCHEMA_VERSION: Final = "v1"
DATASCHEMA: Final = {t: f"urn:sms-bridge:schema:{t.value}:{SCHEMA_VERSION}" for t in EventType}
_TRACEPARENT_LENGTH: Final = 55


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """One Kafka record ready to send."""

    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = HEADERS
    event_id: str = ""
    event_type: EventType | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """How events of one instance become records: its `source`, the type prefix, the topics."""

    source: str
    topics: dict[EventType, str]
    type_prefix: str = ""

    def to_record(self, event: SmsEvent, traceparent: str | None = None) -> KafkaRecord:
        """The event as a structured-mode CloudEvent; `raw` is dropped if the record is too big."""
        event_id = event.id
        value = self._dump(event, event_id, traceparent, include_raw=True)
        if len(value) > MAX_RECORD_BYTES and event.raw is not None:
            value = self._dump(event, event_id, traceparent, include_raw=False)
        if len(value) > MAX_RECORD_BYTES:
            raise MalformedCallbackError("record_too_large", f"event exceeds {MAX_RECORD_BYTES} bytes")
        return KafkaRecord(
            topic=self.topics[event.type],
            key=event.key.encode("utf-8"),
            value=value,
            event_id=event_id,
            event_type=event.type,
        )

    def _dump(self, event: SmsEvent, event_id: str, traceparent: str | None, *, include_raw: bool) -> bytes:
        occurred = format_time(event.occurred_at)
        envelope: dict[str, Any] = {
            "specversion": "1.0",
            "id": event_id,
            "source": self.source,
            "type": f"{self.type_prefix}.{event.type.value}" if self.type_prefix else event.type.value,
        }
        if event.subject:
            envelope["subject"] = event.subject
        envelope["time"] = occurred
        envelope["datacontenttype"] = "application/json"
        envelope["dataschema"] = DATASCHEMA[event.type]
        envelope["partitionkey"] = event.key
        if traceparent is not None:
            envelope["traceparent"] = traceparent
        envelope["data"] = _data(event, occurred, include_raw)
        return orjson.dumps(envelope)


def _data(event: SmsEvent, occurred: str, include_raw: bool) -> dict[str, Any]:
    raw = event.raw if include_raw and event.raw is not None else None
    if isinstance(event, DeliveryReceipt):
        return {
            "provider": event.provider,
            "message_id": event.message_id,
            "status": event.status.value,
            "status_code": event.status_code,
            "status_detail": event.status_detail,
            "to": event.to,
            "region": event.region,
            "from": event.from_,
            "occurred_at": occurred,
            "received_at": format_time(event.received_at),
            "segments": event.segments,
            "price": event.price,
            "raw": raw,
        }
    return {
        "provider": event.provider,
        "message_id": event.message_id,
        "from": event.from_,
        "to": event.to,
        "region": event.region,
        "text": event.text,
        "occurred_at": occurred,
        "received_at": format_time(event.received_at),
        "segments": event.segments,
        "price": event.price,
        "raw": raw,
    }


def valid_traceparent(value: str | None) -> str | None:
    """A W3C `traceparent` header if it is well formed (version 00 layout), else None."""
    if value is None or len(value) != _TRACEPARENT_LENGTH:
        return None
    # W3C: lower-case hex only; an upper-case header is invalid and ignored, not repaired.
    parts = value.split("-")
    if len(parts) != 4 or [len(p) for p in parts] != [2, 32, 16, 2]:
        return None
    if not all(c in "0123456789abcdef" for c in value.replace("-", "")):
        return None
    if parts[0] == "ff" or set(parts[1]) == {"0"} or set(parts[2]) == {"0"}:
        return None
    return value
