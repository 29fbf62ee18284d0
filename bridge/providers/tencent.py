"""Tencent Cloud SMS: status callbacks (an array of reports) and reply (inbound) callbacks.

Tencent signs nothing. A callback is authentic when its URL carries the instance's secret
token (last path segment or `token` query parameter) and, if configured, its source address
lies in the instance's allowlist. Status reports map on `report_status`; `errmsg` is kept
verbatim as the status code and never enumerated.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Final, Literal
from zoneinfo import ZoneInfo

import orjson
from pydantic import Field, field_validator

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, InboundMessage, SmsEvent, Status
from bridge.providers.base import InstanceSettings, Provider, RawCallback, Reply, VerifiedCallback, client_allowed
from bridge.providers.common import e164, identifier, load_json, local_time, optional_text, text_field, unix_time
from bridge.redact import Secret

KIND: Final = "tencent"
MAX_REPORTS: Final = 100
MIN_TOKEN_LENGTH: Final = 16

_STATUS: Final = {"SUCCESS": Status.DELIVERED, "FAIL": Status.UNDELIVERED}


class TencentSettings(InstanceSettings):
    """One Tencent Cloud SMS account (SdkAppId)."""

    kind: Literal["tencent"] = "tencent"
    url_token: Annotated[Secret, Field(description=f"at least {MIN_TOKEN_LENGTH} characters")]
    max_reports: Annotated[int, Field(ge=1, le=10_000)] = MAX_REPORTS

    @field_validator("url_token")
    @classmethod
    def _long_enough(cls, token: Secret) -> Secret:
        if len(token.reveal()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"must be at least {MIN_TOKEN_LENGTH} characters")
        return token


def _reply(status: int, result: int, errmsg: str) -> Reply:
    return Reply(status, orjson.dumps({"result": result, "errmsg": errmsg}), "application/json")


_ACCEPTED: Final = _reply(200, 0, "OK")


class TencentProvider(Provider):
    """Tencent Cloud SMS status and reply callbacks for one instance."""

    kind: ClassVar[str] = KIND

    def __init__(self, settings: TencentSettings, clock: Clock) -> None:
        self.settings = settings
        self._token = settings.url_token.reveal().encode("utf-8")
        self._zone = ZoneInfo(settings.timezone)
        self._networks = settings.allowed_networks

    def verify(self, callback: RawCallback) -> VerifiedCallback:
        if not client_allowed(callback.client, self._networks):
            raise VerificationError("source_not_allowed", "source address is not in allowed_networks", status=403)
        if callback.url_token is None:
            raise VerificationError("missing_credentials", "callback URL carries no token")
        if not hmac.compare_digest(callback.url_token.encode("utf-8", "surrogatepass"), self._token):
            raise VerificationError("bad_token", "callback URL token does not match")
        return VerifiedCallback(callback)

    def parse(self, callback: VerifiedCallback) -> Sequence[SmsEvent]:
        document = load_json(callback.raw.body)
        if isinstance(document, list):
            if not document:
                raise MalformedCallbackError("wrong_shape", "status callback: array is empty")
            if len(document) > self.settings.max_reports:
                raise MalformedCallbackError(
                    "too_many_reports", f"status callback: more than {self.settings.max_reports} reports"
                )
            return [self._receipt(report, index, callback) for index, report in enumerate(document)]
        if isinstance(document, dict):
            return [self._reply_message(document, callback)]
        raise MalformedCallbackError("wrong_shape", "body must be a JSON array of reports or a reply object")

    def _receipt(self, report: Any, index: int, callback: VerifiedCallback) -> DeliveryReceipt:
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
        return DeliveryReceipt(
            provider=KIND,
            message_id=sid,
            status=_STATUS.get(report_status, Status.UNKNOWN),
            status_code=errmsg,
            status_detail=description,
            to=e164(mobile, nationcode),
            from_=None,
            occurred_at=local_time(received, self._zone, where=f"{where}user_receive_time"),
            received_at=callback.raw.received_at,
            segments=None,
            price=None,
            raw=report if self.settings.include_raw else None,
        )

    def _reply_message(self, reply: dict[str, Any], callback: VerifiedCallback) -> InboundMessage:
        mobile = identifier(reply, "mobile")  # the record key
        text = text_field(reply, "text")
        nationcode = optional_text(reply, "nationcode")
        if "time" not in reply:
            raise MalformedCallbackError("missing_field", "time: required")
        return InboundMessage(
            provider=KIND,
            message_id=None,
            from_=e164(mobile, nationcode),
            to=None,
            text=text,
            occurred_at=unix_time(reply["time"], where="time"),
            received_at=callback.raw.received_at,
            segments=None,
            price=None,
            raw=reply if self.settings.include_raw else None,
        )

    def release(self, callback: VerifiedCallback) -> None:
        """Tencent callbacks carry no replay reservation."""

    def accepted(self) -> Reply:
        return _ACCEPTED

    def rejected(self, error: CallbackError) -> Reply:
        return _reply(error.status, error.status, f"{error.reason}: {error}")
