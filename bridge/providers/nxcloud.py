"""NxCloud (nxtele) signed DID SMS callbacks: `action: dr` receipts and `action: mo` messages.

Signature (providers.md §1.1-1.3): lowercase hex md5 (or sha256 when the `algorithm` header
says so) over `accessKey=..&action=..&bizType=..&ts=..` (camelCase names, ASCII order), then
`&body=` and the raw body bytes (omitted for an empty body), then `&accessSecret=<secret>`.
`ts` (milliseconds) must lie inside the instance's window, and a signature is accepted once.
Callbacks are classified by the `action` header, never by the body's `type`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Final, Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, InboundMessage, SmsEvent, Status
from bridge.providers.base import (
    InstanceSettings,
    Provider,
    RawCallback,
    Reply,
    StrictModel,
    VerifiedCallback,
    client_allowed,
)
from bridge.providers.common import (
    count,
    decimal_text,
    e164,
    identifier,
    load_json,
    local_time,
    optional_text,
    text_field,
)
from bridge.redact import Secret
from bridge.replay import DEFAULT_CAPACITY, ReplayCache

KIND: Final = "nxcloud"
DID_BIZ_TYPE: Final = "4"
ALGORITHMS: Final = frozenset({"md5", "sha256"})
SIGNED_HEADERS: Final = ("accessKey", "action", "bizType", "ts")  # ASCII order, camelCase

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
    replay_cache_size: Annotated[int, Field(ge=1, le=10_000_000)] = DEFAULT_CAPACITY


def signature(headers: Mapping[str, str], body: bytes, secret: str, algorithm: str = "md5") -> str:
    """The NxCloud signature of a request: `headers` by camelCase name, body as raw bytes."""
    parts = "&".join(f"{name}={headers[name]}" for name in SIGNED_HEADERS)
    data = parts.encode("utf-8", "surrogatepass")  # total: any str encodes, nothing unsigned can match
    if body:
        data += b"&body=" + body
    data += b"&accessSecret=" + secret.encode("utf-8")
    return hashlib.new(algorithm, data).hexdigest()


_SUCCESS: Final = Reply(200, b"success", "text/plain; charset=utf-8")
_ERROR: Final = b"error"


class NxCloudProvider(Provider):
    """NxCloud signed DID SMS callbacks (bizType 4) for one instance."""

    kind: ClassVar[str] = KIND

    def __init__(self, settings: NxCloudSettings, clock: Clock) -> None:
        self.settings = settings
        self._clock = clock
        self._secrets = {k.access_key: k.secret.reveal() for k in settings.access_keys}
        self._zone = ZoneInfo(settings.timezone)
        self._window_ms = settings.timestamp_tolerance_seconds * 1000.0
        self._replays = ReplayCache(settings.replay_cache_size)
        self._networks = settings.allowed_networks

    @property
    def replay_cache(self) -> ReplayCache:
        return self._replays

    def verify(self, callback: RawCallback) -> VerifiedCallback:
        if not client_allowed(callback.client, self._networks):
            raise VerificationError("source_not_allowed", "source address is not in allowed_networks", status=403)
        headers = callback.headers
        signed: dict[str, str] = {}
        for name in SIGNED_HEADERS:
            value = headers.get(name.lower())
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
        ts = signed["ts"].strip()
        if not (ts.isdigit() and ts.isascii()) or len(ts) > 16:
            raise VerificationError("stale_timestamp", "header ts: must be milliseconds since the epoch")
        now_ms = self._clock.time() * 1000.0
        sent_ms = int(ts)
        if abs(now_ms - sent_ms) > self._window_ms:
            raise VerificationError("stale_timestamp", "header ts: outside the accepted window")
        replay_key = f"{signed['accessKey']}:{expected}"
        if not self._replays.reserve(replay_key, now_ms / 1000.0, (sent_ms + self._window_ms) / 1000.0):
            raise VerificationError("replay", "signature already accepted (replay)", status=403)
        return VerifiedCallback(callback, replay_key, {"action": signed["action"], "bizType": signed["bizType"]})

    def parse(self, callback: VerifiedCallback) -> Sequence[SmsEvent]:
        biz_type = callback.context.get("bizType", "")
        if biz_type.strip() != DID_BIZ_TYPE:
            raise MalformedCallbackError("unsupported_callback", f"header bizType: must be {DID_BIZ_TYPE}")
        action = callback.context.get("action", "").strip()
        if action not in ("dr", "mo"):
            raise MalformedCallbackError("unsupported_callback", "header action: must be dr or mo")
        document = load_json(callback.raw.body)
        if not isinstance(document, dict):
            raise MalformedCallbackError("wrong_shape", "body must be a JSON object")
        if action == "dr":
            return [self._receipt(document, callback)]
        return [self._inbound(document, callback)]

    def _receipt(self, body: dict[str, Any], callback: VerifiedCallback) -> DeliveryReceipt:
        message_id = identifier(body, "messageId")
        status_code = text_field(body, "smsStatus")
        sender = optional_text(body, "fromPhone")
        return DeliveryReceipt(
            provider=KIND,
            message_id=message_id,
            status=_STATUS.get(status_code.strip().upper(), Status.UNKNOWN),
            status_code=status_code,
            status_detail=None,
            to=e164(text_field(body, "toPhone")),
            from_=e164(sender) if sender else None,
            occurred_at=local_time(text_field(body, "receiveTime"), self._zone, where="receiveTime"),
            received_at=callback.raw.received_at,
            segments=count(optional_text(body, "size"), where="size"),
            price=decimal_text(optional_text(body, "price"), where="price"),
            raw=body if self.settings.include_raw else None,
        )

    def _inbound(self, body: dict[str, Any], callback: VerifiedCallback) -> InboundMessage:
        message_id = identifier(body, "messageId") if optional_text(body, "messageId") else None
        receiver = optional_text(body, "toPhone")
        sender = identifier(body, "fromPhone")  # the record key
        return InboundMessage(
            provider=KIND,
            message_id=message_id,
            from_=e164(sender),
            to=e164(receiver) if receiver else None,
            text=text_field(body, "content"),
            occurred_at=local_time(text_field(body, "receiveTime"), self._zone, where="receiveTime"),
            received_at=callback.raw.received_at,
            segments=count(optional_text(body, "size"), where="size"),
            price=decimal_text(optional_text(body, "price"), where="price"),
            raw=body if self.settings.include_raw else None,
            status_code=optional_text(body, "smsStatus") or "",
        )

    def release(self, callback: VerifiedCallback) -> None:
        if callback.replay_key is not None:
            self._replays.release(callback.replay_key)

    def accepted(self) -> Reply:
        return _SUCCESS

    def rejected(self, error: CallbackError) -> Reply:
        return Reply(error.status, _ERROR, "text/plain; charset=utf-8", {"X-Bridge-Reason": error.reason})
