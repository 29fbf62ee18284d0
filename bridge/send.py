"""`bridge send`: build a correctly signed provider callback and post it to a running bridge."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Final

import orjson

from bridge.providers.nxcloud import DID_BIZ_TYPE, signature

CST: Final = timezone(timedelta(hours=8))


def _now_local() -> str:
    return datetime.now(CST).strftime("%Y-%m-%d %H:%M:%S")


def sample_body(kind: str, action: str = "dr") -> bytes:
    """The seeds' sample callbacks, with the time set to now (UTC+8) so they look fresh."""
    now = _now_local()
    if kind == "tencent" and action == "reply":
        return orjson.dumps(
            {
                "extend": "",
                "mobile": "13800138000",
                "nationcode": "86",
                "sign": "Demo",
                "text": "hello from a test",
                "time": int(time.time()),
            }
        )
    if kind == "tencent":
        return orjson.dumps(
            [
                {
                    "user_receive_time": now,
                    "nationcode": "86",
                    "mobile": "13800138000",
                    "report_status": "SUCCESS",
                    "errmsg": "DELIVRD",
                    "description": "The SMS message is successfully delivered",
                    "sid": f"2019:{int(time.time() * 1000)}",
                }
            ]
        )
    if action == "mo":
        return orjson.dumps(
            {
                "messageId": f"mo{int(time.time() * 1000)}",
                "type": "0",
                "toPhone": "12347200160",
                "fromPhone": "18184505018",
                "content": "hello STOP",
                "size": "1",
                "price": "0.0000",
                "receiveTime": now,
                "smsStatus": "DELIVRD",
            }
        )
    return nxcloud_receipt_body(f"dr{int(time.time() * 1000)}", "18184505018", now)


def nxcloud_receipt_body(message_id: str, to_phone: str, receive_time: str) -> bytes:
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


@dataclass(frozen=True)
class Outgoing:
    """A request ready to post."""

    url: str
    headers: dict[str, str]
    body: bytes


def nxcloud_request(
    url: str,
    body: bytes,
    *,
    access_key: str,
    secret: str,
    action: str,
    algorithm: str = "md5",
    ts_ms: int | None = None,
    biz_type: str = DID_BIZ_TYPE,
) -> Outgoing:
    """A signed NxCloud DID callback (headers as NxCloud sends them, lower-case)."""
    ts = str(ts_ms if ts_ms is not None else int(time.time() * 1000))
    signed = {"accessKey": access_key, "action": action, "bizType": biz_type, "ts": ts}
    headers = {
        "accesskey": access_key,
        "action": action,
        "biztype": biz_type,
        "ts": ts,
        "sign": signature(signed, body, secret, algorithm),
        "content-type": "application/json",
    }
    if algorithm != "md5":
        headers["algorithm"] = algorithm
    return Outgoing(url, headers, body)


def tencent_request(url: str, body: bytes) -> Outgoing:
    """A Tencent callback: the secret travels in the URL, nothing is signed."""
    return Outgoing(url, {"content-type": "application/json"}, body)


def post(request: Outgoing, timeout: float = 15.0) -> tuple[int, bytes]:
    """POST it; returns (status, body) whatever the status."""
    req = urllib.request.Request(request.url, data=request.body, headers=request.headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())
