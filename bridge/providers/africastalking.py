"""Africa's Talking SMS: delivery report and incoming message notifications, one form POST each.

Africa's Talking signs nothing (providers-3.md §6.4). A callback is authentic when its URL carries
the instance's secret token (last path segment or `token` query parameter) and, if configured, its
source address lies in the instance's allowlist (the endpoint checks that). A notification with
`status` is a delivery report; one with `text` is an incoming message. A delivery report carries no
time of its own, so `occurred_at` is when the bridge received it and stays out of the event id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Final, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.providers.base import (
    FORM,
    BodyKind,
    InstanceSettings,
    Parsed,
    Reply,
    Sample,
    Verified,
    Zone,
)
from bridge.providers.common import (
    finality,
    form_record,
    identifier,
    local_time,
    optional_text,
    query_or_form,
    text_field,
)
from bridge.providers.replies import EMPTY_OK, text_refusal
from bridge.providers.samples import time_text
from bridge.providers.schemes import SchemeProvider, UrlTokenScheme
from bridge.providers.verification import UrlToken

KIND: Final = "africastalking"

# The statuses of Africa's Talking's delivery report page, verbatim (providers-3.md §6.2).
STATUSES: Final[Mapping[str, Status]] = {
    "Sent": Status.UNKNOWN,  # sent by AT's network; not final
    "Submitted": Status.UNKNOWN,  # submitted to the MSP; not final
    "Buffered": Status.UNKNOWN,  # queued by the MSP; not final
    "Rejected": Status.UNDELIVERED,  # rejected by the MSP; final
    "Success": Status.DELIVERED,  # delivered to the handset; final
    "Failed": Status.UNDELIVERED,  # could not be delivered to the handset; final
}
_READ: Final = frozenset({"id", "status", "phoneNumber", "failureReason", "from", "to", "text", "date"})


class AfricasTalkingSettings(InstanceSettings):
    """One Africa's Talking application's SMS callback URLs (delivery reports and incoming messages)."""

    kind: Literal["africastalking"] = "africastalking"
    url_token: UrlToken
    timezone: Zone = "UTC"  # how an incoming `date` without offset is read



def _at_id(now: float) -> str:
    return f"ATXid_{int(now * 1000):016x}"


def _report_sample(now: float, status: str = "Success", reason: str | None = None) -> bytes:
    """A delivery report (providers-3.md §6.2's documented fields), its id from `now`."""
    params = [("id", _at_id(now)), ("status", status), ("phoneNumber", "+254711123456"), ("networkCode", "63902")]
    if reason is not None:
        params.append(("failureReason", reason))
    return urlencode(params).encode("ascii")


def _incoming_sample(now: float) -> bytes:
    """An incoming message (providers-3.md §6.3's fields), its id and date from `now`."""
    return urlencode([("date", time_text(now)), ("from", "+254711123456"), ("id", f"{int(now * 1000):x}-in"),
                      ("linkId", f"SampleLinkId{int(now)}"), ("text", "Hello"), ("to", "21525"),
                      ("networkCode", "63902")]).encode("ascii")


class AfricasTalkingProvider(SchemeProvider[AfricasTalkingSettings]):
    """Africa's Talking SMS delivery reports and incoming messages for one application."""

    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "Africa's Talking SMS"
    settings_model: ClassVar[type[InstanceSettings]] = AfricasTalkingSettings
    media_types: ClassVar[Mapping[str, BodyKind]] = {FORM: "form"}
    statuses: ClassVar[Mapping[str, Status]] = STATUSES
    finality: ClassVar[Mapping[str, bool]] = finality(STATUSES, intermediate=("Sent", "Submitted", "Buffered"))
    samples: ClassVar[Sequence[Sample]] = (
        Sample("dr", EventType.DELIVERY_RECEIPT, "a delivery report: status=Success", _report_sample),
        Sample("dr-failed", EventType.DELIVERY_RECEIPT, "a delivery report: status=Failed, failureReason",
               lambda now: _report_sample(now, "Failed", "UserInBlackList")),
        Sample("incoming", EventType.INBOUND_MESSAGE, "an incoming message", _incoming_sample),
    )
    dev_instance: ClassVar[dict[str, Any]] = {
        "source": "/sms/africastalking/dev",
        "url_token": "${AFRICASTALKING_URL_TOKEN:-dev-africastalking-token-0123456789}",
    }

    def __init__(self, settings: AfricasTalkingSettings, clock: Clock) -> None:
        self.settings = settings
        self.scheme = UrlTokenScheme(settings.url_token)
        self._zone = ZoneInfo(settings.timezone)

    def parse(self, verified: Verified) -> Parsed:
        record = form_record(query_or_form(verified.raw), _READ)
        if "status" in record:
            return [self._receipt(record, verified)]
        if "text" in record:
            return [self._incoming(record, verified)]
        raise MalformedCallbackError(
            "unsupported_callback", "neither a delivery report (status) nor an incoming message (text)"
        )

    def _receipt(self, record: dict[str, Any], verified: Verified) -> DeliveryReceipt:
        message_id = identifier(record, "id")
        code = identifier(record, "status")
        to = self.phone(identifier(record, "phoneNumber"))
        received = verified.raw.received_at
        return DeliveryReceipt(
            provider=KIND,
            message_id=message_id,
            status=next((s for c, s in STATUSES.items() if c.lower() == code.strip().lower()), Status.UNKNOWN),
            final=next((f for c, f in self.finality.items() if c.lower() == code.strip().lower()), False),
            status_code=code,
            status_detail=optional_text(record, "failureReason") or None,
            to=to.number,
            region=to.region,
            provider_time=False,  # a report carries no time: the id must not change with a retry
            from_=None,
            occurred_at=received,
            received_at=received,
            segments=None,
            price=None,
            raw=record,
        )

    def _incoming(self, record: dict[str, Any], verified: Verified) -> InboundMessage:
        message_id = identifier(record, "id")
        sender = self.phone(identifier(record, "from"))  # the record key
        receiver = optional_text(record, "to")
        occurred_at = self._date(optional_text(record, "date"))
        return InboundMessage(
            provider=KIND,
            message_id=message_id,
            from_=sender.number,
            region=sender.region,
            to=self.phone(receiver).number if receiver else None,
            text=text_field(record, "text"),
            occurred_at=occurred_at or verified.raw.received_at,
            received_at=verified.raw.received_at,
            provider_time=occurred_at is not None,
            segments=None,
            price=None,
            raw=record,
        )

    def _date(self, text: str | None) -> datetime | None:
        """`date` as ISO 8601 or `yyyy-MM-dd HH:mm:ss` (without offset: the instance's zone); None when absent
        or in another form, since its format is not documented (the message is kept, `raw` keeps the date)."""
        if not text:
            return None
        try:
            return local_time(text.strip(), self._zone, where="date")
        except MalformedCallbackError:
            return None

    def accepted(self, verified: Verified) -> Reply:
        return EMPTY_OK

    def rejected(self, error: CallbackError) -> Reply:
        return text_refusal(error)

