"""Infobip's documented callbacks (providers-3.md §1.1, §1.2) as `send`, `dev` and the tests post them."""

from __future__ import annotations

from typing import Final

import orjson

from bridge.providers.samples import time_text

INFOBIP_TIME: Final = "%Y-%m-%dT%H:%M:%S.000+0000"  # `yyyy-MM-dd'T'HH:mm:ss.SSSZ`, as the docs' samples write it


def _message_id(now: float) -> str:
    return f"{int(now * 1000) % 10**18:018d}"


def dr_sample(now: float) -> bytes:
    """The SDK's v3 delivery report (providers-3.md §1.1 Sample 2), its message id and times from `now`."""
    return orjson.dumps({"results": [{
        "bulkId": "BULK-ID-123-xyz",
        "price": {"pricePerMessage": 0.01, "currency": "EUR"},
        "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET",
                   "description": "Message delivered to handset"},
        "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "description": "No Error",
                  "permanent": False},
        "messageId": f"MESSAGE-ID-{_message_id(now)}", "to": "41793026727", "sender": "InfoSMS",
        "sentAt": time_text(now - 5, INFOBIP_TIME), "doneAt": time_text(now, INFOBIP_TIME), "messageCount": 1,
        "platform": {"entityId": "promotional-traffic-entity", "applicationId": "marketing-automation-application"},
    }]})


def dr_v2_sample(now: float) -> bytes:
    """The docs' v2 delivery report (§1.1 Sample 1, its first report), its message id and times from `now`."""
    [v3] = orjson.loads(dr_sample(now))["results"]
    v2 = {k: v3[k] for k in ("bulkId", "messageId", "to", "sentAt", "doneAt")}
    v2 |= {"smsCount": 1, "callbackData": "callbackData", "price": v3["price"], "status": v3["status"],
           "error": {**v3["error"], "groupName": "Ok"}, **v3["platform"]}  # v2 writes "Ok"; platform is top level
    return orjson.dumps({"results": [v2]})


def mo_sample(now: float) -> bytes:
    """The SDK's MO_JSON_2 inbound message (§1.2), its message id and time from `now`."""
    return orjson.dumps({"results": [{
        "messageId": _message_id(now), "from": "385916242493", "to": "385921004026",
        "text": "QUIZ Correct answer is Paris", "cleanText": "Correct answer is Paris", "keyword": "QUIZ",
        "receivedAt": time_text(now, INFOBIP_TIME), "smsCount": 1,
        "price": {"pricePerMessage": 0.00, "currency": "EUR"}, "callbackData": "callbackData",
    }], "messageCount": 1, "pendingMessageCount": 0})
