"""The canonical, provider-neutral event model: what every provider's callback becomes."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

import orjson

from bridge.immutable import immutable


class EventType(StrEnum):
    """The CloudEvents `type` of each canonical event, before any configured prefix."""

    DELIVERY_RECEIPT = "sms.delivery_receipt"
    INBOUND_MESSAGE = "sms.inbound_message"

    # Enum hashes a member by its name, in Python, on every dict lookup; a StrEnum member is its value,
    # so hash it as the string it is: in C, and equal to its value's hash, as equality already is.
    __hash__ = str.__hash__


class Status(StrEnum):
    """Provider-neutral outcome of a sent message."""

    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    UNKNOWN = "unknown"

    __hash__ = str.__hash__  # as EventType's


def event_id(
    provider: str, type_: EventType, message_key: str, status_code: str, occurred_at: datetime | None
) -> str:
    """A deterministic event id: the same provider record always gives the same id.

    sha256 over the five inputs as a JSON array (unambiguous whatever they contain), first 128 bits as 32 hex digits.
    `message_key` is the provider's message id, or a stand-in derived from the record where the
    provider gives none (see each provider's parse()). `occurred_at` is None where the provider
    sends no event time (the id must not change with the time of a retry).
    """
    moment = None if occurred_at is None else format_time(occurred_at)
    material = orjson.dumps([provider, type_, message_key, status_code, moment])  # a StrEnum dumps as its value
    return hashlib.sha256(material).hexdigest()[:32]


def format_instant(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, whole seconds unless the instant has a fraction (then ms, truncated)."""
    last, text = _LAST[0]
    if moment is last:  # a callback's events share one reception time (Tencent sends up to hundreds)
        return text
    text = _format_instant(moment)
    _LAST[0] = (moment, text)  # one assignment: a thread never sees one instant with another's text
    return text


# The last instant format_instant rendered, by identity (datetimes are immutable), with its text.
_LAST: Final[list[tuple[datetime | None, str]]] = [(None, "")]


def _format_instant(moment: datetime) -> str:
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    micro = moment.microsecond
    if 1970 <= moment.year < 2100:  # epoch seconds exact as a float here: the second's text from a small cache
        head = _second_text(int(moment.timestamp()))
        return head + _MILLIS[micro // 1000] if micro else head + "Z"
    # isoformat, not strftime: "%Y" does not pad years before 1000 to four digits.
    return moment.isoformat(timespec="milliseconds" if micro else "seconds")[:-6] + "Z"


_MILLIS: Final = tuple(f".{ms:03d}Z" for ms in range(1000))


@functools.lru_cache(maxsize=256)  # a second's callbacks share it: isoformat costs more than the rest together
def _second_text(seconds: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS` of whole epoch seconds, in UTC."""
    return datetime.fromtimestamp(seconds, UTC).isoformat()[:19]


# Event times repeat (a second's callbacks share them, and an event's time is rendered for its id and its
# record); reception times do not: they use format_instant, and stay out of this cache.
format_time = functools.lru_cache(maxsize=4096)(_format_instant)


@immutable
class DeliveryReceipt:
    """A provider's report on a message we sent."""

    provider: str
    message_id: str
    status: Status
    status_code: str
    status_detail: str | None
    to: str
    from_: str | None
    occurred_at: datetime
    received_at: datetime
    segments: int | None
    price: str | None
    raw: dict[str, Any] | None = field(default=None, compare=False)
    region: str | None = None  # ISO 3166-1 alpha-2 of `to`, when it is a valid number
    provider_time: bool = True  # False: the provider sends no event time; occurred_at is when we received it
    final: bool = False  # the provider sends no later status for this message (its kind's `finality`)

    type: EventType = field(default=EventType.DELIVERY_RECEIPT, init=False)

    @property
    def id(self) -> str:
        moment = self.occurred_at if self.provider_time else None
        return event_id(self.provider, self.type, self.message_id, self.status_code, moment)

    @property
    def key(self) -> str:
        """The Kafka record key: all receipts of one message stay in order on one partition."""
        return self.message_id

    @property
    def subject(self) -> str | None:
        return self.message_id


@immutable
class InboundMessage:
    """An SMS a user sent to one of our numbers."""

    provider: str
    message_id: str | None
    from_: str
    to: str | None
    text: str
    occurred_at: datetime
    received_at: datetime
    segments: int | None
    price: str | None
    raw: dict[str, Any] | None = field(default=None, compare=False)
    status_code: str = ""
    region: str | None = None  # ISO 3166-1 alpha-2 of `from_`, when it is a valid number
    provider_time: bool = True  # False: the provider sends no event time; occurred_at is when we received it

    type: EventType = field(default=EventType.INBOUND_MESSAGE, init=False)

    @property
    def id(self) -> str:
        if self.message_id is not None:
            message_key = self.message_id
        else:
            # No provider id (Tencent replies): the sender, receiver and text stand in for one.
            digest = hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]
            message_key = f"{self.from_}|{self.to or ''}|{digest}"
        moment = self.occurred_at if self.provider_time else None
        return event_id(self.provider, self.type, message_key, self.status_code, moment)

    @property
    def key(self) -> str:
        """The Kafka record key: one conversation stays in order on one partition."""
        return self.from_

    @property
    def subject(self) -> str | None:
        return self.message_id


SmsEvent = DeliveryReceipt | InboundMessage
