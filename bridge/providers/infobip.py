"""Infobip SMS: delivery report and inbound (MO) pushes, `{"results":[…]}` batches of up to 100 reports.

Infobip signs neither push (providers-3.md §1.4). A callback is authentic when its URL carries the
instance's secret token (last path segment or `token` query parameter), its source address lies
in the instance's allowlist when one is set (the endpoint checks that), and, when the instance
configures them (a Subscriptions profile with `BASIC` security), it carries the HTTP Basic
credentials. Each element of `results` is told apart by its shape: a delivery report has `status`,
an inbound message has `text`. A report that cannot be understood is dead-lettered alone, with a
body `{"results":[<that report>]}` that `redrive` can parse again; the others are published.

Statuses map on the status `name` (kept verbatim as `status_code`) for every name Infobip
documents; a name outside that list takes its group's status only where the whole group is final
and undelivered (2 UNDELIVERABLE, 5 REJECTED), and is `unknown` otherwise: group 1 PENDING is
intermediate, and so is id 2 DELIVERED_TO_OPERATOR although its group is DELIVERED.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Final, Literal

import orjson
from pydantic import Field, model_validator

from bridge.clock import Clock
from bridge.errors import CallbackError, MalformedCallbackError
from bridge.events import DeliveryReceipt, EventType, InboundMessage, Status
from bridge.providers.base import (
    JSON,
    BadReport,
    BodyKind,
    InstanceSettings,
    Parsed,
    Reply,
    Sample,
    Verified,
)
from bridge.providers.common import (
    count,
    finality,
    identifier,
    iso_time,
    json_decimal,
    load_json,
    optional_text,
    text_field,
)
from bridge.providers.infobip_samples import dr_sample, dr_v2_sample, mo_sample
from bridge.providers.replies import EMPTY_OK, text_refusal
from bridge.providers.schemes import AllOf, BasicAuthScheme, SchemeProvider, UrlTokenScheme
from bridge.providers.verification import UrlToken
from bridge.redact import Secret

KIND: Final = "infobip"
MAX_REPORTS: Final = 100  # Infobip's default bucket size (`maxBucketSize` can change it)

# providers-3.md §1.3: the names Infobip's pages show, each with the status its group and finality give.
STATUSES: Final[Mapping[str, Status]] = {
    # group 1 PENDING: intermediate, a final status follows
    "PENDING_WAITING_DELIVERY": Status.UNKNOWN,
    "PENDING_ENROUTE": Status.UNKNOWN,
    "PENDING_ACCEPTED": Status.UNKNOWN,
    # group 2 UNDELIVERABLE: final
    "UNDELIVERABLE_REJECTED_OPERATOR": Status.UNDELIVERED,
    "UNDELIVERABLE_NOT_DELIVERED": Status.UNDELIVERED,
    # group 3 DELIVERED: id 2 is intermediate (reached the operator, not the handset), id 5 final
    "DELIVERED_TO_OPERATOR": Status.UNKNOWN,
    "DELIVERED_TO_HANDSET": Status.DELIVERED,
    # group 4 EXPIRED: final; id 29 says the outcome is unknown
    "EXPIRED_EXPIRED": Status.UNDELIVERED,
    "EXPIRED_DLR_UNKNOWN": Status.UNKNOWN,
    # group 5 REJECTED: final
    **{name: Status.UNDELIVERED for name in (
        "REJECTED_NETWORK", "REJECTED_PREFIX_MISSING", "REJECTED_DND", "REJECTED_SOURCE",
        "REJECTED_NOT_ENOUGH_CREDITS", "REJECTED_SENDER", "REJECTED_DESTINATION",
        "REJECTED_PREPAID_PACKAGE_EXPIRED", "REJECTED_DESTINATION_NOT_REGISTERED", "REJECTED_ROUTE_NOT_AVAILABLE",
        "REJECTED_FLOODING_FILTER", "REJECTED_SYSTEM_ERROR", "REJECTED_DUPLICATE_MESSAGE_ID", "REJECTED_INVALID_UDH",
        "REJECTED_MESSAGE_TOO_LONG", "REJECTED_NOT_SENT", "MISSING_TO",
    )},
}
# Groups whose every status is final and not delivered: a name Infobip adds there is undelivered too.
UNDELIVERED_GROUPS: Final = {"2": "UNDELIVERABLE", "5": "REJECTED"}


class InfobipSettings(InstanceSettings):
    """One Infobip account's DLR and MO pushes: the URL token, and Basic credentials if the profile sends them."""

    kind: Literal["infobip"] = "infobip"
    url_token: UrlToken
    basic_username: Secret | None = None
    basic_password: Secret | None = None
    max_reports: Annotated[int, Field(ge=1, le=10_000)] = MAX_REPORTS

    @model_validator(mode="after")
    def _both_basic_or_neither(self) -> InfobipSettings:
        if (self.basic_username is None) != (self.basic_password is None):
            raise ValueError("basic_username and basic_password go together")
        if self.basic_username is not None and ":" in self.basic_username.reveal():
            raise ValueError("basic_username must not contain ':' (RFC 7617)")
        return self


def status_of(name: str, group_id: str | None, group_name: str | None) -> Status:
    """The neutral status of an Infobip status name, its group deciding only for the final failure groups."""
    if name in STATUSES:
        return STATUSES[name]
    group = UNDELIVERED_GROUPS.get(group_id or "")
    if group is None and group_id is None and group_name is not None:
        group = next((g for g in UNDELIVERED_GROUPS.values() if g == group_name.strip().upper()), None)
    return Status.UNDELIVERED if group is not None else Status.UNKNOWN


class InfobipProvider(SchemeProvider[InfobipSettings]):
    """Infobip SMS delivery reports and inbound messages for one account."""

    kind: ClassVar[str] = KIND
    title: ClassVar[str] = "Infobip SMS"
    settings_model: ClassVar[type[InstanceSettings]] = InfobipSettings
    media_types: ClassVar[Mapping[str, BodyKind]] = {JSON: "json"}
    statuses: ClassVar[Mapping[str, Status]] = STATUSES
    finality: ClassVar[Mapping[str, bool]] = finality(STATUSES, intermediate=(
        "PENDING_WAITING_DELIVERY", "PENDING_ENROUTE", "PENDING_ACCEPTED", "DELIVERED_TO_OPERATOR"))
    samples: ClassVar[Sequence[Sample]] = (
        Sample("dr", EventType.DELIVERY_RECEIPT, "a delivery report push (the SDK's v3 sample)", dr_sample),
        Sample("dr-v2", EventType.DELIVERY_RECEIPT, "a delivery report push (the docs' v2 sample)", dr_v2_sample),
        Sample("mo", EventType.INBOUND_MESSAGE, "an inbound message push (MO_JSON_2, the SDK's sample)", mo_sample),
    )
    dev_instance: ClassVar[dict[str, Any]] = {
        "source": "/sms/infobip/dev",
        "url_token": "${INFOBIP_URL_TOKEN:-dev-infobip-token-0123456789}",
        "basic_username": "${INFOBIP_BASIC_USERNAME:-infobip-dev}",
        "basic_password": "${INFOBIP_BASIC_PASSWORD:-dev-infobip-password-0123}",
    }

    def __init__(self, settings: InfobipSettings, clock: Clock) -> None:
        self.settings = settings
        user, password = settings.basic_username, settings.basic_password
        self._basic = user is not None and password is not None
        token = UrlTokenScheme(settings.url_token)
        self.scheme = AllOf(token, BasicAuthScheme(user, password)) if user and password else token

    def parse(self, verified: Verified) -> Parsed:
        document = load_json(verified.raw.body)
        if not isinstance(document, dict):
            raise MalformedCallbackError("wrong_shape", "body must be a JSON object with results")
        results = document.get("results")
        if not isinstance(results, list) or not results:
            raise MalformedCallbackError("wrong_shape", "results: must be a non-empty array")
        if len(results) > self.settings.max_reports:
            raise MalformedCallbackError("too_many_reports", f"results: more than {self.settings.max_reports} reports")
        envelope = {k: v for k, v in document.items() if k != "results"}
        if "messageCount" in envelope:
            envelope["messageCount"] = 1
        items: list[DeliveryReceipt | InboundMessage | BadReport] = []
        for index, report in enumerate(results):
            try:
                items.append(self._item(report, index, verified))
            except MalformedCallbackError as error:
                alone = orjson.dumps({"results": [report], **envelope})  # the report in its own envelope
                items.append(BadReport(index, report, error, alone))
        return items

    def _item(self, report: Any, index: int, verified: Verified) -> DeliveryReceipt | InboundMessage:
        where = f"results[{index}]."
        if not isinstance(report, dict):
            raise MalformedCallbackError("wrong_shape", f"results[{index}]: must be an object")
        if "status" in report:
            return self._receipt(report, where, verified)
        if "text" in report:
            return self._inbound(report, where, verified)
        raise MalformedCallbackError("wrong_shape", f"results[{index}]: neither a delivery report (status) "
                                                    "nor an inbound message (text)")

    def _receipt(self, report: dict[str, Any], where: str, verified: Verified) -> DeliveryReceipt:
        message_id = identifier(report, "messageId", where=where)
        status = _object(report, "status", where)
        name = identifier(status, "name", where=f"{where}status.")
        group_id = optional_text(status, "groupId", where=f"{where}status.")
        group_name = optional_text(status, "groupName", where=f"{where}status.")
        to = self.phone(identifier(report, "to", where=where), international=True)  # digits without +
        sender = optional_text(report, "sender", where=where) or optional_text(report, "from", where=where)
        occurred_at, provider_time = self._time(report, "doneAt", where, verified)
        return DeliveryReceipt(
            provider=KIND,
            message_id=message_id,
            status=status_of(name, group_id, group_name),
            # a name not in the table is final only in a final failure group (2 UNDELIVERABLE, 5 REJECTED)
            final=self.finality.get(name, status_of(name, group_id, group_name) is Status.UNDELIVERED),
            status_code=name,
            status_detail=self._detail(report, status, where),
            to=to.number,
            region=to.region,
            from_=self.phone(sender, international=True).number if sender else None,
            occurred_at=occurred_at,
            received_at=verified.raw.received_at,
            provider_time=provider_time,
            segments=self._segments(report, ("messageCount", "smsCount"), where),
            price=_price(report, where),
            raw=report,
        )

    def _inbound(self, report: dict[str, Any], where: str, verified: Verified) -> InboundMessage:
        message_id = identifier(report, "messageId", where=where)
        sender = self.phone(identifier(report, "from", where=where), international=True)  # the record key
        receiver = optional_text(report, "to", where=where)
        occurred_at, provider_time = self._time(report, "receivedAt", where, verified)
        return InboundMessage(
            provider=KIND,
            message_id=message_id,
            from_=sender.number,
            region=sender.region,
            to=self.phone(receiver, international=True).number if receiver else None,
            text=text_field(report, "text", where=where),
            occurred_at=occurred_at,
            received_at=verified.raw.received_at,
            provider_time=provider_time,
            segments=self._segments(report, ("smsCount",), where),
            price=_price(report, where),
            raw=report,
        )

    @staticmethod
    def _time(report: dict[str, Any], name: str, where: str, verified: Verified) -> tuple[datetime, bool]:
        """The report's own time (ISO 8601 with `±HHMM` or `±HH:MM`), else when it was received (kept out of the id)."""
        text = optional_text(report, name, where=where)
        if text is None:
            return verified.raw.received_at, False
        return iso_time(text, where=f"{where}{name}"), True

    @staticmethod
    def _detail(report: dict[str, Any], status: dict[str, Any], where: str) -> str | None:
        """The error's description when the report carries a real error (id not 0), else the status's."""
        error = report.get("error")
        if isinstance(error, dict) and optional_text(error, "id", where=f"{where}error.") not in (None, "0"):
            detail = optional_text(error, "description", where=f"{where}error.")
            if detail:
                return detail
        return optional_text(status, "description", where=f"{where}status.") or None

    @staticmethod
    def _segments(report: dict[str, Any], names: tuple[str, ...], where: str) -> int | None:
        name = next((n for n in names if report.get(n) is not None), names[0])  # v3 name first, then v2
        return count(optional_text(report, name, where=where), where=f"{where}{name}")

    def accepted(self, verified: Verified) -> Reply:
        return EMPTY_OK

    def rejected(self, error: CallbackError) -> Reply:
        reply = text_refusal(error)
        if self._basic and error.status == 401:
            headers = {**reply.headers, "WWW-Authenticate": 'Basic realm="sms-bridge", charset="UTF-8"'}
            return Reply(reply.status, reply.body, reply.media_type, headers)
        return reply



def _object(record: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = record.get(name)
    if not isinstance(value, dict):
        raise MalformedCallbackError("invalid_field", f"{where}{name}: must be an object")
    return value


def _price(report: dict[str, Any], where: str) -> str | None:
    """`price.pricePerMessage` (a JSON number) as a plain decimal string, never a float."""
    price = report.get("price")
    if price is None:
        return None
    if not isinstance(price, dict):
        raise MalformedCallbackError("invalid_field", f"{where}price: must be an object")
    return json_decimal(price, "pricePerMessage", where=f"{where}price.")
