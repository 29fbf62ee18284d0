"""Bandwidth Messaging API v2: `message-sending/-sent/-delivered/-failed` receipts and `message-received`, HTTP Basic.

Bandwidth signs nothing: an application's callbacks carry the HTTP Basic credentials configured
on it (`InboundCallbackCreds`, `OutboundCallbackCreds`; providers-3.md §2.4), compared here in
constant time with every configured pair, so inbound and outbound may use different ones and a
new pair can be added while rotating. There is no signed time and no nonce.

The docs post a JSON array of events (one in practice), the OpenAPI spec a single object: both
are accepted. Each event of an array is published alone, or dead-lettered alone (as a
one-element array) when it cannot be understood. `type` is the status; `errorCode` of
`message-failed` is kept verbatim as `status_detail`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Final, Literal

import orjson
from pydantic import Field, field_validator

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.providers.base import (
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
from bridge.providers.common import count, finality, identifier, iso_time, load_json, optional_text, text_field
from bridge.providers.replies import EMPTY_OK, text_refusal
from bridge.providers.reports import each_report
from bridge.providers.samples import iso_text
from bridge.providers.verification import basic_auth, check_basic_auth
from bridge.redact import Secret

KIND: Final = "bandwidth"
MAX_REPORTS: Final = 100  # Bandwidth documents an array; every example holds one event
CONTENT_TYPE: Final = "application/json; charset=utf-8"
USER_AGENT: Final = "BandwidthAPI/v2"
RECEIVED: Final = "message-received"

# Bandwidth/python-sdk bandwidth/models/status_callback_type_enum.py: every outbound status.
STATUSES: Final[Mapping[str, Status]] = {
    "message-sending": Status.UNKNOWN,  # being sent to the upstream provider (MMS with DLRs)
    "message-sent": Status.UNKNOWN,  # left Bandwidth's network, in transit
    "message-delivered": Status.DELIVERED,  # final: handset (SMS, toll-free) or carrier (MMS without DLRs)
    "message-failed": Status.UNDELIVERED,  # final; errorCode says why
    "message-read": Status.DELIVERED,  # RBM only, after delivered
}
# errors.mdx: a failure that does not say the message was not received (DLR expired, unknown).
AMBIGUOUS_ERRORS: Final = frozenset({"9902", "9999"})
FINAL: Final = frozenset({"message-delivered", "message-failed", "message-read"})


class BasicCredentials(StrictModel):
    """One Bandwidth callback credential pair (an application's `UserId` and `Password`)."""

    username: Secret
    password: Secret

    @field_validator("username")
    @classmethod
    def _no_colon(cls, username: Secret) -> Secret:
        if ":" in username.reveal() or not username.reveal():
            raise ValueError("must be non-empty and must not contain ':' (RFC 7617)")
        return username


class BandwidthSettings(InstanceSettings):
    """One Bandwidth messaging application: the Basic credentials its callbacks carry."""

    kind: Literal["bandwidth"] = "bandwidth"
    credentials: Annotated[
        tuple[BasicCredentials, ...],
        Field(min_length=1, max_length=4,
              description="InboundCallbackCreds and OutboundCallbackCreds (and the next pair while rotating)"),
    ]
    max_reports: Annotated[int, Field(ge=1, le=10_000)] = MAX_REPORTS


def _id(now: float, tail: str) -> str:
    """A Bandwidth message id: milliseconds, then 15 lower-case characters (`1585321273456iprz22vjeo4tvooc`)."""
    return f"{int(now * 1000)}{tail}"


def _status(now: float, event: str, *, to: str = "+12345678902", recipients: Sequence[str] = ("+12345678902",),
            description: str = "ok", error: int | None = None) -> dict[str, Any]:
    """webhooks.mdx's status callback (message-delivered, "Toll Free Delivered to Handset") for `now`."""
    report: dict[str, Any] = {"time": iso_text(now), "type": event, "to": to, "description": description}
    if error is not None:
        report["errorCode"] = error
    report["message"] = {"id": _id(now - 9, "iprz22vjeo4tvooc"), "owner": "+18447242263",
                         "applicationId": "82e028a4-a852-4c65-98fc-80d18216e527", "time": iso_text(now - 9),
                         "segmentCount": 1, "direction": "out", "to": list(recipients), "from": "+18447242263",
                         "text": "", "tag": ""}
    return report


def _sent_sample(now: float) -> bytes:
    """bandwidth.yml's messageSentCallbackExample: a single object (the OpenAPI form), µs times."""
    return orjson.dumps({"time": iso_text(now, timespec="microseconds"), "type": "message-sent",
                         "to": "+15554443333", "description": "Message sent to carrier",
                         "message": {"id": _id(now - 1, "xo7watq5px6rbe5d"), "owner": "+15552221111",
                                     "applicationId": "cfd4fb83-7531-4acc-b471-42d0bb76a65c",
                                     "time": iso_text(now - 1, timespec="microseconds"), "segmentCount": 1,
                                     "direction": "out", "to": ["+15554443333"], "from": "+15552221111",
                                     "text": "", "tag": "v2 lab"}})


def _inbound_sample(now: float) -> bytes:
    """webhooks.mdx's message-received callback (an array of one) for `now`."""
    return orjson.dumps([{
        "type": RECEIVED, "time": iso_text(now), "description": "Incoming message received", "to": "+12345678902",
        "message": {"id": _id(now, "92kw2fuqty55yp2b2"), "time": iso_text(now), "to": ["+12345678902"],
                    "from": "+12345678901", "text": "Hey, check this out!",
                    "applicationId": "93de2206-9669-4e07-948d-329f4b722ee2", "media": [],
                    "owner": "+12345678902", "direction": "in", "segmentCount": 1},
    }])


class BandwidthProvider(Provider[BandwidthSettings, Verified]):
    """Bandwidth Messaging v2 status and inbound callbacks for one application."""

    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "Bandwidth Messaging API v2"
    settings_model: ClassVar[type[InstanceSettings]] = BandwidthSettings
    media_types: ClassVar[Mapping[str, BodyKind]] = {JSON: "json"}
    safe_headers: ClassVar[frozenset[str]] = frozenset({"user-agent"})
    statuses: ClassVar[Mapping[str, Status]] = STATUSES
    finality: ClassVar[Mapping[str, bool]] = finality(STATUSES, intermediate=("message-sending", "message-sent"))
    samples: ClassVar[Sequence[Sample]] = (
        Sample("delivered", EventType.DELIVERY_RECEIPT, "message-delivered (the docs' toll-free example, an array)",
               lambda now: orjson.dumps([_status(now, "message-delivered")])),
        Sample("sent", EventType.DELIVERY_RECEIPT, "message-sent (the OpenAPI example, a single object)",
               _sent_sample),
        Sample("sending", EventType.DELIVERY_RECEIPT, "message-sending (MMS with delivery receipts)",
               lambda now: orjson.dumps([_status(now, "message-sending", description="Message is sending")])),
        Sample("failed", EventType.DELIVERY_RECEIPT, "message-failed, errorCode 4432, to one of a group",
               lambda now: orjson.dumps([_status(now, "message-failed", to="+52345678903",
                                                 recipients=("+12345678902", "+52345678903"),
                                                 description="forbidden to country", error=4432)])),
        Sample("inbound", EventType.INBOUND_MESSAGE, "message-received (the docs' example)", _inbound_sample),
    )
    dev_instance: ClassVar[dict[str, Any]] = {
        "credentials": [{"username": "${BANDWIDTH_CALLBACK_USER:-dev-bandwidth-user}",
                         "password": "${BANDWIDTH_CALLBACK_PASSWORD:-dev-bandwidth-password-0123456789}"}],
    }

    def __init__(self, settings: BandwidthSettings, clock: Clock) -> None:
        self.settings = settings
        self._pairs = tuple((c.username.reveal().encode("utf-8"), c.password.reveal().encode("utf-8"))
                            for c in settings.credentials)

    def verify(self, callback: RawCallback) -> Verified:
        """Basic credentials equal to one configured pair; every pair is compared, each in constant time."""
        authorization = callback.headers.get("authorization", "")
        matched, refusal = False, None
        for user, password in self._pairs:  # never stops early: the time does not tell which pair matched
            try:
                check_basic_auth(authorization, user, password)
            except VerificationError as error:
                refusal = error
            else:
                matched = True
        if not matched:
            raise refusal or VerificationError("missing_credentials", "header Authorization: Basic required")
        return Verified(callback)

    def restore(self, callback: RawCallback) -> Verified:
        return Verified(callback)

    def parse(self, verified: Verified) -> Parsed:
        document = load_json(verified.raw.body)
        if isinstance(document, dict):  # the OpenAPI spec's form: one event
            return self._alone(each_report([document], self._event(verified)), lambda _: verified.raw.body)
        if not isinstance(document, list) or not document:
            raise MalformedCallbackError("wrong_shape", "body must be a JSON object or a non-empty array of them")
        if len(document) > self.settings.max_reports:
            raise MalformedCallbackError("too_many_reports", f"body: more than {self.settings.max_reports} events")
        return self._alone(each_report(document, self._event(verified)), lambda report: orjson.dumps([report]))

    @staticmethod
    def _alone(items: list[Any], body: Any) -> Parsed:
        """Each BadReport with the callback body that holds its report alone (for the dead letter and redrive)."""
        return [dataclasses.replace(i, body=body(i.report)) if isinstance(i, BadReport) else i for i in items]

    def _event(self, verified: Verified) -> Any:
        def build(report: Any, index: int) -> DeliveryReceipt | InboundMessage:
            where = f"[{index}]."
            if not isinstance(report, dict):
                raise MalformedCallbackError("wrong_shape", f"[{index}]: must be an object")
            message = report.get("message")
            if not isinstance(message, dict):
                raise MalformedCallbackError("wrong_shape", f"{where}message: must be an object")
            event = text_field(report, "type", where=where)
            if event == RECEIVED:
                return self._inbound(report, message, verified, where)
            if event in STATUSES:
                return self._receipt(report, message, event, verified, where)
            raise MalformedCallbackError("unsupported_callback", f"{where}type: must be message-received or one of "
                                         "message-sending, -sent, -delivered, -failed, -read")
        return build

    def _receipt(self, report: dict[str, Any], message: dict[str, Any], event: str, verified: Verified,
                 where: str) -> DeliveryReceipt:
        message_id = identifier(message, "id", where=f"{where}message.")
        to = self.phone(identifier(report, "to", where=where), international=True)
        recipients = message.get("to")
        if isinstance(recipients, list) and len(recipients) > 1:  # a group message: one callback per recipient
            message_id = f"{message_id}:{to.number}"
        error = optional_text(report, "errorCode", where=where)
        sender = optional_text(message, "from", where=f"{where}message.")
        status = Status.UNKNOWN if error in AMBIGUOUS_ERRORS else STATUSES[event]
        return DeliveryReceipt(
            provider=KIND,
            message_id=message_id,
            status=status,
            final=self.finality[event],  # 9902/9999 too: a final failure of unknown outcome
            status_code=event,
            status_detail=error if error is not None else optional_text(report, "description", where=where),
            to=to.number,
            region=to.region,
            from_=self.phone(sender, international=True).number if sender else None,
            occurred_at=iso_time(text_field(report, "time", where=where), where=f"{where}time"),
            received_at=verified.raw.received_at,
            segments=count(optional_text(message, "segmentCount"), where=f"{where}message.segmentCount"),
            price=None,
            raw=report,
        )

    def _inbound(self, report: dict[str, Any], message: dict[str, Any], verified: Verified,
                 where: str) -> InboundMessage:
        inner = f"{where}message."
        sender = self.phone(identifier(message, "from", where=inner), international=True)  # the record key
        receiver = optional_text(message, "owner", where=inner) or optional_text(report, "to", where=where)
        return InboundMessage(
            provider=KIND,
            message_id=identifier(message, "id", where=inner),
            from_=sender.number,
            region=sender.region,
            to=self.phone(receiver, international=True).number if receiver else None,
            text=optional_text(message, "text", where=inner) or "",  # an MMS may carry media only
            occurred_at=iso_time(text_field(report, "time", where=where), where=f"{where}time"),
            received_at=verified.raw.received_at,
            segments=count(optional_text(message, "segmentCount"), where=f"{inner}segmentCount"),
            price=None,
            raw=report,
        )

    def accepted(self, verified: Verified) -> Reply:
        return EMPTY_OK

    def rejected(self, error: CallbackError) -> Reply:
        """Plain text with the error's status; Bandwidth retries any non-2xx for 24 hours."""
        reply = text_refusal(error)
        if error.status == 401:
            return Reply(reply.status, reply.body, reply.media_type,
                         {**reply.headers, "WWW-Authenticate": 'Basic realm="sms-bridge", charset="UTF-8"'})
        return reply

    def sign(self, url: str, body: bytes, sample: str, now: float) -> Outgoing:
        """What Bandwidth sends: JSON with the application's (first) Basic credentials."""
        user, password = self._pairs[0]
        headers = {"content-type": CONTENT_TYPE, "user-agent": USER_AGENT, "authorization": basic_auth(user, password)}
        return Outgoing("POST", url, headers, body)
