"""CloudEvents 1.0 records for Kafka, one per canonical event: structured (JSON event format) or binary mode."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import orjson

from bridge.errors import MalformedCallbackError
from bridge.events import DeliveryReceipt, EventType, SmsEvent, format_instant, format_time
from bridge.kafka.settings import ContentMode

CONTENT_TYPE: Final = b"application/cloudevents+json; charset=utf-8"
HEADERS: Final = (("content-type", CONTENT_TYPE),)
DATA_CONTENT_TYPE: Final = "application/json"
CE_PREFIX: Final = "ce_"  # the CloudEvents Kafka protocol binding: one header per attribute in binary mode
MAX_RECORD_BYTES: Final = 64 * 1024  # the value and the ce_* headers (binary mode)
SCHEMA_VERSION: Final = "v1"
DATASCHEMA: Final = {t: f"urn:sms-bridge:schema:{t.value}:{SCHEMA_VERSION}" for t in EventType}
_TRACEPARENT_LENGTH: Final = 55


class KafkaRecord(NamedTuple):
    """One Kafka record ready to send (a tuple: one is built for every event, and a frozen dataclass costs
    a setattr per field)."""

    topic: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = HEADERS
    event_id: str = ""
    event_type: EventType | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """How events of one instance become records: its `source`, the type prefix, the topics, and
    whether `data.raw` carries the provider's report (the instance's `include_raw`).

    Providers always put the report in an event's `raw`; an instance with `include_raw: false` has
    it left out here, once for every kind (`raw` is then null). The attributes that are the same
    for every event of a type (specversion, source, type, datacontenttype, dataschema) are
    rendered once per type; an event adds only its own.

    `content_mode` (the configuration's `kafka.content_mode`) chooses how the record carries the event:
    structured, the whole event as JSON in the value (header `content-type:
    application/cloudevents+json`, no `ce_*` headers); or binary, as the CloudEvents Kafka protocol
    binding maps it: every attribute a `ce_<name>` header (extensions too: `ce_partitionkey`,
    `ce_traceparent`), `datacontenttype` the `content-type` header, `data` alone the value. Either
    way the key is the partition key and the same event gives the same attributes and data.
    """

    source: str
    topics: dict[EventType, str]
    type_prefix: str = ""
    include_raw: bool = True
    content_mode: ContentMode = "structured"
    _fixed: dict[EventType, tuple[bytes, bytes]] = field(init=False, repr=False, compare=False)
    _fixed_headers: dict[EventType, tuple[tuple[str, bytes], ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fixed: dict[EventType, tuple[bytes, bytes]] = {}
        fixed_headers: dict[EventType, tuple[tuple[str, bytes], ...]] = {}
        for event_type in EventType:
            type_ = self.type_of(event_type)
            after_id = b'","source":' + orjson.dumps(self.source) + b',"type":' + orjson.dumps(type_) + b","
            after_time = b'","datacontenttype":"application/json","dataschema":' + orjson.dumps(DATASCHEMA[event_type])
            fixed[event_type] = (after_id, after_time + b',"partitionkey":')
            fixed_headers[event_type] = (
                ("ce_specversion", b"1.0"), ("ce_source", self.source.encode()), ("ce_type", type_.encode()),
                ("ce_dataschema", DATASCHEMA[event_type].encode()),
            )
        object.__setattr__(self, "_fixed", fixed)
        object.__setattr__(self, "_fixed_headers", fixed_headers)

    def type_of(self, event_type: EventType) -> str:
        """The CloudEvents `type` of an event type: behind the configured prefix, if any."""
        return f"{self.type_prefix}.{event_type.value}" if self.type_prefix else event_type.value

    def to_record(self, event: SmsEvent, traceparent: str | None = None) -> KafkaRecord:
        """The event as a CloudEvent in the envelope's content mode; `raw` is left out without `include_raw`,
        and dropped if the record is too big (MalformedCallbackError `record_too_large` if it still is)."""
        event_id = event.id
        include_raw = self.include_raw
        if self.content_mode == "binary":
            value, headers = self._binary(event, event_id, traceparent, include_raw=include_raw)
            if _size(value, headers) > MAX_RECORD_BYTES and include_raw and event.raw is not None:
                value, headers = self._binary(event, event_id, traceparent, include_raw=False)
            size = _size(value, headers)
        else:  # structured: no ce_* headers, the value is the whole size
            headers = HEADERS
            value = self._dump(event, event_id, traceparent, include_raw=include_raw)
            if len(value) > MAX_RECORD_BYTES and include_raw and event.raw is not None:
                value = self._dump(event, event_id, traceparent, include_raw=False)
            size = len(value)
        if size > MAX_RECORD_BYTES:
            raise MalformedCallbackError("record_too_large", f"event exceeds {MAX_RECORD_BYTES} bytes")
        return KafkaRecord(self.topics[event.type], event.key.encode("utf-8"), value, headers, event_id, event.type)

    def _binary(
        self, event: SmsEvent, event_id: str, traceparent: str | None, *, include_raw: bool
    ) -> tuple[bytes, tuple[tuple[str, bytes], ...]]:
        occurred = format_time(event.occurred_at)
        specversion, source, type_, dataschema = self._fixed_headers[event.type]
        headers = [specversion, ("ce_id", event_id.encode()), source, type_]
        if event.subject:
            headers.append(("ce_subject", event.subject.encode("utf-8")))
        headers += [("ce_time", occurred.encode()), dataschema, ("ce_partitionkey", event.key.encode("utf-8"))]
        if traceparent is not None:
            headers.append(("ce_traceparent", traceparent.encode()))
        headers.append(("content-type", DATA_CONTENT_TYPE.encode()))
        return orjson.dumps(_data(event, occurred, include_raw)), tuple(headers)

    def _dump(self, event: SmsEvent, event_id: str, traceparent: str | None, *, include_raw: bool) -> bytes:
        occurred = format_time(event.occurred_at)
        after_id, after_time = self._fixed[event.type]
        parts = [b'{"specversion":"1.0","id":"', event_id.encode(), after_id]  # the id is hex: nothing to escape
        if event.subject:
            parts += [b'"subject":', orjson.dumps(event.subject), b","]
        parts += [b'"time":"', occurred.encode(), after_time, orjson.dumps(event.key)]  # RFC 3339: nothing to escape
        if traceparent is not None:  # validated: lower-case hex and dashes only
            parts += [b',"traceparent":"', traceparent.encode(), b'"']
        parts += [b',"data":', orjson.dumps(_data(event, occurred, include_raw)), b"}"]
        return b"".join(parts)


def _size(value: bytes, headers: tuple[tuple[str, bytes], ...]) -> int:
    return len(value) + sum(len(name) + len(header) for name, header in headers if name.startswith(CE_PREFIX))


def _data(event: SmsEvent, occurred: str, include_raw: bool) -> dict[str, Any]:
    raw = event.raw if include_raw and event.raw is not None else None
    if isinstance(event, DeliveryReceipt):
        return {
            "provider": event.provider,
            "message_id": event.message_id,
            "status": event.status.value,
            "status_code": event.status_code,
            "status_detail": event.status_detail,
            "final": event.final,
            "to": event.to,
            "region": event.region,
            "from": event.from_,
            "occurred_at": occurred,
            "received_at": format_instant(event.received_at),
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
        "received_at": format_instant(event.received_at),
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
