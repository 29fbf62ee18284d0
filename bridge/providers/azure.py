"""Azure Communication Services SMS through an Event Grid WebHook subscription: `SMSDeliveryReportReceived`
and `SMSReceived` events in the Event Grid schema (a JSON array) or the CloudEvents 1.0 schema (one event,
or a batch array), the subscription handshakes, and Event Grid's delivery authentication.

Authentication (azure_signature.py): the instance's query-string secret, or an Entra ID bearer token
checked against the configured JWKS (inline, or fetched from `jwks_url` in prepare() and cached). Event
Grid signs no time and no nonce: duplicates of a delivery get the same event ids (each from the event's
own message id, status and time), so they are not refused. Handshakes, answered after verification and
never published: the Event Grid `SubscriptionValidationEvent` (reply `{"validationResponse": code}`,
200), `SubscriptionDeletedEvent` (200), and the CloudEvents `OPTIONS` abuse-protection request
(`WebHook-Allowed-Origin` echoing an allowed `WebHook-Request-Origin`). Each event of an array is its own
report: one that cannot be understood is dead-lettered alone, as a one-element array of its envelope.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Final, Literal
from urllib.parse import urlencode, urlsplit

import orjson
from pydantic import AnyHttpUrl, Field, model_validator

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError, UsageError, VerificationError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, SmsEvent, Status
from bridge.providers.azure_events import (
    DELIVERY_REPORT,
    SMS_RECEIVED,
    cloud_event,
    control_reply,
    event_grid,
    lower_keys,
)
from bridge.providers.azure_signature import (
    EVENT_GRID_APP_IDS,
    JWKS_REFRESH_SECONDS,
    JwksCache,
    VerifyingKey,
    check_query_secret,
    jwks_keys,
    load_jwt,
    verify_bearer,
)
from bridge.providers.base import (
    JSON,
    BadReport,
    BodyKind,
    Fetch,
    Handshake,
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
from bridge.providers.replies import EMPTY_OK, REASON_HEADER, TEXT
from bridge.providers.verification import UrlToken

KIND: Final = "azure"
CLOUDEVENTS: Final = "application/cloudevents+json"
CLOUDEVENTS_BATCH: Final = "application/cloudevents-batch+json"
REQUEST_ORIGIN: Final = "webhook-request-origin"
EVENT_GRID_ORIGIN: Final = "eventgrid.azure.net"
MAX_EVENTS: Final = 5000  # Event Grid's largest batch
DEFAULT_QUERY_PARAMETER: Final = "token"  # the query parameter dead letters leave out (see docs)
_ORIGIN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:-]{0,252}")


class AzureSettings(InstanceSettings):
    """One Event Grid WebHook subscription of an ACS resource: how its deliveries authenticate."""

    kind: Literal["azure"] = "azure"
    auth: Literal["query_secret", "entra_id"] = "query_secret"
    query_parameter: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.~-]{1,64}$")] = DEFAULT_QUERY_PARAMETER
    query_secrets: Annotated[tuple[UrlToken, ...], Field(max_length=8)] = ()
    jwks: str | dict[str, Any] | None = None
    jwks_url: AnyHttpUrl | None = None
    issuers: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    audiences: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    client_ids: tuple[str, ...] = EVENT_GRID_APP_IDS
    jwks_refresh_seconds: Annotated[float, Field(ge=60, le=86_400)] = JWKS_REFRESH_SECONDS
    allowed_origins: Annotated[tuple[Annotated[str, Field(min_length=1)], ...], Field(min_length=1)] = (
        EVENT_GRID_ORIGIN,)
    max_events: Annotated[int, Field(ge=1, le=MAX_EVENTS)] = MAX_EVENTS

    @model_validator(mode="after")
    def _credentials_of_the_scheme(self) -> AzureSettings:
        entra = (self.jwks, self.jwks_url, self.issuers, self.audiences)
        if self.auth == "query_secret" and (not self.query_secrets or any(entra)):
            raise ValueError("auth query_secret needs query_secrets and no jwks/jwks_url/issuers/audiences")
        if self.auth == "entra_id":
            if self.query_secrets or not self.issuers or not self.audiences or not (self.jwks or self.jwks_url):
                raise ValueError("auth entra_id needs issuers, audiences and jwks or jwks_url, and no query_secrets")
            if self.jwks_url is not None and self.jwks_url.scheme != "https":
                raise ValueError("jwks_url must be an https URL")
            if self.jwks:
                jwks_keys(self.jwks)  # ValueError naming the rule
        return self


class AzureProvider(Provider[AzureSettings, Verified]):
    """Azure Communication Services SMS events delivered by one Event Grid WebHook subscription."""

    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "Azure Communication Services (Event Grid)"
    settings_model: ClassVar[type[InstanceSettings]] = AzureSettings
    methods: ClassVar[frozenset[str]] = frozenset({"POST", "OPTIONS"})
    media_types: ClassVar[Mapping[str, BodyKind]] = {JSON: "json", CLOUDEVENTS: "json", CLOUDEVENTS_BATCH: "json"}
    safe_headers: ClassVar[frozenset[str]] = frozenset({"aeg-event-type", "aeg-subscription-name", "aeg-delivery-count",
                                                        "aeg-metadata-version", "aeg-data-version", REQUEST_ORIGIN})
    statuses: ClassVar[Mapping[str, Status]] = {"Delivered": Status.DELIVERED, "Failed": Status.UNDELIVERED}
    finality: ClassVar[Mapping[str, bool]] = finality(statuses, intermediate=())  # ACS pushes only final reports
    samples: ClassVar[Sequence[Sample]] = (
        Sample("dr", EventType.DELIVERY_RECEIPT, "an SMSDeliveryReportReceived event (Event Grid schema)",
               lambda now: event_grid(now, True)),
        Sample("mo", EventType.INBOUND_MESSAGE, "an SMSReceived event (Event Grid schema)",
               lambda now: event_grid(now, False)),
        Sample("cloudevents-dr", EventType.DELIVERY_RECEIPT, "an SMSDeliveryReportReceived event (CloudEvents 1.0)",
               lambda now: cloud_event(now, True)),
        Sample("cloudevents-mo", EventType.INBOUND_MESSAGE, "an SMSReceived event (CloudEvents 1.0)",
               lambda now: cloud_event(now, False)),
    )
    dev_instance: ClassVar[dict[str, Any]] = {
        "source": "/sms/azure/acs-dev",
        "query_secrets": ["${AZURE_QUERY_SECRET:-dev-azure-query-secret-0123456789}"],
    }

    def __init__(self, settings: AzureSettings, clock: Clock) -> None:
        self.settings = settings
        self._clock = clock
        self._secrets = tuple(s.reveal().encode("utf-8") for s in settings.query_secrets)
        self._static: tuple[VerifyingKey, ...] = ()
        self._cache: JwksCache | None = None
        if settings.auth == "entra_id":
            load_jwt()  # PyJWT, loaded with the instance, not by the first callback
            self._static = jwks_keys(settings.jwks) if settings.jwks else ()
            if settings.jwks_url is not None:
                self._cache = JwksCache(str(settings.jwks_url), settings.jwks_refresh_seconds)

    async def prepare(self, callback: RawCallback, fetch: Fetch) -> None:
        """Entra ID with `jwks_url`: the JWKS fetched when stale or lacking the token's `kid` (see JwksCache)."""
        if self._cache is not None:
            await self._cache.refresh(callback.headers.get("authorization"), fetch, self._clock.time())

    def verify(self, callback: RawCallback) -> Verified:
        settings = self.settings
        if settings.auth == "query_secret":
            check_query_secret(callback.query, settings.query_parameter, self._secrets)
        else:
            fetched = self._cache.keys if self._cache is not None else ()
            verify_bearer(callback.headers.get("authorization"), (*self._static, *fetched),
                          issuers=settings.issuers, audiences=settings.audiences, client_ids=settings.client_ids,
                          now=self._clock.time())
        if callback.method == "OPTIONS":
            origin = callback.headers.get(REQUEST_ORIGIN, "").strip()
            if not origin:
                raise VerificationError("missing_credentials", "header WebHook-Request-Origin: required")
            allowed = settings.allowed_origins
            if not _ORIGIN.fullmatch(origin) or ("*" not in allowed and origin.lower() not in map(str.lower, allowed)):
                raise VerificationError("source_not_allowed", "header WebHook-Request-Origin: not an allowed origin",
                                        status=403)
        return Verified(callback)

    def restore(self, callback: RawCallback) -> Verified:
        return Verified(callback)

    def handshake(self, verified: Verified) -> Handshake | None:
        raw = verified.raw
        if raw.method == "OPTIONS":  # CloudEvents abuse protection; verify() checked the origin
            origin = raw.headers.get(REQUEST_ORIGIN, "").strip()
            headers = {"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*", "Allow": "POST, OPTIONS"}
            return Handshake(Reply(200, b"", TEXT, headers))
        reply = control_reply(raw.body)  # Event Grid validation or deletion events
        return None if reply is None else Handshake(reply)

    def parse(self, verified: Verified) -> Parsed:
        document = load_json(verified.raw.body)
        if isinstance(document, dict):  # one CloudEvent (structured mode)
            return [self._event(document, "", verified)]
        if not isinstance(document, list) or not document:
            raise MalformedCallbackError("wrong_shape", "body must be a non-empty JSON array of events or one event")
        if len(document) > self.settings.max_events:
            raise MalformedCallbackError("too_many_reports", f"body: more than {self.settings.max_events} events")
        items: list[SmsEvent | BadReport] = []
        for index, event in enumerate(document):
            try:
                items.append(self._event(event, f"[{index}].", verified))
            except MalformedCallbackError as error:
                items.append(BadReport(index, event, error, orjson.dumps([event])))
        return items

    def _event(self, event: Any, where: str, verified: Verified) -> SmsEvent:
        if not isinstance(event, dict):
            raise MalformedCallbackError("wrong_shape", f"{where or 'body'}: must be an event object")
        cloud = "specversion" in event
        type_name, time_name = ("type", "time") if cloud else ("eventType", "eventTime")
        event_type = text_field(event, type_name, where=where)
        data = lower_keys(event.get("data"), where)
        when = "receivedtimestamp" if data.get("receivedtimestamp") is not None else None
        text = optional_text(data, when, where=f"{where}data.") if when else optional_text(event, time_name,
                                                                                             where=where)
        if text is None:
            raise MalformedCallbackError("missing_field", f"{where}data.receivedTimestamp: required")
        occurred_at = iso_time(text, where=f"{where}data.receivedTimestamp" if when else f"{where}{time_name}")
        message_id = identifier(data, "messageid", where=f"{where}data.")
        if event_type == DELIVERY_REPORT:
            return self._receipt(event, data, where, message_id, occurred_at, verified)
        if event_type == SMS_RECEIVED:
            sender = self.phone(identifier(data, "from", where=f"{where}data."), international=True)
            receiver = optional_text(data, "to", where=f"{where}data.")
            return InboundMessage(
                provider=KIND, message_id=message_id, from_=sender.number, region=sender.region,
                to=self.phone(receiver, international=True).number if receiver else None,
                text=text_field(data, "message", where=f"{where}data."), occurred_at=occurred_at,
                received_at=verified.raw.received_at,
                segments=count(optional_text(data, "segmentcount", where=f"{where}data."),
                               where=f"{where}data.segmentCount"),
                price=None, raw=event,
            )
        raise MalformedCallbackError("unsupported_callback", f"{where}{type_name}: must be {DELIVERY_REPORT} or "
                                     f"{SMS_RECEIVED}")

    def _receipt(self, event: dict[str, Any], data: dict[str, Any], where: str, message_id: str,
                 occurred_at: datetime, verified: Verified) -> DeliveryReceipt:
        status = text_field(data, "deliverystatus", where=f"{where}data.")
        to = self.phone(identifier(data, "to", where=f"{where}data."), international=True)
        sender = optional_text(data, "from", where=f"{where}data.")
        attempts = data.get("deliveryattempts")
        last = lower_keys(attempts[-1], f"{where}data.deliveryAttempts[-1].") if isinstance(attempts, list) and \
            attempts and isinstance(attempts[-1], dict) else {}
        parts = [p for p in (last.get("segmentssucceeded"), last.get("segmentsfailed"))
                 if isinstance(p, int) and not isinstance(p, bool) and 0 <= p < 10**6]
        segments = sum(parts) if len(parts) == 2 else None
        return DeliveryReceipt(
            provider=KIND, message_id=message_id,
            status=self.statuses.get(status, Status.UNKNOWN), status_code=status,
            final=self.finality.get(status, False),
            status_detail=optional_text(data, "deliverystatusdetails", where=f"{where}data.") or None,
            to=to.number, region=to.region,
            from_=self.phone(sender, international=True).number if sender else None,
            occurred_at=occurred_at, received_at=verified.raw.received_at,
            segments=segments, price=None, raw=event,
        )

    def accepted(self, verified: Verified) -> Reply:
        return EMPTY_OK  # Event Grid counts only 200-204 as delivered

    def secret_params(self) -> frozenset[str]:
        """The query parameter that carries this instance's secret: dead letters leave it out."""
        return frozenset({self.settings.query_parameter})

    def rejected(self, error: CallbackError) -> Reply:
        """The error as JSON with its status: 401/403 and 503 make Event Grid retry; 400 and 413 make it
        dead-letter at once (the bridge has dead-lettered a malformed callback already)."""
        body = orjson.dumps({"error": {"code": error.reason, "message": str(error)}})
        headers: dict[str, str] = {REASON_HEADER: error.reason}
        if error.status == 401 and self.settings.auth == "entra_id":
            headers["WWW-Authenticate"] = "Bearer"
        return Reply(error.status, body, JSON, headers)

    def sign(self, url: str, body: bytes, sample: str, now: float) -> Outgoing:
        """What Event Grid posts: the Event Grid or CloudEvents media type and `aeg-*` headers, and the first
        query secret in the URL. Entra ID tokens are signed by Entra alone: those instances cannot be signed for."""
        if self.settings.auth != "query_secret":
            raise UsageError(f"{self.settings.name}: auth entra_id callbacks carry a token only Entra ID can sign")
        cloud = sample.startswith("cloudevents")
        headers = {"content-type": f"{CLOUDEVENTS}; charset=utf-8" if cloud else JSON,
                   "aeg-event-type": "Notification", "aeg-subscription-name": "SMS-BRIDGE", "aeg-delivery-count": "0"}
        if not cloud:
            headers |= {"aeg-metadata-version": "1", "aeg-data-version": "1.0"}
        query = urlencode({self.settings.query_parameter: self.settings.query_secrets[0].reveal()})
        return Outgoing("POST", url + ("&" if urlsplit(url).query else "?") + query, headers, body)

