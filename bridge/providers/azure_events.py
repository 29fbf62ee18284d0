"""Event Grid envelopes of ACS SMS events: the documented samples in both schemas, the control events
(subscription validation and deletion) and their replies, and `data` read case-insensitively.

Event Grid schema: `{id, topic, subject, data, eventType, dataVersion, metadataVersion, eventTime}` in
a JSON array; CloudEvents 1.0: `{id, source, subject, data, type, time, specversion}`, one per request or
an array with batching (providers-3.md §4.1, §4.4). ACS has written `data` keys in camelCase and in
PascalCase (`"Tag"` even in the camelCase sample), so they are compared in lower case.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from bridge.errors import MalformedCallbackError, MalformedReason
from bridge.providers.base import JSON, Reply
from bridge.providers.common import load_json
from bridge.providers.replies import EMPTY_OK
from bridge.providers.samples import time_text, uuid_at

DELIVERY_REPORT: Final = "Microsoft.Communication.SMSDeliveryReportReceived"
SMS_RECEIVED: Final = "Microsoft.Communication.SMSReceived"
VALIDATION: Final = "Microsoft.EventGrid.SubscriptionValidationEvent"
DELETION: Final = "Microsoft.EventGrid.SubscriptionDeletedEvent"
CONTROL_PREFIX: Final = "Microsoft.EventGrid."
TOPIC: Final = ("/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/resourcegroups/acse2e/providers/"
                "microsoft.communication/communicationservices/acs-dev")


def ticks(now: float) -> str:
    """`now` as ACS writes `receivedTimestamp`: UTC with seven fractional digits (.NET ticks)."""
    return time_text(now, "%Y-%m-%dT%H:%M:%S") + f".{round(now % 1 * 10**7) % 10**7:07d}Z"


def sample_data(now: float, delivery: bool) -> dict[str, Any]:
    """The documented `data` of each event (providers-3.md §4.1), ids and times set from `now`."""
    stamp = time_text(now, "%Y%m%d%H%M%S")
    if delivery:
        return {"messageId": f"Outgoing_{stamp}{uuid_at('8813a09b-0cbf-4304-9b03', now)}", "from": "15555555555",
                "to": "+15555555555", "deliveryStatus": "Delivered", "deliveryStatusDetails": "No error.",
                "receivedTimestamp": ticks(now), "deliveryAttempts": [
                    {"timestamp": ticks(now - 5.354), "segmentsSucceeded": 1, "segmentsFailed": 0}],
                "Tag": "Optional customer-tag set in the original message"}
    return {"messageId": f"Incoming_{stamp}{uuid_at('d29ebbea-3341-4466-9690', now)}", "from": "15555555555",
            "to": "15555555555", "message": "Great to connect with Azure Communication Services events",
            "receivedTimestamp": ticks(now - 2), "segmentCount": 1}


def event_grid(now: float, delivery: bool) -> bytes:
    data = sample_data(now, delivery)
    return orjson.dumps([{"id": data["messageId"], "topic": TOPIC, "subject": "/phonenumber/15555555555",
                          "data": data, "eventType": DELIVERY_REPORT if delivery else SMS_RECEIVED,
                          "dataVersion": "1.0", "metadataVersion": "1",
                          "eventTime": time_text(now, "%Y-%m-%dT%H:%M:%SZ")}])


def cloud_event(now: float, delivery: bool) -> bytes:
    data = sample_data(now, delivery)
    return orjson.dumps({"id": data["messageId"], "source": TOPIC, "subject": "/phonenumber/15555555555",
                         "data": data, "type": DELIVERY_REPORT if delivery else SMS_RECEIVED,
                         "time": time_text(now, "%Y-%m-%dT%H:%M:%SZ"), "specversion": "1.0"})


def lower_keys(node: Any, where: str) -> dict[str, Any]:
    """`data` with its keys in lower case: ACS has sent both camelCase and PascalCase keys (§4.1)."""
    if not isinstance(node, dict):
        reason: MalformedReason = "missing_field" if node is None else "wrong_shape"
        raise MalformedCallbackError(reason, f"{where}data: must be an object")
    return {str(k).lower(): v for k, v in node.items()}


def _type(event: dict[str, Any]) -> Any:
    return event.get("eventType", event.get("type"))


def control_reply(body: bytes) -> Reply | None:
    """The reply to a body of Event Grid control events only: `{"validationResponse": <validationCode>}` (200)
    for a SubscriptionValidationEvent, an empty 200 for SubscriptionDeletedEvent; None for anything else."""
    if CONTROL_PREFIX.encode() not in body:
        return None
    try:
        document = load_json(body)
    except MalformedCallbackError:
        return None  # parse() dead-letters it
    events = document if isinstance(document, list) else [document]
    if not events or not all(isinstance(e, dict) and str(_type(e)).startswith(CONTROL_PREFIX) for e in events):
        return None
    for event in events:
        data = event.get("data")
        code = data.get("validationCode") if isinstance(data, dict) else None
        if _type(event) == VALIDATION and isinstance(code, str):
            return Reply(200, orjson.dumps({"validationResponse": code}), JSON)
    if all(_type(e) == DELETION for e in events):
        return EMPTY_OK
    return None
