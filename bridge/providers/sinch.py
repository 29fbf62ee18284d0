"""Sinch SMS (xms v1): delivery report and inbound (`mo_text`) callbacks, HMAC-signed or Basic-authenticated.

HMAC (providers-2.md §3.4, as sinch-sdk-java/-python/-dotnet verify it): base64 HMAC-SHA256,
keyed with the callback secret as UTF-8, over `<raw body>.<nonce>.<timestamp>` taken from the
`x-sinch-webhook-signature-nonce` / `-timestamp` headers, compared with
`x-sinch-webhook-signature`. The `-algorithm` header is not signed; it must say `HmacSHA256`
when present (Java and .NET require it, Python ignores it). The timestamp (UNIX seconds) is the
signed time the endpoint checks against the window; the nonce is the replay key. Accounts
without HMAC can use Sinch's Basic auth option instead (`auth: basic`): it proves only that the
caller knows the password, and carries neither a signed time nor a nonce.

One URL gets every callback of a service plan; `type` tells them apart. A recipient report is one
receipt; a batch report (`full`) gives one receipt per listed recipient, and each status entry
without recipients (`summary`) or recipient it cannot understand is dead-lettered alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Final, Literal

import orjson
from pydantic import Field, model_validator

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.providers.base import (
    JSON,
    BadReport,
    InstanceSettings,
    Outgoing,
    Parsed,
    Provider,
    RawCallback,
    Reply,
    Sample,
    Verified,
)
from bridge.providers.common import count, finality, identifier, iso_time, load_json, optional_text, text_field
from bridge.providers.replies import EMPTY_OK
from bridge.providers.samples import iso_text
from bridge.providers.verification import basic_auth, check_basic_auth, required_headers, signed_time
from bridge.redact import Secret

KIND: Final = "sinch"
SIGNATURE: Final = "x-sinch-webhook-signature"
NONCE: Final = "x-sinch-webhook-signature-nonce"
TIMESTAMP: Final = "x-sinch-webhook-signature-timestamp"
ALGORITHM: Final = "x-sinch-webhook-signature-algorithm"
HMAC_SHA256: Final = "HmacSHA256"
MAX_REPORTS: Final = 1000  # recipients of one batch report (a batch has at most 1000 recipients)

_STATUS: Final = {
    "delivered": Status.DELIVERED,
    "aborted": Status.UNDELIVERED,
    "cancelled": Status.UNDELIVERED,
    "rejected": Status.UNDELIVERED,
    "deleted": Status.UNDELIVERED,
    "failed": Status.UNDELIVERED,
    "expired": Status.UNDELIVERED,
    "queued": Status.UNKNOWN,
    "dispatched": Status.UNKNOWN,
    "unknown": Status.UNKNOWN,
}
_UNSUPPORTED: Final = {
    "mo_binary": "binary inbound messages (base64 body and UDH) are not text",
    "mo_media": "MMS inbound messages are not SMS",
    "delivery_report_mms": "MMS delivery reports are not SMS",
    "recipient_delivery_report_mms": "MMS delivery reports are not SMS",
}


class SinchSettings(InstanceSettings):
    """One Sinch SMS service plan: how its callbacks authenticate, and the secrets for that."""

    kind: Literal["sinch"] = "sinch"
    auth: Literal["hmac", "basic"] = "hmac"
    hmac_secret: Secret | None = None
    basic_username: Secret | None = None
    basic_password: Secret | None = None
    max_reports: Annotated[int, Field(ge=1, le=10_000)] = MAX_REPORTS

    @model_validator(mode="after")
    def _secrets_of_the_method(self) -> SinchSettings:
        basic = self.basic_username is not None or self.basic_password is not None
        if self.auth == "hmac" and (self.hmac_secret is None or basic):
            raise ValueError("auth hmac needs hmac_secret and no basic_username/basic_password")
        if self.auth == "basic" and (self.basic_username is None or self.basic_password is None or self.hmac_secret):
            raise ValueError("auth basic needs basic_username and basic_password and no hmac_secret")
        if self.basic_username is not None and ":" in self.basic_username.reveal():
            raise ValueError("basic_username must not contain ':' (RFC 7617)")
        return self


def signature(body: bytes, nonce: str, timestamp: str, secret: str) -> str:
    """base64(HMAC-SHA256(secret, body + "." + nonce + "." + timestamp)), as Sinch's SDKs compute it."""
    signed = body + b"." + nonce.encode("utf-8", "surrogatepass") + b"." + timestamp.encode("utf-8", "surrogatepass")
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now: float, label: str) -> str:
    """A ULID (Sinch's id and nonce format) for `now`, its randomness derived from `label` (deterministic)."""
    entropy = int.from_bytes(hashlib.sha256(f"{label}:{now!r}".encode()).digest()[:10], "big")
    value = (int(now * 1000) % (1 << 48)) << 80 | entropy
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def _recipient_sample(now: float) -> bytes:
    """The SDK's signed recipient report (§9 S1), its batch id and times set to now."""
    return orjson.dumps({"at": iso_text(now), "batch_id": ulid(now, "batch"), "client_reference": "a client reference",
                         "code": 0, "operator_status_at": iso_text(now - 1), "recipient": "33662162466",
                         "status": "Delivered", "type": "recipient_delivery_report_sms"})


def _batch_sample(now: float) -> bytes:
    """The SDK's `full` batch report fixture (BatchDeliveryReportSMSDto.json) with a batch id of now."""
    return orjson.dumps({"type": "delivery_report_sms", "batch_id": ulid(now, "batch"),
                         "statuses": [{"code": 0, "count": 1, "recipients": ["44231235674"], "status": "Delivered"}],
                         "total_message_count": 1, "client_reference": "a client reference"})


def _inbound_sample(now: float) -> bytes:
    """The SDK's `mo_text` fixture (InboundTextDto.json) with its id and times set to now."""
    return orjson.dumps({"body": "a body", "client_reference": "a client reference", "from": "+11203494390",
                         "id": ulid(now, "mo"), "operator_id": "35000", "received_at": iso_text(now),
                         "sent_at": iso_text(now - 2), "to": "11203453453", "type": "mo_text"})


class SinchProvider(Provider[SinchSettings, Verified]):
    """Sinch SMS delivery reports and inbound messages for one service plan."""

    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "Sinch SMS"
    settings_model: ClassVar[type[InstanceSettings]] = SinchSettings
    statuses: ClassVar[Mapping[str, Status]] = _STATUS
    finality: ClassVar[Mapping[str, bool]] = finality(_STATUS, intermediate=("queued", "dispatched"))
    safe_headers: ClassVar[frozenset[str]] = frozenset({NONCE, TIMESTAMP, ALGORITHM})
    timestamped: ClassVar[bool] = True  # with HMAC; Basic auth has no signed time (signs_time)
    samples: ClassVar[Sequence[Sample]] = (
        Sample("dr", EventType.DELIVERY_RECEIPT, "a recipient delivery report (the SDK's signed sample)",
               _recipient_sample),
        Sample("batch", EventType.DELIVERY_RECEIPT, "a full batch delivery report", _batch_sample),
        Sample("mo", EventType.INBOUND_MESSAGE, "an inbound text message (mo_text)", _inbound_sample),
    )
    dev_instance: ClassVar[dict[str, Any]] = {"hmac_secret": "${SINCH_HMAC_SECRET:-dev-sinch-hmac-secret}"}

    def __init__(self, settings: SinchSettings, clock: Clock) -> None:
        self.settings = settings
        self._secret = settings.hmac_secret.reveal() if settings.hmac_secret else ""
        user, password = settings.basic_username, settings.basic_password
        self._user = user.reveal().encode("utf-8") if user else b""
        self._password = password.reveal().encode("utf-8") if password else b""

    def verify(self, callback: RawCallback) -> Verified:
        if self.settings.auth == "basic":
            check_basic_auth(callback.headers.get("authorization", ""), self._user, self._password)
            return Verified(callback)
        given, nonce, timestamp = required_headers(callback.headers, SIGNATURE, NONCE, TIMESTAMP)
        algorithm = callback.headers.get(ALGORITHM)
        if algorithm is not None and algorithm.strip().lower() != HMAC_SHA256.lower():
            raise VerificationError("unsupported_algorithm", f"header {ALGORITHM}: must be {HMAC_SHA256}")
        expected = signature(callback.body, nonce, timestamp, self._secret)
        if not hmac.compare_digest(given.strip().encode("utf-8", "surrogatepass"), expected.encode("ascii")):
            raise VerificationError("bad_signature", f"header {SIGNATURE}: does not match")
        signed_at = signed_time(timestamp, f"header {TIMESTAMP}: must be UNIX seconds")
        return Verified(callback, signed_at=float(signed_at), replay_key=f"nonce:{nonce}")

    def restore(self, callback: RawCallback) -> Verified:
        return Verified(callback)

    def parse(self, verified: Verified) -> Parsed:
        document = load_json(verified.raw.body)
        if not isinstance(document, dict):
            raise MalformedCallbackError("wrong_shape", "body must be a JSON object")
        kind = text_field(document, "type")
        if kind == "recipient_delivery_report_sms":
            return [self._receipt(document, verified, document)]
        if kind == "delivery_report_sms":
            return self._batch(document, verified)
        if kind == "mo_text":
            return [self._inbound(document, verified)]
        why = _UNSUPPORTED.get(kind, "must be recipient_delivery_report_sms, delivery_report_sms or mo_text")
        raise MalformedCallbackError("unsupported_callback", f"type: {why}")

    def _receipt(self, report: dict[str, Any], verified: Verified, raw: dict[str, Any], *,
                 where: str = "", occurred_at: datetime | None = None) -> DeliveryReceipt:
        batch_id = identifier(report, "batch_id")
        to = self.phone(identifier(report, "recipient", where=where), international=True)
        status = text_field(report, "status", where=where)
        code = optional_text(report, "code", where=where)
        provider_time = occurred_at is None  # a batch report has no time: receipt time stays out of the id
        if occurred_at is None:
            occurred_at = iso_time(text_field(report, "at"), where="at")
        originator = optional_text(report, "applied_originator")
        return DeliveryReceipt(
            provider=KIND,
            message_id=f"{batch_id}:{to.number}",  # a batch goes to many recipients: one message each
            status=_STATUS.get(status.strip().lower(), Status.UNKNOWN),
            final=self.finality.get(status.strip().lower(), False),
            status_code=status,
            status_detail=code,
            to=to.number,
            region=to.region,
            from_=self.phone(originator, international=True).number if originator else None,
            occurred_at=occurred_at,
            provider_time=provider_time,
            received_at=verified.raw.received_at,
            segments=count(optional_text(report, "number_of_message_parts"), where="number_of_message_parts"),
            price=None,
            raw=raw,
        )

    def _batch(self, document: dict[str, Any], verified: Verified) -> Parsed:
        identifier(document, "batch_id")
        statuses = document.get("statuses")
        if not isinstance(statuses, list) or not statuses:
            raise MalformedCallbackError("wrong_shape", "statuses: must be a non-empty array")
        limit = self.settings.max_reports
        lists = [s["recipients"] for s in statuses if isinstance(s, dict) and isinstance(s.get("recipients"), list)]
        if sum(map(len, lists)) > limit:
            raise MalformedCallbackError("too_many_reports", f"statuses: more than {limit} recipients")
        shared: dict[str, Any] = {k: document[k] for k in ("type", "batch_id", "client_reference") if k in document}

        def bad(report: Any, entry: Any, error: MalformedCallbackError) -> BadReport:
            """A dead-lettered entry or recipient: its body is the batch report with only that entry (recipient)."""
            body = orjson.dumps({**document, "statuses": [entry]})
            return BadReport(len(items), report, error, body, shared)

        items: list[DeliveryReceipt | BadReport] = []
        for i, entry in enumerate(statuses):
            where = f"statuses[{i}]."
            if not isinstance(entry, dict):
                items.append(bad(entry, entry, MalformedCallbackError("wrong_shape", f"{where[:-1]}: must be an "
                                                                      "object")))
                continue
            recipients = entry.get("recipients")
            if not isinstance(recipients, list):  # a `summary` report: counts, no recipients
                items.append(bad(entry, entry, MalformedCallbackError(
                    "missing_field", f"{where}recipients: required (per-recipient receipts need full reports)")))
                continue
            for j, recipient in enumerate(recipients):
                report: dict[str, Any] = {**shared, "status": entry.get("status"), "code": entry.get("code"),
                                          "recipient": recipient}
                try:  # a batch report has no time: the receipt's time is when the bridge received it
                    receipt = self._receipt(report, verified, report, where=f"{where}recipients[{j}].",
                                            occurred_at=verified.raw.received_at)
                except MalformedCallbackError as error:
                    items.append(bad(report, {**entry, "recipients": [recipient]}, error))
                else:
                    items.append(receipt)
        return items

    def _inbound(self, message: dict[str, Any], verified: Verified) -> InboundMessage:
        sender = self.phone(identifier(message, "from"), international=True)  # the record key
        receiver = optional_text(message, "to")
        return InboundMessage(
            provider=KIND,
            message_id=identifier(message, "id"),
            from_=sender.number,
            region=sender.region,
            to=self.phone(receiver, international=True).number if receiver else None,
            text=text_field(message, "body"),
            occurred_at=iso_time(text_field(message, "received_at"), where="received_at"),
            received_at=verified.raw.received_at,
            segments=None,
            price=None,
            raw=message,
        )

    def accepted(self, verified: Verified) -> Reply:
        return EMPTY_OK

    def rejected(self, error: CallbackError) -> Reply:
        """Sinch's own error shape (`code`, `text`); only 5xx and 429 make Sinch retry."""
        headers: Mapping[str, str] = {}
        if self.settings.auth == "basic" and error.status == 401:
            headers = {"WWW-Authenticate": 'Basic realm="sms-bridge", charset="UTF-8"'}
        return Reply(error.status, orjson.dumps({"code": error.reason, "text": str(error)}), JSON, headers)

    def signs_time(self) -> bool:
        return self.settings.auth == "hmac"

    def sign(self, url: str, body: bytes, sample: str, now: float) -> Outgoing:
        """What Sinch sends: HMAC headers with a fresh nonce (a ULID, as Sinch's), or Basic credentials."""
        headers = {"content-type": JSON}
        if self.settings.auth == "basic":
            headers["authorization"] = basic_auth(self._user, self._password)
        else:
            nonce, timestamp = ulid(now, f"nonce:{sample}:{hashlib.sha256(body).hexdigest()}"), str(int(now))
            headers |= {SIGNATURE: signature(body, nonce, timestamp, self._secret), NONCE: nonce,
                        TIMESTAMP: timestamp, ALGORITHM: HMAC_SHA256}
        return Outgoing("POST", url, headers, body)
