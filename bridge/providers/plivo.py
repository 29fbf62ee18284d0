"""Plivo Messaging: message status callbacks and inbound messages (form POST or GET query), signature V2/V3.

Messaging callbacks carry signature V2 (plivo_signature.py): HMAC-SHA256 with an Auth Token over
the URL without query and the `X-Plivo-Signature-V2-Nonce`. It covers neither the parameters nor a
time: it proves who sent a callback to this URL, not what the callback says (see
docs/providers/plivo.md). The nonce is the replay key. `X-Plivo-Signature-Ma-V2` is the same
signature with the main account's token. Where Plivo sends V3 (URL, sorted query and parameters,
nonce; several comma-separated signatures during token rotation) it is checked too, and it must match.
A callback with `Status` is a status callback; any other is an inbound message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Final, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from pydantic import Field

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.immutable import immutable
from bridge.providers.base import (
    FORM,
    BodyKind,
    InstanceSettings,
    Outgoing,
    Params,
    Parsed,
    Provider,
    RawCallback,
    Reply,
    Sample,
    Verified,
    Zone,
)
from bridge.providers.common import (
    count,
    decimal_text,
    finality,
    identifier,
    local_time,
    optional_text,
    query_or_form,
    text_field,
)
from bridge.providers.plivo_signature import signature_v2, v2_matches, v3_matches
from bridge.providers.replies import text_refusal
from bridge.providers.samples import time_text, uuid_at
from bridge.redact import Secret

KIND: Final = "plivo"
REPLAY_MEMORY_SECONDS: Final = 86_400.0  # no signed time: how long a nonce is remembered
PLIVO_TIMEOUT_SECONDS: Final = 8.0  # Plivo waits this long for an answer, then retries
TIME_FIELDS: Final = ("DeliveryReportTime", "SentTime", "QueuedTime", "MessageTime")
MICROSECONDS: Final = "%Y-%m-%d %H:%M:%S.%f"  # how Plivo writes its times

_STATUS: Final = {
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,  # WhatsApp, after delivery
    "undelivered": Status.UNDELIVERED,
    "failed": Status.UNDELIVERED,
    "rejected": Status.UNDELIVERED,
    # queued, sent: not final -> unknown
}


class PlivoSettings(InstanceSettings):
    """One Plivo account: its Auth Tokens (several during rotation; add the main account's for Ma-V2)."""

    kind: Literal["plivo"] = "plivo"
    auth_tokens: Annotated[tuple[Secret, ...], Field(min_length=1)]
    require_v3: bool = False
    timezone: Zone = "UTC"
    timestamp_tolerance_seconds: Annotated[float, Field(gt=0, le=86_400)] = REPLAY_MEMORY_SECONDS
    reply_deadline_seconds: Annotated[float | None, Field(gt=0, lt=PLIVO_TIMEOUT_SECONDS)] = 6.0


@immutable
class PlivoVerified(Verified):
    """A verified Plivo callback: its parameters (form body, or query for GET) and the scheme that proved it."""

    params: Params = ()
    scheme: str = ""


def _status_sample(now: float) -> bytes:
    """A status callback with the documented parameters (constructed: Plivo publishes no verbatim one)."""
    sent, done = time_text(now - 3, MICROSECONDS), time_text(now, MICROSECONDS)
    uuid = uuid_at("0936ec98-7c4c-11e4-9bd8", now)
    return urlencode({
        "From": "14155550100", "To": "14155550101", "MessageUUID": uuid, "ParentMessageUUID": uuid,
        "Type": "sms", "Status": "delivered", "Units": "1", "TotalRate": "0.00500", "TotalAmount": "0.00500",
        "MCC": "310", "MNC": "410", "ErrorCode": "", "PartInfo": "", "Sequence": "2", "MessageTime": sent,
        "QueuedTime": sent, "SentTime": sent, "DeliveryReportTime": done, "PowerpackUUID": "",
    }).encode("ascii")


def _inbound_sample(now: float) -> bytes:
    """An incoming SMS with the documented parameters (constructed)."""
    return urlencode({
        "From": "14155550101", "To": "14155550100", "Type": "sms", "Text": "Hello STOP",
        "MessageUUID": uuid_at("1936ec98-7c4c-11e4-9bd8", now), "Units": "1",
        "TotalRate": "0.00000", "TotalAmount": "0.00000", "MessageIntent": "optout", "PowerpackUUID": "",
    }).encode("ascii")


_ACCEPTED: Final = Reply(200, b"<Response></Response>", "application/xml")  # empty Message XML: no reply SMS


class PlivoProvider(Provider[PlivoSettings, PlivoVerified]):
    """Plivo message status callbacks and inbound messages for one instance."""

    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "Plivo"
    settings_model: ClassVar[type[InstanceSettings]] = PlivoSettings
    statuses: ClassVar[Mapping[str, Status]] = _STATUS
    finality: ClassVar[Mapping[str, bool]] = finality(_STATUS, intermediate=())  # queued, sent: unmapped, not final
    methods: ClassVar[frozenset[str]] = frozenset({"POST", "GET"})
    media_types: ClassVar[Mapping[str, BodyKind]] = {FORM: "form"}
    samples: ClassVar[Sequence[Sample]] = (
        Sample("dr", EventType.DELIVERY_RECEIPT, "a message status callback (form POST)", _status_sample),
        Sample("mo", EventType.INBOUND_MESSAGE, "an incoming message (form POST)", _inbound_sample),
        Sample("dr-get", EventType.DELIVERY_RECEIPT, "a message status callback (GET, query parameters)",
               _status_sample),
    )
    dev_instance: ClassVar[dict[str, Any]] = {
        "source": "/sms/plivo/dev",
        "auth_tokens": ["${PLIVO_AUTH_TOKEN:-dev-plivo-auth-token-0123456789}"],
    }

    def __init__(self, settings: PlivoSettings, clock: Clock) -> None:
        self.settings = settings
        self._tokens = tuple(t.reveal() for t in settings.auth_tokens)
        self._zone = ZoneInfo(settings.timezone)

    def verify(self, callback: RawCallback) -> PlivoVerified:
        headers = callback.headers
        v2 = [s for s in (headers.get("x-plivo-signature-v2"), headers.get("x-plivo-signature-ma-v2")) if s]
        v3 = [s for s in (headers.get("x-plivo-signature-v3"), headers.get("x-plivo-signature-ma-v3")) if s]
        if not v2 and not v3:
            raise VerificationError("missing_credentials", "header X-Plivo-Signature-V2: required")
        if self.settings.require_v3 and not v3:
            raise VerificationError("missing_credentials", "header X-Plivo-Signature-V3: required (require_v3)")
        params = callback.query if callback.method == "GET" else callback.form
        nonce = ""
        try:
            if v3:
                nonce = self._nonce(headers, "x-plivo-signature-v3-nonce")
                given = [s.strip() for value in v3 for s in value.split(",")]
                if not v3_matches(given, callback.method, callback.url, params, nonce, self._tokens):
                    raise VerificationError("bad_signature", "header X-Plivo-Signature-V3: does not match")
            if v2:  # the V2 nonce is the replay key whenever V2 is there, so stripping V3 cannot replay
                nonce = self._nonce(headers, "x-plivo-signature-v2-nonce")
                if not v2_matches([s.strip() for s in v2], callback.url, nonce, self._tokens):
                    raise VerificationError("bad_signature", "header X-Plivo-Signature-V2: does not match")
        except (ValueError, UnicodeError) as exc:  # an unparsable URL or unencodable text: nothing can match
            raise VerificationError("bad_signature", "callback URL or parameters cannot be signed") from exc
        return PlivoVerified(callback, replay_key=nonce, params=params, scheme="v2" if v2 else "v3")

    @staticmethod
    def _nonce(headers: Mapping[str, str], name: str) -> str:
        nonce = headers.get(name, "").strip()
        if not nonce:
            raise VerificationError("missing_credentials", f"header {name}: required")
        return nonce

    def restore(self, callback: RawCallback) -> PlivoVerified:
        params = query_or_form(callback, reason="invalid_field", message="body is not URL-encoded UTF-8")
        return PlivoVerified(callback, params=params)

    def parse(self, verified: PlivoVerified) -> Parsed:
        fields: dict[str, Any] = {}
        for name, value in verified.params:
            fields.setdefault(name, value)  # a repeated name: its first value
        if not fields:
            raise MalformedCallbackError("wrong_shape", "callback carries no parameters")
        if _present(fields, "Status"):
            return [self._receipt(fields, verified)]
        return [self._inbound(fields, verified)]

    def _receipt(self, fields: dict[str, Any], callback: Verified) -> DeliveryReceipt:
        status_code = text_field(fields, "Status")
        to = self.phone(text_field(fields, "To"), international=True)
        sender = _present(fields, "From")
        occurred_at = self._latest(fields)
        return DeliveryReceipt(
            provider=KIND,
            message_id=identifier(fields, "MessageUUID"),
            status=_STATUS.get(status_code.strip().lower(), Status.UNKNOWN),
            final=self.finality.get(status_code.strip().lower(), False),
            status_code=status_code,
            status_detail=_present(fields, "ErrorCode"),
            to=to.number,
            region=to.region,
            from_=self.phone(sender, international=True).number if sender else None,
            occurred_at=occurred_at or callback.raw.received_at,
            received_at=callback.raw.received_at,
            segments=count(_present(fields, "Units"), where="Units"),
            price=decimal_text(_present(fields, "TotalRate"), where="TotalRate"),
            raw=fields,
            provider_time=occurred_at is not None,
        )

    def _inbound(self, fields: dict[str, Any], callback: Verified) -> InboundMessage:
        text = _present(fields, "Text")
        if text is None:
            text = text_field(fields, "Body" if "Body" in fields else "Text")  # MMS/WhatsApp carry Body
        receiver = _present(fields, "To")
        sender = self.phone(identifier(fields, "From"), international=True)  # the record key
        return InboundMessage(
            provider=KIND,
            message_id=identifier(fields, "MessageUUID"),
            from_=sender.number,
            region=sender.region,
            to=self.phone(receiver, international=True).number if receiver else None,
            text=text,
            occurred_at=callback.raw.received_at,  # Plivo sends no time with an incoming message
            received_at=callback.raw.received_at,
            segments=count(_present(fields, "Units"), where="Units"),
            price=decimal_text(_present(fields, "TotalRate"), where="TotalRate"),
            raw=fields,
            provider_time=False,  # the event id must not change with the time of a retry
        )

    def _latest(self, fields: dict[str, Any]) -> datetime | None:
        """The latest of the callback's times: when its status was reached (None if it has none)."""
        times = [local_time(t, self._zone, where=n) for n in TIME_FIELDS if (t := _present(fields, n))]
        return max(times, default=None)

    def accepted(self, verified: PlivoVerified) -> Reply:
        return _ACCEPTED

    def rejected(self, error: CallbackError) -> Reply:
        return text_refusal(error)

    def sign(self, url: str, body: bytes, sample: str, now: float) -> Outgoing:
        """V2 and Ma-V2 as Plivo sends them, with the first token and a nonce derived from the callback;
        `dr-get` moves the parameters into the URL's query, as for a callback whose method is GET."""
        headers = {"content-type": FORM}
        method = "POST"
        if sample.endswith("-get"):
            method, headers = "GET", {}
            url, body = url + ("&" if "?" in url else "?") + body.decode("utf-8"), b""
        digest = hashlib.sha256(f"{now!r}|{method}|{url}|".encode() + body).digest()
        nonce = str(int.from_bytes(digest[:8]) % 10**20).zfill(20)
        signature = signature_v2(url, nonce, self._tokens[0])
        headers |= {"X-Plivo-Signature-V2": signature, "X-Plivo-Signature-Ma-V2": signature,
                    "X-Plivo-Signature-V2-Nonce": nonce}
        return Outgoing(method, url, headers, body)


def _present(fields: dict[str, Any], name: str) -> str | None:
    """An optional parameter; Plivo sends absent values as empty strings."""
    return optional_text(fields, name) or None
