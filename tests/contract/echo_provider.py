"""A provider kind defined only in the tests: it proves that a kind plugs in without any edit to bridge/.

"Echo" signs JSON or form bodies with HMAC-SHA256 over `timestamp.nonce.body` in two headers, so
it exercises every shared check (allowlist, freshness, replay) and both body kinds.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Literal

import orjson

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.immutable import immutable
from bridge.providers.base import (
    FORM,
    JSON,
    BodyKind,
    InstanceSettings,
    Outgoing,
    Parsed,
    Provider,
    RawCallback,
    Reply,
    Sample,
    Verified,
)
from bridge.providers.common import identifier, load_json, text_field
from bridge.redact import Secret

KIND: Final = "echo"


class EchoSettings(InstanceSettings):
    kind: Literal["echo"] = "echo"
    secret: Secret


@immutable
class EchoVerified(Verified):
    fields: Mapping[str, Any] | None = None


def _mac(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = f"{timestamp}.{nonce}.".encode("utf-8", "surrogatepass") + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _receipt(now: float) -> bytes:
    return orjson.dumps({"id": f"m{int(now * 1000)}", "to": "+14155552671", "state": "delivered", "at": int(now)})


def _inbound(now: float) -> bytes:
    return f"id=in{int(now * 1000)}&from=%2B8613800138000&text=hello&at={int(now)}".encode()


class EchoProvider(Provider[EchoSettings, EchoVerified]):
    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "Echo (test only)"
    settings_model: ClassVar[type[InstanceSettings]] = EchoSettings
    methods: ClassVar[frozenset[str]] = frozenset({"POST"})
    media_types: ClassVar[Mapping[str, BodyKind]] = {JSON: "json", FORM: "form"}
    safe_headers: ClassVar[frozenset[str]] = frozenset({"x-echo-timestamp"})
    timestamped: ClassVar[bool] = True
    statuses: ClassVar[Mapping[str, Status]] = {"delivered": Status.DELIVERED}
    finality: ClassVar[Mapping[str, bool]] = {"delivered": True}
    samples: ClassVar[Sequence[Sample]] = (
        Sample("receipt", EventType.DELIVERY_RECEIPT, "a JSON receipt", _receipt),
        Sample("inbound", EventType.INBOUND_MESSAGE, "a form-encoded inbound message", _inbound),
    )
    dev_instance: ClassVar[dict[str, Any]] = {"secret": "echo-test-secret"}

    def __init__(self, settings: EchoSettings, clock: Clock) -> None:
        self.settings = settings
        self._secret = settings.secret.reveal()

    def verify(self, callback: RawCallback) -> EchoVerified:
        headers = callback.headers
        timestamp, nonce, given = (headers.get(f"x-echo-{h}") for h in ("timestamp", "nonce", "signature"))
        if timestamp is None or nonce is None or given is None:
            raise VerificationError("missing_credentials", "x-echo-* headers: required")
        expected = _mac(self._secret, timestamp, nonce, callback.body)
        if not hmac.compare_digest(given.encode("latin-1", "replace"), expected.encode()):
            raise VerificationError("bad_signature", "x-echo-signature: does not match")
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
            raise VerificationError("stale_timestamp", "x-echo-timestamp: must be UNIX seconds")
        return EchoVerified(callback, signed_at=float(timestamp), replay_key=nonce, fields=self._fields(callback))

    def restore(self, callback: RawCallback) -> EchoVerified:
        return EchoVerified(callback, fields=self._fields(callback))

    @staticmethod
    def _fields(callback: RawCallback) -> Mapping[str, Any] | None:
        return dict(callback.form) if callback.form else None

    def parse(self, verified: EchoVerified) -> Parsed:
        received = verified.raw.received_at
        if verified.fields is not None:
            sender = self.phone(text_field(dict(verified.fields), "from"))
            return [InboundMessage(KIND, identifier(dict(verified.fields), "id"), sender.number, None,
                                   text_field(dict(verified.fields), "text"), received, received, None, None,
                                   raw=dict(verified.fields), region=sender.region, provider_time=False)]
        body = load_json(verified.raw.body)
        if not isinstance(body, dict):
            raise MalformedCallbackError("wrong_shape", "body must be an object")
        to = self.phone(text_field(body, "to"))
        status = Status.DELIVERED if body.get("state") == "delivered" else Status.UNKNOWN
        at = body.get("at")
        occurred = datetime.fromtimestamp(at, UTC) if isinstance(at, int) and 0 < at < 2**33 else received
        return [DeliveryReceipt(KIND, identifier(body, "id"), status, str(body.get("state")), None, to.number, None,
                                occurred, received, None, None, raw=body, region=to.region,
                                provider_time=occurred is not received,
                                final=self.finality.get(str(body.get("state")), False))]

    def accepted(self, verified: EchoVerified) -> Reply:
        return Reply(200, b"ok", "text/plain")

    def rejected(self, error: CallbackError) -> Reply:
        return Reply(error.status, f"no: {error.reason}".encode(), "text/plain")

    def sign(self, url: str, body: bytes, sample: str, now: float) -> Outgoing:
        timestamp = str(int(now))
        nonce = hashlib.sha256(body + timestamp.encode()).hexdigest()[:16]
        media = FORM if sample == "inbound" else JSON
        headers = {"content-type": media, "x-echo-timestamp": timestamp, "x-echo-nonce": nonce,
                   "x-echo-signature": _mac(self._secret, timestamp, nonce, body)}
        return Outgoing("POST", url, headers, body)
