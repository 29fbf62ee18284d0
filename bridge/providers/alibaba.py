"""Alibaba Cloud SMS HTTP batch push: SmsReport receipts and SmsUp messages, JSON arrays, unsigned.

Alibaba signs nothing. A callback is authentic when its URL carries the instance's secret token
(last path segment or `token` query parameter) and, if configured, its source address lies in
the instance's allowlist (the endpoint checks that). Each element of the array is told apart by
its own shape: a report has `success`, an inbound message has `content` (the two push types have
no required field in common, and one URL may be configured for both). An element that cannot be
understood is dead-lettered alone; the others are published. Alibaba waits 700 ms for an answer:
the instance's reply deadline stays under it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Final, Literal
from zoneinfo import ZoneInfo

import orjson
from pydantic import AfterValidator, Field

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.phones import check_region
from bridge.providers.base import (
    InstanceSettings,
    Parsed,
    Reply,
    Sample,
    Verified,
)
from bridge.providers.common import count, identifier, load_json, local_time, optional_text, text_field
from bridge.providers.replies import REASON_HEADER
from bridge.providers.reports import each_report
from bridge.providers.samples import beijing_text
from bridge.providers.schemes import SchemeProvider, UrlTokenScheme
from bridge.providers.verification import UrlToken

KIND: Final = "alibaba"
MAX_REPORTS: Final = 1000
ALIBABA_TIMEOUT_SECONDS: Final = 0.7  # Alibaba's answer timeout: later counts as a failure, retried
REPLY_DEADLINE_SECONDS: Final = 0.6

# `20170901000000`, as a community copy of the old SmsUp page shows it
_COMPACT_TIME: Final = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})")


class AlibabaSettings(InstanceSettings):
    """One Alibaba Cloud SMS account's HTTP batch push (SmsReport and SmsUp)."""

    kind: Literal["alibaba"] = "alibaba"
    url_token: UrlToken
    max_reports: Annotated[int, Field(ge=1, le=100_000)] = MAX_REPORTS
    default_region: Annotated[str | None, AfterValidator(lambda r: r if r is None else check_region(r))] = "CN"
    reply_deadline_seconds: Annotated[float, Field(gt=0, lt=ALIBABA_TIMEOUT_SECONDS)] = REPLY_DEADLINE_SECONDS


def _reply(status: int, code: int, msg: str, reason: str | None = None) -> Reply:
    headers = {} if reason is None else {REASON_HEADER: reason}
    return Reply(status, orjson.dumps({"code": code, "msg": msg}), "application/json", headers)


_ACCEPTED: Final = _reply(200, 0, "接收成功")  # Alibaba checks only that `code` is a number


def _report_sample(now: float) -> bytes:
    """The documented SmsReport sample (one receipt), with a real number and times around `now`."""
    return orjson.dumps([{
        "phone_number": "13800138000", "send_time": beijing_text(now - 5), "report_time": beijing_text(now),
        "success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1",
        "biz_id": f"{int(now * 1000)}^0", "out_id": "67890",
    }])


def _up_sample(now: float) -> bytes:
    """The documented SmsUp sample (one message), with a real number, a time and an id from `now`."""
    return orjson.dumps([{
        "phone_number": "13800138000", "content": "退订", "send_time": beijing_text(now), "dest_code": "1234",
        "sequence_id": str(int(now * 1000)),
    }])


class AlibabaProvider(SchemeProvider[AlibabaSettings]):
    """Alibaba Cloud SMS SmsReport and SmsUp pushes for one instance."""

    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "Alibaba Cloud SMS"
    settings_model: ClassVar[type[InstanceSettings]] = AlibabaSettings
    statuses: ClassVar[Mapping[str, Status]] = {}
    finality: ClassVar[Mapping[str, bool]] = {}  # no codes: every SmsReport is final
    samples: ClassVar[Sequence[Sample]] = (
        Sample("dr", EventType.DELIVERY_RECEIPT, "an SmsReport push with one receipt (the documented sample)",
               _report_sample),
        Sample("mo", EventType.INBOUND_MESSAGE, "an SmsUp push with one inbound message (the documented sample)",
               _up_sample),
    )
    dev_instance: ClassVar[dict[str, Any]] = {
        "source": "/sms/alibaba/dev",
        "url_token": "${ALIBABA_URL_TOKEN:-dev-alibaba-token-0123456789}",
        "default_region": "CN",
        "reply_deadline_seconds": REPLY_DEADLINE_SECONDS,
    }

    def __init__(self, settings: AlibabaSettings, clock: Clock) -> None:
        self.settings = settings
        self.scheme = UrlTokenScheme(settings.url_token)
        self._zone = ZoneInfo(settings.timezone)

    def parse(self, verified: Verified) -> Parsed:
        document = load_json(verified.raw.body)
        if not isinstance(document, list) or not document:
            raise MalformedCallbackError("wrong_shape", "body must be a non-empty JSON array of reports")
        if len(document) > self.settings.max_reports:
            raise MalformedCallbackError("too_many_reports", f"more than {self.settings.max_reports} reports")
        return each_report(document, lambda report, index: self._item(report, index, verified))

    def _item(self, report: Any, index: int, verified: Verified) -> DeliveryReceipt | InboundMessage:
        if not isinstance(report, dict):
            raise MalformedCallbackError("wrong_shape", f"[{index}]: must be an object")
        if "success" in report:
            return self._receipt(report, f"[{index}].", verified)
        if "content" in report:
            return self._inbound(report, f"[{index}].", verified)
        raise MalformedCallbackError(
            "wrong_shape", f"[{index}]: neither an SmsReport (success) nor an SmsUp (content) report"
        )

    def _receipt(self, report: dict[str, Any], where: str, callback: Verified) -> DeliveryReceipt:
        success = report["success"]
        if not isinstance(success, bool):
            raise MalformedCallbackError("invalid_field", f"{where}success: must be true or false")
        biz_id = identifier(report, "biz_id", where=where)
        number = identifier(report, "phone_number", where=where)
        to = self.phone(number)
        return DeliveryReceipt(
            provider=KIND,
            message_id=f"{biz_id}:{number}",  # BizId is shared by every number of one send request
            status=Status.DELIVERED if success else Status.UNDELIVERED,
            final=True,  # Alibaba pushes only final reports
            status_code=text_field(report, "err_code", where=where),
            status_detail=optional_text(report, "err_msg", where=where) or None,
            to=to.number,
            region=to.region,
            from_=None,
            occurred_at=self._time(report, "report_time", where),
            received_at=callback.raw.received_at,
            segments=count(optional_text(report, "sms_size", where=where), where=f"{where}sms_size"),
            price=None,
            raw=report,
        )

    def _inbound(self, report: dict[str, Any], where: str, callback: Verified) -> InboundMessage:
        sequence_id = identifier(report, "sequence_id", where=where)  # a string, or a number in older docs
        sender = self.phone(identifier(report, "phone_number", where=where))  # the record key
        return InboundMessage(
            provider=KIND,
            message_id=sequence_id,
            from_=sender.number,
            region=sender.region,
            to=optional_text(report, "dest_code", where=where) or None,  # the extension replied to, verbatim
            text=text_field(report, "content", where=where),
            occurred_at=self._time(report, "send_time", where),
            received_at=callback.raw.received_at,
            segments=None,
            price=None,
            raw=report,
        )

    def _time(self, report: dict[str, Any], name: str, where: str) -> datetime:
        """`yyyy-MM-dd HH:mm:ss` (or compact `yyyyMMddHHmmss`) in the instance's zone -> aware UTC."""
        text = text_field(report, name, where=where)
        compact = _COMPACT_TIME.fullmatch(text)
        if compact:
            text = "{}-{}-{} {}:{}:{}".format(*compact.groups())
        return local_time(text, self._zone, where=f"{where}{name}")

    def accepted(self, verified: Verified) -> Reply:
        return _ACCEPTED

    def rejected(self, error: CallbackError) -> Reply:
        return _reply(error.status, error.status, f"{error.reason}: {error}", error.reason)
