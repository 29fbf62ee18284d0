"""Tencent Cloud SMS: status callbacks (an array of reports) and reply (inbound) callbacks.

Tencent signs nothing. A callback is authentic when its URL carries the instance's secret
token (last path segment or `token` query parameter) and, if configured, its source address
lies in the instance's allowlist (the endpoint checks that). Status reports map on
`report_status`; `errmsg` is kept verbatim as the status code and never enumerated. A report
of an array that cannot be understood is dead-lettered alone; the others are published.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Final, Literal
from zoneinfo import ZoneInfo

import orjson
from pydantic import Field

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.providers.base import (
    JSON,
    BodyKind,
    InstanceSettings,
    Parsed,
    Reply,
    Sample,
    Verified,
)
from bridge.providers.common import finality, identifier, load_json, local_time, optional_text, text_field, unix_time
from bridge.providers.reports import each_report
from bridge.providers.samples import beijing_text
from bridge.providers.schemes import SchemeProvider, UrlTokenScheme
from bridge.providers.verification import UrlToken

KIND: Final = "tencent"
MAX_REPORTS: Final = 100

_STATUS: Final = {"SUCCESS": Status.DELIVERED, "FAIL": Status.UNDELIVERED}


class TencentSettings(InstanceSettings):
    """One Tencent Cloud SMS account (SdkAppId)."""

    kind: Literal["tencent"] = "tencent"
    url_token: UrlToken
    max_reports: Annotated[int, Field(ge=1, le=10_000)] = MAX_REPORTS


def _reply(status: int, result: int, errmsg: str) -> Reply:
    return Reply(status, orjson.dumps({"result": result, "errmsg": errmsg}), "application/json")


_ACCEPTED: Final = _reply(200, 0, "OK")


def _status_sample(now: float) -> bytes:
    """The seed's sample status callback (one report), received now."""
    report = {
        "user_receive_time": beijing_text(now),
        "nationcode": "86",
        "mobile": "13800138000",
        "report_status": "SUCCESS",
        "errmsg": "DELIVRD",
        "description": "The SMS message is successfully delivered",
        "sid": f"2019:{int(now * 1000)}",
    }
    return orjson.dumps([report])


def _reply_sample(now: float) -> bytes:
    """The seed's sample reply (inbound) callback, sent now."""
    reply = {"extend": "", "mobile": "13800138000", "nationcode": "86", "sign": "Demo", "text": "hello from a test",
             "time": int(now)}
    return orjson.dumps(reply)


class TencentProvider(SchemeProvider[TencentSettings]):
    """Tencent Cloud SMS status and reply callbacks for one instance."""

    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "Tencent Cloud SMS"
    settings_model: ClassVar[type[InstanceSettings]] = TencentSettings
    statuses: ClassVar[Mapping[str, Status]] = _STATUS
    finality: ClassVar[Mapping[str, bool]] = finality(_STATUS, intermediate=())  # one report per message
    media_types: ClassVar[Mapping[str, BodyKind]] = {JSON: "json", "text/json": "json", "text/plain": "json"}
    samples: ClassVar[Sequence[Sample]] = (
        Sample("dr", EventType.DELIVERY_RECEIPT, "a status callback with one report (the seed's sample)",
               _status_sample),
        Sample("reply", EventType.INBOUND_MESSAGE, "a reply (inbound SMS) callback", _reply_sample),
    )
    dev_instance: ClassVar[dict[str, Any]] = {
        "source": "/sms/tencent/1400000000",
        "url_token": "${TENCENT_URL_TOKEN:-dev-tencent-token-0123456789}",
    }

    def __init__(self, settings: TencentSettings, clock: Clock) -> None:
        self.settings = settings
        self.scheme = UrlTokenScheme(settings.url_token)
        self._zone = ZoneInfo(settings.timezone)

    def parse(self, verified: Verified) -> Parsed:
        document = load_json(verified.raw.body)
        if isinstance(document, list):
            if not document:
                raise MalformedCallbackError("wrong_shape", "status callback: array is empty")
            if len(document) > self.settings.max_reports:
                raise MalformedCallbackError(
                    "too_many_reports", f"status callback: more than {self.settings.max_reports} reports"
                )
            return each_report(document, lambda report, index: self._receipt(report, index, verified))
        if isinstance(document, dict):
            return [self._reply_message(document, verified)]
        raise MalformedCallbackError("wrong_shape", "body must be a JSON array of reports or a reply object")

    def _receipt(self, report: Any, index: int, callback: Verified) -> DeliveryReceipt:
        where = f"[{index}]."
        if not isinstance(report, dict):
            raise MalformedCallbackError("wrong_shape", f"[{index}]: must be an object")
        sid = identifier(report, "sid", where=where)
        report_status = text_field(report, "report_status", where=where)
        errmsg = text_field(report, "errmsg", where=where)
        mobile = text_field(report, "mobile", where=where)
        nationcode = optional_text(report, "nationcode", where=where)
        received = text_field(report, "user_receive_time", where=where)
        description = optional_text(report, "description", where=where)
        to = self.phone(mobile, country_code=nationcode)
        return DeliveryReceipt(
            provider=KIND,
            message_id=sid,
            status=_STATUS.get(report_status, Status.UNKNOWN),
            final=self.finality.get(report_status, False),
            status_code=errmsg,
            status_detail=description,
            to=to.number,
            region=to.region,
            from_=None,
            occurred_at=local_time(received, self._zone, where=f"{where}user_receive_time"),
            received_at=callback.raw.received_at,
            segments=None,
            price=None,
            raw=report,
        )

    def _reply_message(self, reply: dict[str, Any], callback: Verified) -> InboundMessage:
        mobile = identifier(reply, "mobile")  # the record key
        text = text_field(reply, "text")
        nationcode = optional_text(reply, "nationcode")
        if "time" not in reply:
            raise MalformedCallbackError("missing_field", "time: required")
        sender = self.phone(mobile, country_code=nationcode)
        return InboundMessage(
            provider=KIND,
            message_id=None,
            from_=sender.number,
            region=sender.region,
            to=None,
            text=text,
            occurred_at=unix_time(reply["time"], where="time"),
            received_at=callback.raw.received_at,
            segments=None,
            price=None,
            raw=reply,
        )

    def accepted(self, verified: Verified) -> Reply:
        return _ACCEPTED

    def rejected(self, error: CallbackError) -> Reply:
        return _reply(error.status, error.status, f"{error.reason}: {error}")
