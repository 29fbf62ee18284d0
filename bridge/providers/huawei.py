"""Huawei Cloud Message & SMS (MSGSMS): status reports and uplinks (form bodies) and the JSON batch report.

By default Huawei authenticates nothing ("免鉴权", providers-3.md §5.4): a callback is authentic when
its URL carries the instance's secret token (last path segment or `token` query parameter) and, if
configured, comes from the allowlist (the endpoint checks that). With push AK/SK on
(`auth: signature`), every callback carries an `SDK-HMAC-SHA256` Authorization header and
X-Sdk-Date (huawei_signature.py); up to two AK/SK pairs verify at once (Huawei's "双AK/SK"
rotation, chosen by the header's Access), the date is the signed time and the signature the
replay key. A status report maps on `status`, kept verbatim; a batch report holds up to 50 of
them, each published or dead-lettered alone.
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Final, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import orjson
from pydantic import Field, model_validator

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.providers import huawei_signature as hw
from bridge.providers.base import (
    FORM,
    JSON,
    BadReport,
    BodyKind,
    InstanceSettings,
    Outgoing,
    Parsed,
    Provider,
    RawCallback,
    Reply,
    Sample,
    StrictModel,
    Verified,
)
from bridge.providers.common import (
    count,
    finality,
    identifier,
    iso_time,
    load_json,
    media_type,
    optional_text,
    query_or_form,
    text_field,
)
from bridge.providers.replies import EMPTY_OK, text_refusal
from bridge.providers.reports import each_report
from bridge.providers.samples import iso_text, uuid_at
from bridge.providers.verification import UrlToken, check_url_token, with_url_token
from bridge.redact import Secret

KIND: Final = "huawei"
MAX_REPORTS: Final = 50  # "单次最多推送50条"
BATCH_FIELD: Final = "statusReportList"
HOP_BY_HOP: Final = ("close", "keep-alive")  # what a Connection header may have said before a proxy rewrote it

# 表 Status常见取值 (sms_05_0003) and the platform codes of its FAQ; carrier codes (MK:, MA:, DB:, …) are an open set.
STATUSES: Final[Mapping[str, Status]] = {
    "DELIVRD": Status.DELIVERED,
    "UNDELIV": Status.UNDELIVERED,
    "EXPIRED": Status.UNDELIVERED,
    "DELETED": Status.UNDELIVERED,
    "REJECTD": Status.UNDELIVERED,
    "MILIMIT": Status.UNDELIVERED,
    "LIMIT": Status.UNDELIVERED,
    **{f"E2000{n}": Status.UNDELIVERED for n in (*range(18, 39), 41)},
    "ACCEPTD": Status.UNKNOWN,
    "UNKNOWN": Status.UNKNOWN,
}


class AccessKey(StrictModel):
    """One push AK/SK pair: the Access key Huawei names in the Authorization header, and its secret."""

    access_key: Annotated[str, Field(pattern=r"^[^\s,;=]{1,128}$")]
    secret_key: Secret


class HuaweiSettings(InstanceSettings):
    """One Huawei Cloud MSGSMS application: URL token (the default) or push AK/SK signature."""

    kind: Literal["huawei"] = "huawei"
    auth: Literal["url_token", "signature"] = "url_token"
    url_token: UrlToken | None = None
    access_keys: Annotated[tuple[AccessKey, ...], Field(max_length=2, description="the current pair, and the "
                                                                                  "next while rotating")] = ()
    max_reports: Annotated[int, Field(ge=1, le=10_000)] = MAX_REPORTS

    @model_validator(mode="after")
    def _secrets_of_the_method(self) -> HuaweiSettings:
        if self.auth == "url_token" and (self.url_token is None or self.access_keys):
            raise ValueError("auth url_token needs url_token and no access_keys")
        if self.auth == "signature" and not self.access_keys:
            raise ValueError("auth signature needs access_keys (one or two pairs); url_token is optional")
        if len({k.access_key for k in self.access_keys}) != len(self.access_keys):
            raise ValueError("access_keys: each access_key must differ")
        return self


def _status_params(now: float, status: str = "DELIVRD", index: int = 6) -> list[tuple[str, str]]:
    """sms_05_0003's request example (status report) with its id and updateTime of `now`."""
    return [("sequence", "1"), ("total", "1"), ("orgCode", "000"), ("updateTime", iso_text(now, timespec="seconds")),
            ("source", "2"), ("smsMsgId", f"{uuid_at('b9d9b4fe-ad0e-4a2a-a2c7', now)}_{index}"), ("status", status)]


def _batch_sample(now: float) -> bytes:
    """providers-3.md §5.2's (constructed) batch report, with two reports of `now`."""
    reports = [dict(_status_params(now)), dict(_status_params(now, "UNDELIV", 7))]
    return orjson.dumps({BATCH_FIELD: [{k: v for k, v in r.items() if k != "orgCode"} for r in reports]})


def _uplink_sample(now: float) -> bytes:
    """sms_05_0004's example uplink (its masked number and text filled in), with an id of `now`."""
    return urlencode([("from", "+8615512345172"), ("to", "201804131431201234"), ("body", "你好"),
                      ("smsMsgId", uuid_at("9692b5be-c427-4525-8e73", now))]).encode("ascii")


class HuaweiProvider(Provider[HuaweiSettings, Verified]):
    """Huawei Cloud MSGSMS status reports, batch status reports and uplinks for one application."""

    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "Huawei Cloud Message & SMS"
    settings_model: ClassVar[type[InstanceSettings]] = HuaweiSettings
    media_types: ClassVar[Mapping[str, BodyKind]] = {FORM: "form", JSON: "json"}
    safe_headers: ClassVar[frozenset[str]] = frozenset({hw.DATE_HEADER})
    timestamped: ClassVar[bool] = True  # with auth: signature (signs_time)
    statuses: ClassVar[Mapping[str, Status]] = STATUSES
    finality: ClassVar[Mapping[str, bool]] = finality(STATUSES, intermediate=())  # Huawei pushes only final reports
    samples: ClassVar[Sequence[Sample]] = (
        Sample("dr", EventType.DELIVERY_RECEIPT, "a status report, DELIVRD (the API reference's example)",
               lambda now: urlencode(_status_params(now)).encode("ascii")),
        Sample("dr-undelivered", EventType.DELIVERY_RECEIPT, "a status report, UNDELIV",
               lambda now: urlencode(_status_params(now, "UNDELIV")).encode("ascii")),
        Sample("batch", EventType.DELIVERY_RECEIPT, "a batch status report (JSON statusReportList)", _batch_sample),
        Sample("uplink", EventType.INBOUND_MESSAGE, "an uplink (inbound SMS), the API reference's example",
               _uplink_sample),
    )
    dev_instance: ClassVar[dict[str, Any]] = {"url_token": "${HUAWEI_URL_TOKEN:-dev-huawei-token-0123456789}"}

    def __init__(self, settings: HuaweiSettings, clock: Clock) -> None:
        self.settings = settings
        self._token = settings.url_token.reveal().encode("utf-8") if settings.url_token else None
        self._keys = tuple((k.access_key.encode("utf-8"), k.secret_key.reveal()) for k in settings.access_keys)

    def signs_time(self) -> bool:
        return self.settings.auth == "signature"

    def verify(self, callback: RawCallback) -> Verified:
        if self._token is not None:
            check_url_token(callback.url_token, self._token)
        if self.settings.auth == "url_token":
            return Verified(callback)
        given = hw.parse_authorization(callback.headers.get("authorization", ""))
        if hw.DATE_HEADER not in given.signed_headers:
            raise VerificationError("bad_signature", "header Authorization: SignedHeaders must include x-sdk-date")
        date = callback.headers.get(hw.DATE_HEADER, "").strip()
        if not date:
            raise VerificationError("missing_credentials", "header X-Sdk-Date: required")
        secret = self._secret_of(given.access)
        if not any(hmac.compare_digest(given.signature, expected) for expected in self._expected(callback, given,
                                                                                                 secret, date)):
            raise VerificationError("bad_signature", "header Authorization: signature does not match")
        return Verified(callback, signed_at=float(hw.sdk_time(date)), replay_key=f"signature:{given.signature}")

    def _secret_of(self, access: str) -> str:
        """The SK of the pair the header's Access names (every configured AK compared, in constant time)."""
        given = access.encode("utf-8", "surrogatepass")
        found = None
        for access_key, secret_key in self._keys:
            if hmac.compare_digest(given, access_key):
                found = secret_key
        if found is None:
            raise VerificationError("unknown_access_key", "header Authorization: Access is not configured")
        return found

    def _expected(self, callback: RawCallback, given: hw.Authorization, secret: str, date: str) -> list[str]:
        """The signature of each form the provider may have signed: the URL it called (path, query and
        host of `url`), the headers as received (content-length from the body when a proxy dropped it),
        and the Connection header as received, `close` or `keep-alive` (hop by hop: proxies rewrite it)."""
        try:
            url = urlsplit(callback.url)
            query = parse_qsl(url.query, keep_blank_values=True)
        except ValueError as exc:
            raise VerificationError("bad_signature", "callback URL cannot be read") from exc
        headers = {**callback.headers, hw.DATE_HEADER: date}
        headers.setdefault("content-length", str(len(callback.body)))
        if url.netloc:
            headers["host"] = url.netloc
        missing = [name for name in given.signed_headers if name not in headers and name != "connection"]
        if missing:
            raise VerificationError("bad_signature", f"header {missing[0]}: signed but absent")
        connections = {headers.get("connection", "close"), *HOP_BY_HOP} if "connection" in given.signed_headers \
            else {""}
        out = []
        for connection in sorted(connections):
            signed = {**headers, "connection": connection}
            canonical = hw.canonical_request(callback.method, unquote(url.path) or "/", query, signed,
                                             given.signed_headers, callback.body)
            out.append(hw.signature(secret, canonical, date))
        return out

    def restore(self, callback: RawCallback) -> Verified:
        return Verified(callback)

    def parse(self, verified: Verified) -> Parsed:
        raw = verified.raw
        if media_type(raw.headers, FORM) == JSON or raw.body.lstrip()[:1] == b"{":
            return self._batch(verified)
        record = _record(query_or_form(raw, reason="wrong_shape"))
        if "status" in record:
            return [self._receipt(record, verified)]
        if "body" in record or "from" in record:
            return [self._uplink(record, verified)]
        raise MalformedCallbackError("unsupported_callback", "neither a status report (status) nor an uplink (body)")

    def _batch(self, verified: Verified) -> Parsed:
        document = load_json(verified.raw.body)
        reports = document.get(BATCH_FIELD) if isinstance(document, dict) else None
        if not isinstance(reports, list) or not reports:
            raise MalformedCallbackError("wrong_shape", f"{BATCH_FIELD}: must be a non-empty array")
        if len(reports) > self.settings.max_reports:
            raise MalformedCallbackError("too_many_reports", f"{BATCH_FIELD}: more than {self.settings.max_reports}")

        def build(report: Any, index: int) -> DeliveryReceipt:
            if not isinstance(report, dict):
                raise MalformedCallbackError("wrong_shape", f"{BATCH_FIELD}[{index}]: must be an object")
            return self._receipt(report, verified, where=f"{BATCH_FIELD}[{index}].")

        items = each_report(reports, build)
        return [dataclasses.replace(i, body=orjson.dumps({**document, BATCH_FIELD: [i.report]}))
                if isinstance(i, BadReport) else i for i in items]

    def _receipt(self, report: dict[str, Any], verified: Verified, *, where: str = "") -> DeliveryReceipt:
        code = identifier(report, "status", where=where)
        to = optional_text(report, "to", where=where)  # sent only with `extend`: correlate by smsMsgId
        recipient = self.phone(to) if to else None
        occurred_at = self._time(report, "updateTime", where)
        return DeliveryReceipt(
            provider=KIND,
            message_id=identifier(report, "smsMsgId", where=where),
            status=STATUSES.get(code, Status.UNKNOWN),
            final=True,  # every report Huawei pushes is final, a code it adds too
            status_code=code,
            status_detail=optional_text(report, "statusDesc", where=where) or None,
            to=recipient.number if recipient else "",
            region=recipient.region if recipient else None,
            from_=None,
            occurred_at=occurred_at or verified.raw.received_at,
            provider_time=occurred_at is not None,  # a synthesised report has no time: keep it out of the id
            received_at=verified.raw.received_at,
            segments=count(optional_text(report, "total", where=where), where=f"{where}total"),
            price=None,
            raw=report,
        )

    def _uplink(self, record: dict[str, Any], verified: Verified) -> InboundMessage:
        sender = self.phone(identifier(record, "from"))  # the record key
        receiver = optional_text(record, "to")
        occurred_at = self._time(record, "createTime", "")
        return InboundMessage(
            provider=KIND,
            message_id=identifier(record, "smsMsgId"),
            from_=sender.number,
            region=sender.region,
            to=self.phone(receiver).number if receiver else None,
            text=text_field(record, "body"),
            occurred_at=occurred_at or verified.raw.received_at,
            provider_time=occurred_at is not None,  # createTime only when the application enables it
            received_at=verified.raw.received_at,
            segments=None,
            price=None,
            raw=record,
        )

    @staticmethod
    def _time(record: dict[str, Any], name: str, where: str) -> datetime | None:
        """A UTC time `yyyy-MM-ddTHH:mm:ssZ`, percent-escaped once more or not (`%3A`); None when absent."""
        text = optional_text(record, name, where=where)
        if not text:
            return None
        return iso_time(unquote(text) if "%" in text else text, where=f"{where}{name}")

    def accepted(self, verified: Verified) -> Reply:
        return EMPTY_OK  # "短信平台不会对响应消息处理": any answer will do

    def rejected(self, error: CallbackError) -> Reply:
        """Plain text with the error's status: 401 on failed authentication, as Huawei's pages ask."""
        return text_refusal(error)

    def sign(self, url: str, body: bytes, sample: str, now: float) -> Outgoing:
        """What Huawei sends: the form (or batch JSON) to the URL with its token, signed with the first AK/SK
        over connection, content-length, content-type, host and X-Sdk-Date when AK/SK is on."""
        target = with_url_token(url, self.settings.url_token.reveal()) if self.settings.url_token else url
        content_type = JSON if body.lstrip()[:1] == b"{" else FORM
        if self.settings.auth == "url_token":
            return Outgoing("POST", target, {"content-type": content_type}, body)
        parts = urlsplit(target)
        date = hw.sdk_date(now)
        headers = {"connection": "close", "content-length": str(len(body)), "content-type": content_type,
                   "host": parts.netloc, hw.DATE_HEADER: date}
        canonical = hw.canonical_request("POST", unquote(parts.path) or "/", parse_qsl(parts.query), headers,
                                         hw.PUSH_HEADERS, body)
        access, secret = self._keys[0]
        headers["authorization"] = hw.authorization(access.decode(), hw.PUSH_HEADERS,
                                                    hw.signature(secret, canonical, date))
        return Outgoing("POST", target, headers, body)


def _record(params: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Form parameters by name; a field given twice is refused (which one would Huawei mean?)."""
    record: dict[str, Any] = {}
    for name, value in params:
        if name in record:
            raise MalformedCallbackError("invalid_field", f"{name}: given more than once")
        record[name] = value
    return record
