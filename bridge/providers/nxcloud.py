"""NxCloud (nxtele) signed DID SMS callbacks: `action: dr` receipts and `action: mo` messages.

Signature (providers.md §1.1-1.3): lowercase hex md5 (or sha256 when the `algorithm` header
says so) over `accessKey=..&action=..&bizType=..&ts=..` (camelCase names, ASCII order), then
`&body=` and the raw body bytes (omitted for an empty body), then `&accessSecret=<secret>`.
`ts` (milliseconds) is the signed time the endpoint checks against the instance's window, and
the signature is the replay key the endpoint accepts once. Callbacks are classified by the
`action` header, never by the body's `type`. The unsigned form-encoded push is refused (415).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Final, Literal
from zoneinfo import ZoneInfo

import orjson
from pydantic import Field

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.immutable import immutable
from bridge.providers.base import (
    JSON,
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
    decimal_text,
    finality,
    identifier,
    load_json,
    local_time,
    optional_text,
    text_field,
)
from bridge.providers.replies import REASON_HEADER, TEXT
from bridge.providers.samples import beijing_text
from bridge.providers.verification import signed_time
from bridge.redact import Secret

KIND: Final = "nxcloud"
DID_BIZ_TYPE: Final = "4"
_HASHES: Final = {"md5": hashlib.md5, "sha256": hashlib.sha256}  # the constructors: hashlib.new() looks the name up
ALGORITHMS: Final = frozenset(_HASHES)
SIGNED_HEADERS: Final = ("accessKey", "action", "bizType", "ts")  # ASCII order, camelCase
_SIGNED_LOWER: Final = tuple((name, name.lower()) for name in SIGNED_HEADERS)  # as received (lower-case)
_SIGNED_TEXT: Final = "&".join(f"{name}=%s" for name in SIGNED_HEADERS)  # accessKey=%s&action=%s&...

_STATUS: Final = {
    "DELIVRD": Status.DELIVERED,
    "UNDELIVR": Status.UNDELIVERED,
    "UNDELIV": Status.UNDELIVERED,
    "EXPIRED": Status.UNDELIVERED,
    "REJECTD": Status.UNDELIVERED,
    "DELETED": Status.UNDELIVERED,
}


class AccessKeySettings(StrictModel):
    """One NxCloud accessKey and its accessSecret."""

    access_key: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
    secret: Secret


class NxCloudSettings(InstanceSettings):
    """One NxCloud account: its accessKeys, the `ts` window and the replay memory."""

    kind: Literal["nxcloud"] = "nxcloud"
    access_keys: Annotated[tuple[AccessKeySettings, ...], Field(min_length=1)]
    timestamp_tolerance_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0


def signature(headers: Mapping[str, str], body: bytes, secret: str, algorithm: str = "md5") -> str:
    """The NxCloud signature of a request: `headers` by camelCase name, body as raw bytes."""
    parts = _SIGNED_TEXT % tuple(headers[name] for name in SIGNED_HEADERS)
    data = parts.encode("utf-8", "surrogatepass")  # total: any str encodes, nothing unsigned can match
    tail = b"&accessSecret=" + secret.encode("utf-8")
    return _HASHES[algorithm](b"".join((data, b"&body=", body, tail)) if body else data + tail).hexdigest()


def signed_headers(
    body: bytes, *, access_key: str, secret: str, action: str, ts_ms: int, algorithm: str = "md5",
    biz_type: str = DID_BIZ_TYPE,
) -> dict[str, str]:
    """The headers of a signed NxCloud callback, lower-case as NxCloud sends them."""
    signed = {"accessKey": access_key, "action": action, "bizType": biz_type, "ts": str(ts_ms)}
    headers = {
        "accesskey": access_key,
        "action": action,
        "biztype": biz_type,
        "ts": str(ts_ms),
        "sign": signature(signed, body, secret, algorithm),
        "content-type": JSON,
    }
    if algorithm != "md5":
        headers["algorithm"] = algorithm
    return headers


def receipt_body(message_id: str, to_phone: str, receive_time: str) -> bytes:
    """The NxCloud documentation's `dr` sample with the given id, recipient and time."""
    return orjson.dumps(
        {
            "messageId": message_id,
            "toPhone": to_phone,
            "fromPhone": "12347200160",
            "content": "sunt non nisi",
            "size": "1",
            "price": "0.0360",
            "receiveTime": receive_time,
            "smsStatus": "DELIVRD",
        }
    )


def _dr_sample(now: float) -> bytes:
    return receipt_body(f"dr{int(now * 1000)}", "18184505018", beijing_text(now))


def _mo_sample(now: float) -> bytes:
    return orjson.dumps(
        {
            "messageId": f"mo{int(now * 1000)}",
            "type": "0",
            "toPhone": "12347200160",
            "fromPhone": "18184505018",
            "content": "hello STOP",
            "size": "1",
            "price": "0.0000",
            "receiveTime": beijing_text(now),
            "smsStatus": "DELIVRD",
        }
    )


@immutable
class NxCloudVerified(Verified):
    """A verified NxCloud callback: its signed `action` and `bizType` headers."""

    action: str = ""
    biz_type: str = ""


_SUCCESS: Final = Reply(200, b"success", TEXT)
_ERROR: Final = b"error"


class NxCloudProvider(Provider[NxCloudSettings, NxCloudVerified]):
    """NxCloud signed DID SMS callbacks (bizType 4) for one instance."""

    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "NxCloud"
    settings_model: ClassVar[type[InstanceSettings]] = NxCloudSettings
    statuses: ClassVar[Mapping[str, Status]] = _STATUS
    finality: ClassVar[Mapping[str, bool]] = finality(_STATUS, intermediate=())  # CMPP/SMPP final states
    media_types: ClassVar[Mapping[str, BodyKind]] = {JSON: "json", "text/json": "json", "text/plain": "json"}
    safe_headers: ClassVar[frozenset[str]] = frozenset({"accesskey", "action", "biztype", "ts", "algorithm"})
    timestamped: ClassVar[bool] = True
    samples: ClassVar[Sequence[Sample]] = (
        Sample("dr", EventType.DELIVERY_RECEIPT, "a delivery receipt (the documentation's sample)", _dr_sample),
        Sample("mo", EventType.INBOUND_MESSAGE, "an inbound message", _mo_sample),
    )
    dev_instance: ClassVar[dict[str, Any]] = {
        "source": "/sms/nxcloud/kGp5uFHN",
        "access_keys": [{"access_key": "kGp5uFHN", "secret": "${NXCLOUD_SECRET:-dev-nxcloud-secret}"}],
    }

    def __init__(self, settings: NxCloudSettings, clock: Clock) -> None:
        self.settings = settings
        self._secrets = {k.access_key: k.secret.reveal() for k in settings.access_keys}
        self._zone = ZoneInfo(settings.timezone)

    def verify(self, callback: RawCallback) -> NxCloudVerified:
        headers = callback.headers
        signed: dict[str, str] = {}
        for name, lower in _SIGNED_LOWER:
            value = headers.get(lower)
            if value is None:
                raise VerificationError("missing_credentials", f"header {name}: required")
            signed[name] = value
        given = headers.get("sign")
        if given is None:
            raise VerificationError("missing_credentials", "header sign: required")
        algorithm = headers.get("algorithm", "md5").strip().lower()
        if algorithm not in ALGORITHMS:
            raise VerificationError("unsupported_algorithm", "header algorithm: must be md5 or sha256")
        secret = self._secrets.get(signed["accessKey"])
        if secret is None:
            raise VerificationError("unknown_access_key", "header accessKey: not configured", status=403)
        expected = signature(signed, callback.body, secret, algorithm)
        if not hmac.compare_digest(given.strip().lower().encode("latin-1", "replace"), expected.encode("ascii")):
            raise VerificationError("bad_signature", "header sign: does not match")
        ts = signed_time(signed["ts"].strip(), "header ts: must be milliseconds since the epoch", digits=16)
        return NxCloudVerified(
            callback,
            signed_at=ts / 1000.0,
            replay_key=f"{signed['accessKey']}:{expected}",
            action=signed["action"],
            biz_type=signed["bizType"],
        )

    def restore(self, callback: RawCallback) -> NxCloudVerified:
        headers = callback.headers
        return NxCloudVerified(callback, action=headers.get("action", ""), biz_type=headers.get("biztype", ""))

    def parse(self, verified: NxCloudVerified) -> Parsed:
        if verified.biz_type.strip() != DID_BIZ_TYPE:
            raise MalformedCallbackError("unsupported_callback", f"header bizType: must be {DID_BIZ_TYPE}")
        action = verified.action.strip()
        if action not in ("dr", "mo"):
            raise MalformedCallbackError("unsupported_callback", "header action: must be dr or mo")
        document = load_json(verified.raw.body)
        if not isinstance(document, dict):
            raise MalformedCallbackError("wrong_shape", "body must be a JSON object")
        if action == "dr":
            return [self._receipt(document, verified)]
        return [self._inbound(document, verified)]

    def _receipt(self, body: dict[str, Any], callback: Verified) -> DeliveryReceipt:
        message_id = identifier(body, "messageId")
        status_code = text_field(body, "smsStatus")
        sender = optional_text(body, "fromPhone")
        to = self.phone(text_field(body, "toPhone"), international=True)
        code = status_code.strip().upper()
        return DeliveryReceipt(
            provider=KIND,
            message_id=message_id,
            status=_STATUS.get(code, Status.UNKNOWN),
            final=self.finality.get(code, False),
            status_code=status_code,
            status_detail=None,
            to=to.number,
            region=to.region,
            from_=self.phone(sender, international=True).number if sender else None,
            occurred_at=local_time(text_field(body, "receiveTime"), self._zone, where="receiveTime"),
            received_at=callback.raw.received_at,
            segments=count(optional_text(body, "size"), where="size"),
            price=decimal_text(optional_text(body, "price"), where="price"),
            raw=body,
        )

    def _inbound(self, body: dict[str, Any], callback: Verified) -> InboundMessage:
        message_id = identifier(body, "messageId") if optional_text(body, "messageId") else None
        receiver = optional_text(body, "toPhone")
        sender = self.phone(identifier(body, "fromPhone"), international=True)  # the record key
        return InboundMessage(
            provider=KIND,
            message_id=message_id,
            from_=sender.number,
            region=sender.region,
            to=self.phone(receiver, international=True).number if receiver else None,
            text=text_field(body, "content"),
            occurred_at=local_time(text_field(body, "receiveTime"), self._zone, where="receiveTime"),
            received_at=callback.raw.received_at,
            segments=count(optional_text(body, "size"), where="size"),
            price=decimal_text(optional_text(body, "price"), where="price"),
            raw=body,
            status_code=optional_text(body, "smsStatus") or "",
        )

    def accepted(self, verified: NxCloudVerified) -> Reply:
        return _SUCCESS

    def rejected(self, error: CallbackError) -> Reply:
        return Reply(error.status, _ERROR, TEXT, {REASON_HEADER: error.reason})

    def sign(self, url: str, body: bytes, sample: str, now: float) -> Outgoing:
        """Signed with the instance's first accessKey; `sample` (dr or mo) is the action."""
        key = self.settings.access_keys[0]
        headers = signed_headers(
            body, access_key=key.access_key, secret=key.secret.reveal(), action=sample, ts_ms=int(now * 1000)
        )
        return Outgoing("POST", url, headers, body)
